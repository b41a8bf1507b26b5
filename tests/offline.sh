#!/usr/bin/env bash
# A classroom with no network: every lab's images go into one archive (`opslab images export`),
# every opslab image is removed from the engine, the archive is loaded in a network namespace of
# its own (`unshare -n`: no route anywhere, so no registry, no debootstrap), after which nothing
# is missing, nothing is rebuilt, and a lab starts and is graded. Prints the archive's size and
# the export and import times. Run it when no opslab session is running (after the other stages).
set -euo pipefail
cd "$(dirname "$0")/.."
OPSLAB=${OPSLAB:-$PWD/target/debug/opslab}
archive=target/offline/opslab-images.tar
mkdir -p target/offline
fail() { echo "offline round trip: $*" >&2; exit 1; }

if [ -n "$(docker ps -aq --filter label=opslab.session)" ]; then
  fail "opslab containers are running; this test removes every opslab image"
fi
"$OPSLAB" images build >/dev/null
t0=$(date +%s.%N)
"$OPSLAB" images export "$archive"
t1=$(date +%s.%N)
size=$(stat -c %s "$archive")

# Every opslab image out of the engine: the lab images (label opslab.image) and the base.
mapfile -t ids < <( (docker images -q --filter label=opslab.image; docker images -q opslab/debian) | sort -u)
[ ${#ids[@]} -gt 0 ] || fail "no opslab image to remove"
docker rmi -f "${ids[@]}" >/dev/null
left=$( (docker images -q --filter label=opslab.image; docker images -q opslab/debian) | wc -l)
[ "$left" -eq 0 ] || fail "$left opslab image(s) still in the engine"
if "$OPSLAB" images list | grep -q ' present$'; then fail "images still listed as present"; fi

t2=$(date +%s.%N)
unshare --net -- "$OPSLAB" images import "$archive"
t3=$(date +%s.%N)
if "$OPSLAB" images list | grep ' missing$'; then fail "images missing after the import"; fi

# A lab starts from the imported images alone (nothing built) and is graded.
lab=sprint-restore
"$OPSLAB" stop --session "$lab-offline" >/dev/null 2>&1 || true
"$OPSLAB" start "$lab" --trainee offline >/dev/null 2>target/offline/start.txt
if grep -q 'building images' target/offline/start.txt; then
  "$OPSLAB" stop --session "$lab-offline" >/dev/null 2>&1 || true
  fail "start built images after the import: $(cat target/offline/start.txt)"
fi
rc=0
"$OPSLAB" check --session "$lab-offline" >target/offline/check.txt || rc=$?
"$OPSLAB" stop --session "$lab-offline" >/dev/null
[ "$rc" -le 1 ] || fail "grading after the import exited $rc: $(cat target/offline/check.txt)"
grep -q '^score ' target/offline/check.txt || fail "no score after the import"
rm -f "$archive"
awk -v s="$size" -v e="$(awk -v a="$t0" -v b="$t1" 'BEGIN{print b-a}')" -v i="$(awk -v a="$t2" -v b="$t3" 'BEGIN{print b-a}')" \
  'BEGIN { printf "offline round trip: archive %.0f MiB, export %.1f s, import %.1f s (no network); a lab started and graded after it\n", s / 1048576, e, i }'
