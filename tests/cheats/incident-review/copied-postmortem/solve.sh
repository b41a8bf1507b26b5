#!/bin/bash
# Shortcut attempt: the post-mortem of another trainee of the class, handed in word for word
# (times, failed requests, commit, setting and ticket of THEIR incident), filed and published
# honestly otherwise; no guard, no alert.
# The facts differ per trainee: the timeline and the trigger must fail.
set -euo pipefail
cd "$(dirname "$0")"
PM=copied GUARD=none ALERT=none exec bash ./reference/solve.sh
