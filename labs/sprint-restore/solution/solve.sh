#!/bin/bash
# Reference solution of sprint-restore, run as trainee on the workstation from its own folder:
# commits the rollback automation to /srv/ops, then uses it to put the sprint before the latest
# (bad) release back into production.
set -euo pipefail
cd "$(dirname "$0")"

ops=/srv/ops
mkdir -p "$ops/down"
install -m 0644 ops/Makefile "$ops/Makefile"
install -m 0755 ops/rollback.sh "$ops/rollback.sh"
install -m 0644 ops/down/003.sql ops/down/004.sql "$ops/down/"
git -C "$ops" add Makefile rollback.sh down
if ! git -C "$ops" diff --cached --quiet; then
    git -C "$ops" -c user.name=Trainee -c user.email=trainee@shop.example commit -q -m "make rollback SPRINT=n: release, configuration and schema of a sprint, data kept"
fi

# the latest release is the bad one; the sprint before it is the one to restore
sprints=$(ssh -n -o BatchMode=yes deploy@prod "awk '{print \$1}' /srv/releases/index" | sort -n)
target=$(tail -n 2 <<<"$sprints" | head -n 1)
make -C "$ops" rollback SPRINT="$target"
