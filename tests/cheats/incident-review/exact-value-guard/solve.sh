#!/bin/bash
# Shortcut attempt: a pipeline guard that refuses only the incident's exact value of the setting;
# the grader's developer pushes another too-small value, drawn at grading time.
# Post-mortem and tracker as the reference solution; no alert.
set -euo pipefail
cd "$(dirname "$0")"
GUARD=exact ALERT=none exec bash ./reference/solve.sh
