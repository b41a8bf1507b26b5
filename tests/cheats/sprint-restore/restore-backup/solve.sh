#!/bin/bash
# Shortcut: the "rollback" restores the backup taken at the end of the sprint over the live
# database, then deploys that sprint. Version, configuration and schema come back, but every
# record written since the backup (customers' and the grader's) is lost: must score below pass.
set -euo pipefail
ops=/srv/ops
cat > "$ops/Makefile" <<'MK'
SPRINT ?=
rollback:
	ssh -n -o BatchMode=yes deploy@prod 'set -a; . /etc/shop/db.env; set +a; sudo sv stop shop >/dev/null; pg_restore --clean --if-exists --no-owner -d "$$SHOP_DB" /srv/backups/shop-sprint-$(SPRINT).dump && sudo shop-deploy $(SPRINT)'
MK
git -C "$ops" add Makefile
git -C "$ops" diff --cached --quiet || git -C "$ops" -c user.name=T -c user.email=t@x commit -q -m rollback
target=$(ssh -n -o BatchMode=yes deploy@prod "awk '{print \$1}' /srv/releases/index" | sort -n | tail -n 2 | head -n 1)
make -C "$ops" rollback SPRINT="$target"
