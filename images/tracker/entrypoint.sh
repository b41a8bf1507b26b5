#!/bin/sh
# The tracker's start: a cookie secret of this container's own, the seed's roles and keys written
# into the database, then puma in front (as www-data) while the seed's project, members, sprints,
# backlog and wiki go in through the REST API. tracker-ready answers only once that is done; a
# seed that cannot be applied stops the container, with the reason in its log.
set -eu
SEED=${TRACKER_SEED:-/etc/tracker/seed.json}
SECRET=/etc/redmine/default/secret_key.txt
rm -f /run/tracker/seeded
install -d -o www-data -g www-data -m 0755 /run/tracker /var/cache/redmine/default/tmp
if [ ! -s "$SECRET" ]; then
  head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$SECRET"
  chown root:www-data "$SECRET"
  chmod 0640 "$SECRET"
fi
[ -r "$SEED" ] || { echo "tracker: no seed at $SEED" >&2; exit 1; }
python3 /usr/local/lib/tracker/seed.py prepare "$SEED"
chown www-data:www-data /var/lib/dbconfig-common/sqlite3/redmine/instances/default/redmine_default
cd /usr/share/redmine
setpriv --reuid=www-data --regid=www-data --init-groups env HOME=/tmp \
  bundle exec puma -C /etc/tracker/puma.rb &
puma=$!
trap 'kill -TERM $puma 2>/dev/null' TERM INT
if ! python3 /usr/local/lib/tracker/seed.py apply "$SEED"; then
  kill -TERM $puma 2>/dev/null
  wait $puma || true
  exit 1
fi
# wait returns early when a signal is trapped: wait again for puma's own exit.
rc=0
wait $puma || rc=$?
while kill -0 $puma 2>/dev/null; do wait $puma || rc=$?; done
exit $rc
