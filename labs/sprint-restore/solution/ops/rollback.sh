#!/bin/bash
# rollback.sh SPRINT: puts the shop of sprint SPRINT back into production without losing data.
#  1. finds the sprint's release in /srv/releases/index on prod, and the migrations it contains;
#  2. undoes, newest first and in one transaction, every applied migration that the release does
#     not contain, with the down scripts of down/ (they convert the data, they never drop rows);
#  3. deploys the sprint's release and tagged configuration with the company's deploy tool;
#  4. checks that production answers with the sprint's version and serves the items.
set -euo pipefail

sprint="${1:-}"
[[ "$sprint" =~ ^[0-9]+$ ]] || { echo "usage: rollback.sh SPRINT" >&2; exit 2; }
here="$(cd "$(dirname "$0")" && pwd)"
PROD="${PROD:-deploy@prod}"
host="${PROD#*@}"
prod() { ssh -n -o BatchMode=yes -o ConnectTimeout=10 "$PROD" "$@"; }

line=$(prod "awk -v s='$sprint' '\$1 == s' /srv/releases/index")
[ -n "$line" ] || { echo "rollback: no release for sprint $sprint on $host" >&2; exit 1; }
read -r _ version artifact _ <<<"$line"
echo "rollback: sprint $sprint is shop $version ($artifact)"

# migrations of the target release, as numbers
wanted=$(prod "tar -tzf /srv/releases/$artifact" \
    | sed -n 's#^[^/]*/migrations/\([0-9][0-9]*\)_[^/]*\.sql$#\1#p' | sed 's/^0*//' | sort -n)
# migrations applied to the live database, newest first
applied=$(prod 'set -a; . /etc/shop/db.env; set +a; psql -qAtX "$SHOP_DB" -c "SELECT version FROM schema_migrations ORDER BY version DESC"')

down_sql=$(mktemp)
trap 'rm -f "$down_sql"' EXIT
undo=()
for v in $applied; do
    grep -qx "$v" <<<"$wanted" && continue
    f="$here/down/$(printf '%03d' "$v").sql"
    [ -f "$f" ] || { echo "rollback: no down script $f for migration $v: nothing changed" >&2; exit 1; }
    cat "$f" >> "$down_sql"
    undo+=("$v")
done

if [ "${#undo[@]}" -gt 0 ]; then
    echo "rollback: undoing migrations ${undo[*]}"
    # stop the shop so that no request sees a half-changed schema
    prod 'sudo sv stop shop >/dev/null'
    ssh -o BatchMode=yes -o ConnectTimeout=10 "$PROD" \
        'set -a; . /etc/shop/db.env; set +a; psql -qX -v ON_ERROR_STOP=1 --single-transaction "$SHOP_DB"' < "$down_sql" || {
        echo "rollback: down migration failed, nothing changed; restarting the shop" >&2
        prod 'sudo sv start shop >/dev/null' || true
        exit 1
    }
fi

prod "sudo shop-deploy $sprint"

for _ in $(seq 1 30); do
    live=$(curl -fsS -m 3 "http://$host/version" 2>/dev/null || true)
    if [ "$live" = "$version" ] && curl -fsS -m 3 -o /dev/null "http://$host/api/items"; then
        echo "rollback: production serves sprint $sprint (shop $version)"
        exit 0
    fi
    sleep 1
done
echo "rollback: production does not serve shop $version" >&2
exit 1
