#!/bin/bash
# Shortcut: the rollback only redeploys the sprint's release and configuration with the deploy
# tool and leaves the database schema as the bad release left it: the previous code cannot read
# the items; must score below pass.
set -euo pipefail
ops=/srv/ops
cat > "$ops/Makefile" <<'MK'
SPRINT ?=
rollback:
	ssh -n -o BatchMode=yes deploy@prod 'sudo shop-deploy $(SPRINT)'
MK
git -C "$ops" add Makefile
git -C "$ops" diff --cached --quiet || git -C "$ops" -c user.name=T -c user.email=t@x commit -q -m rollback
target=$(ssh -n -o BatchMode=yes deploy@prod "awk '{print \$1}' /srv/releases/index" | sort -n | tail -n 2 | head -n 1)
make -C "$ops" rollback SPRINT="$target"
