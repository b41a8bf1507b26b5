#!/bin/bash
# Shortcut attempt: an alert with the on-call labels that is always true (vector(1)): on-call is
# "paged" whatever happens, so also while the shop is healthy.
# Post-mortem and tracker as the reference solution; no guard.
set -euo pipefail
cd "$(dirname "$0")"
ALERT=always GUARD=none exec bash ./reference/solve.sh
