#!/bin/bash
# Shortcut: the bad release stays, but its configuration pretends to be the previous version
# (SHOP_VERSION) and turns search back on; the "rollback" does the same. Schema, configuration
# and the item list stay broken: must score below pass. The configuration is root's (issue 10):
# deploy's edit is refused, and the attempt goes on as a trainee's would.
set -euo pipefail
ops=/srv/ops
cat > "$ops/fake.sh" <<'SH'
#!/bin/bash
set -euo pipefail
sprint=$1
version=$(ssh -n -o BatchMode=yes deploy@prod "awk -v s=$sprint '\$1 == s {print \$2}' /srv/releases/index")
ssh -n -o BatchMode=yes deploy@prod "sed '/^SHOP_VERSION=/d; s/^SHOP_FEATURES=.*/SHOP_FEATURES=search/' /etc/shop/shop.env > /tmp/shop.env && echo SHOP_VERSION=$version >> /tmp/shop.env && { cat /tmp/shop.env > /etc/shop/shop.env || echo 'fake-version: /etc/shop/shop.env is not writable' >&2; } && sudo sv restart shop"
SH
cat > "$ops/Makefile" <<'MK'
SPRINT ?=
rollback:
	bash ./fake.sh $(SPRINT)
MK
git -C "$ops" add Makefile fake.sh
git -C "$ops" diff --cached --quiet || git -C "$ops" -c user.name=T -c user.email=t@x commit -q -m rollback
target=$(ssh -n -o BatchMode=yes deploy@prod "awk '{print \$1}' /srv/releases/index" | sort -n | tail -n 2 | head -n 1)
make -C "$ops" rollback SPRINT="$target"
