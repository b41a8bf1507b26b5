#!/bin/bash
# Shortcut attempt: the action items filed as bare titles, without owner, sprint or acceptance
# criteria, and not linked from the post-mortem (its action_items left empty); everything else
# as the reference solution but the guard and the alert.
set -euo pipefail
cd "$(dirname "$0")"
ITEMS=bare GUARD=none ALERT=none exec bash ./reference/solve.sh
