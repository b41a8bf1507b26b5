#!/usr/bin/env bash
# Proves every lab: `opslab selftest LAB --runs 2` (untouched below the pass mark, reference
# solution at full marks, twice), and every shortcut attempt of tests/cheats/LAB/ must score
# below the pass mark and fail each check it targets (`opslab selftest LAB --attempt DIR`).
#
# Each of these is an independent job with its own session; they mostly wait on the labs'
# systems (holds, alert windows, simulated users), so LABS_JOBS of them run side by side
# (default 3), the longest first, while their sessions start one at a time (OPSLAB_START_SLOTS,
# default 1: bringing a lab's services up is what loads the machine). Prints each job's log;
# exits non-zero if any job failed.
set -euo pipefail
cd "$(dirname "$0")/.."
OPSLAB=${OPSLAB:-target/debug/opslab}
JOBS=${LABS_JOBS:-3}
export OPSLAB_START_SLOTS=${OPSLAB_START_SLOTS:-1}
ONLY=${1:-}
logs=$(mktemp -d -t opslab-labs.XXXXXX)
mkdir -p target

# One job per line: "name<TAB>command...". The selftests first: they are the longest.
jobs=()
for d in labs/*/lab.toml; do
  lab=$(basename "$(dirname "$d")")
  [ -n "$ONLY" ] && [ "$lab" != "$ONLY" ] && continue
  jobs+=("$lab selftest|$OPSLAB selftest $lab --runs 2 --junit target/selftest-$lab.xml")
done
for d in labs/*/lab.toml; do
  lab=$(basename "$(dirname "$d")")
  [ -n "$ONLY" ] && [ "$lab" != "$ONLY" ] && continue
  for attempt in "tests/cheats/$lab"/*/; do
    [ -f "$attempt/solve.sh" ] || continue
    name="$lab attempt $(basename "$attempt")"
    jobs+=("$name|$OPSLAB selftest $lab --runs 1 --attempt $attempt")
  done
done

run_job() {
  local i=$1 spec=$2 name cmd start rc
  name=${spec%%|*}
  cmd=${spec#*|}
  start=$(date +%s)
  if $cmd >"$logs/$i.log" 2>&1; then rc=0; else rc=$?; fi
  echo "== $name: exit $rc after $(($(date +%s) - start)) s" >>"$logs/$i.log"
  echo "$rc" >"$logs/$i.rc"
  echo "done: $name (exit $rc, $(($(date +%s) - start)) s)"
}

# How many jobs may run now: LABS_JOBS_FILE, when set and holding a number, overrides LABS_JOBS
# as the stage goes (tests/suite.sh raises it once the stage beside the labs has ended).
lanes() {
  local n
  n=$(cat "${LABS_JOBS_FILE:-/nonexistent}" 2>/dev/null || true)
  case "$n" in '' | *[!0-9]* | 0) echo "$JOBS" ;; *) echo "$n" ;; esac
}

started=$(date +%s)
for i in "${!jobs[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$(lanes)" ]; do sleep 2; done
  run_job "$i" "${jobs[$i]}" &
done
wait || true

failed=()
for i in "${!jobs[@]}"; do
  name=${jobs[$i]%%|*}
  echo "=================== $name"
  grep -v '^  [^ ]\|\.\.\.$' "$logs/$i.log" || true
  if [ "$(cat "$logs/$i.rc" 2>/dev/null || echo 1)" != 0 ]; then failed+=("$name"); fi
done
rm -rf "$logs"
echo "${#jobs[@]} job(s) in $(($(date +%s) - started)) s with $JOBS side by side (then $(lanes))"
if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "every lab proved, every shortcut attempt refused"
