#!/usr/bin/env bash
# A classroom with no network: a lab's images go into one archive (`opslab images export`), and a
# machine with no network at all loads it (`opslab images import`), then starts the lab and
# grades it, with nothing missing and nothing built.
#
# The classroom machine is a Docker engine in a container (images/swarm-node) started with
# `--network none`: its only interface is its own loopback, so neither it nor anything it runs
# can reach a registry, Debian's mirrors or the host. It starts with no image at all. opslab
# runs inside it (this build's binary and this checkout, mounted read-only), speaks to its engine
# through the local socket, and probes the lab's published ports on that machine's loopback. The
# host's engine and its images are not touched, so this runs beside the other stages.
#
# Prints the archive's size and the export and import times.
set -euo pipefail
cd "$(dirname "$0")/.."
OPSLAB=${OPSLAB:-$PWD/target/debug/opslab}
LAB=${OFFLINE_LAB:-sprint-restore}
PREFIX=opslab-offline-$$
MARK=opslab.offline-test
WORK=$(mktemp -d -p "$PWD/target" offline.XXXXXX)
fail() { echo "offline round trip: $*" >&2; exit 1; }
cleanup() {
  docker rm -f -v "$PREFIX" >/dev/null 2>&1 || true
  docker volume rm "$PREFIX" >/dev/null 2>&1 || true
  find /sys/fs/cgroup -depth -type d -path "*/$PREFIX*" -exec rmdir {} + 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
docker version >/dev/null 2>&1 || fail "no Docker engine answers: this test needs one"

"$OPSLAB" images build >/dev/null
NODE_IMAGE=$("$OPSLAB" images build swarm-node | awk '$1 == "swarm-node" { print $2 }')
[ -n "$NODE_IMAGE" ] || fail "the engine image (swarm-node) is not built"

t0=$(date +%s.%N)
"$OPSLAB" images export "$WORK/images.tar" "$LAB"
t1=$(date +%s.%N)
size=$(stat -c %s "$WORK/images.tar")

# The classroom machine: an engine with no network, as privileged as the host's engine allows
# (tests/engine-lib.sh, as the swarm test's nodes).
# shellcheck source=tests/engine-lib.sh
. tests/engine-lib.sh
opts=$(engine_container_options)
docker volume create --label "$MARK" "$PREFIX" >/dev/null
# shellcheck disable=SC2086
docker run -d --name "$PREFIX" --hostname classroom --label "$MARK" --network none \
  $opts -v "$PREFIX:/var/lib/docker" \
  -v "$PWD:/opslab:ro" -v "$OPSLAB:/usr/local/bin/opslab:ro" -v "$WORK:/archive:ro" \
  "$NODE_IMAGE" --cgroup-parent "/$PREFIX" >/dev/null
room() { docker exec -w /opslab -e CI -e NO_COLOR=1 "$PREFIX" "$@"; }
for _ in $(seq 1 60); do room docker version >/dev/null 2>&1 && break; sleep 1; done
room docker version >/dev/null 2>&1 || { docker logs "$PREFIX" | tail -20; fail "the classroom's engine did not start"; }

# No network: loopback only, and no way out (a Debian mirror, the host's engine).
# Its interfaces are loopback and the bridges its engine makes; no route leads anywhere else.
[ "$(docker inspect -f '{{.HostConfig.NetworkMode}}' "$PREFIX")" = none ] || fail "the classroom machine has a network"
if room awk 'NR > 1 && $2 == "00000000" { found = 1 } END { exit !found }' /proc/net/route; then
  fail "the classroom machine has a default route"
fi
if room sh -c 'exec 3<>/dev/tcp/deb.debian.org/80' 2>/dev/null; then fail "the classroom machine reaches a Debian mirror"; fi
[ -z "$(room docker images -q)" ] || fail "the classroom's engine starts with images"
before=$(room opslab images list "$LAB" 2>&1 || true)
grep -q ' missing$' <<<"$before" || fail "images list shows nothing missing before the import: $before"

t2=$(date +%s.%N)
room opslab images import /archive/images.tar
t3=$(date +%s.%N)
if room opslab images list "$LAB" | grep ' missing$'; then fail "images missing after the import"; fi

# The lab starts from the imported images alone (nothing built) and is graded.
room opslab start "$LAB" --trainee offline >"$WORK/start.txt" 2>&1 || { cat "$WORK/start.txt"; fail "start failed after the import"; }
if grep -qi 'building\|debootstrap' "$WORK/start.txt"; then
  cat "$WORK/start.txt"
  fail "start built images after the import"
fi
# Graded untouched (below the pass mark), solved, graded again (full marks): the checks act and
# probe there as on a connected machine.
rc=0
room opslab check --session "$LAB-offline" >"$WORK/check.txt" 2>&1 || rc=$?
grep '^score ' "$WORK/check.txt" || { cat "$WORK/check.txt"; fail "no score after the import"; }
[ "$rc" = 1 ] || { cat "$WORK/check.txt"; fail "the untouched lab's grading exited $rc (1: below the pass mark)"; }
room opslab solve --session "$LAB-offline" >"$WORK/solve.txt" 2>&1 || { cat "$WORK/solve.txt"; fail "the solution failed"; }
rc=0
room opslab check --session "$LAB-offline" >"$WORK/check.txt" 2>&1 || rc=$?
grep '^score ' "$WORK/check.txt" || true
room opslab stop --session "$LAB-offline" >/dev/null
[ "$rc" = 0 ] && grep -q '^score \([0-9]*\)/\1 ' "$WORK/check.txt" ||
  { cat "$WORK/check.txt"; fail "the solved lab is not at full marks (exit $rc)"; }
awk -v s="$size" -v e="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" -v i="$(awk -v a="$t2" -v b="$t3" 'BEGIN{print b-a}')" -v l="$LAB" \
  'BEGIN { printf "offline round trip (%s): archive %.0f MiB, export %.1f s, import %.1f s on a machine with no network; the lab started, graded untouched and solved there\n", l, s / 1048576, e, i }'
