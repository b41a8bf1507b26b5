#!/usr/bin/env bash
# Every test of `make test`, with the independent stages side by side:
#
#   1. the debug build (every later stage needs the binary);
#   2. side by side: the images of images/ | lint (fmt, clippy) and the build of the tests;
#   3. side by side: the Rust tests (unit and real-engine), then opslab on a three-node Docker
#      Swarm made of engines in containers (tests/swarm.sh), then the offline classroom round
#      trip (tests/offline.sh, an engine with no network) | every lab's selftests and shortcut
#      attempts (tests/labs.sh), the longest stage, which the other lane fits beside: the labs
#      take one more job at a time once that lane has ended;
#   4. nothing of opslab's left in the engine (tests/leftovers.sh), checked once both are done.
#
# No check is skipped: the stages run what `make lint test-rust test-labs` runs, one after the
# other. Each line of a stage's output carries its name; the figures at the end give each
# stage's time. Exits non-zero if any stage failed, after every stage has ended.
set -euo pipefail
cd "$(dirname "$0")/.."
OPSLAB=target/debug/opslab
SNAPSHOT=target/engine-before-tests.txt
mkdir -p target
times=$(mktemp -t opslab-suite.XXXXXX)
failed=()

# stage NAME COMMAND...: runs COMMAND with its lines prefixed by NAME, records its time.
stage() {
  local name=$1 start rc
  shift
  start=$(date +%s)
  if "$@" > >(sed -u "s/^/[$name] /") 2>&1; then rc=0; else rc=$?; fi
  echo "$name $rc $(($(date +%s) - start))" >>"$times"
  return "$rc"
}

lint_and_build_tests() {
  cargo fmt --check
  cargo clippy --all-targets -- -D warnings
  cargo test --all-targets --no-run
}

rust_tests() {
  cargo test --all-targets -- --test-threads="${RUST_TEST_THREADS:-4}"
}

lab_tests() {
  "$OPSLAB" validate
  bash tests/labs.sh
}

# wait_all PID...: waits for each, recording failures by name (name=pid pairs).
wait_all() {
  local pair
  for pair in "$@"; do
    wait "${pair#*=}" || failed+=("${pair%%=*}")
  done
}

begin=$(date +%s)
stage build cargo build || failed+=(build)
if [ ${#failed[@]} -eq 0 ]; then
  stage images "$OPSLAB" images build &
  images=$!
  stage lint lint_and_build_tests &
  lint=$!
  wait_all images=$images lint=$lint
fi
if [ ${#failed[@]} -eq 0 ]; then
  bash tests/leftovers.sh snapshot "$SNAPSHOT"
  # The swarm test after the Rust tests rather than beside them: both start many containers,
  # and the lab jobs' timed checks run beside whichever is going.
  # The labs run LABS_JOBS side by side (default 3) while this lane runs, one more once it ends.
  lanes_file=target/labs-jobs
  rm -f "$lanes_file"
  export LABS_JOBS_FILE=$PWD/$lanes_file
  (
    rc=0
    stage rust rust_tests || rc=1
    stage swarm bash tests/swarm.sh || rc=$((rc | 2))
    stage offline bash tests/offline.sh || rc=$((rc | 4))
    echo $((${LABS_JOBS:-3} + 1)) >"$lanes_file"
    exit "$rc"
  ) &
  engine_tests=$!
  stage labs lab_tests &
  labs=$!
  rc=0
  wait "$engine_tests" || rc=$?
  [ $((rc & 1)) = 0 ] || failed+=(rust)
  [ $((rc & 2)) = 0 ] || failed+=(swarm)
  [ $((rc & 4)) = 0 ] || failed+=(offline)
  wait_all labs=$labs
  sleep 1
  stage leftovers bash tests/leftovers.sh check "$SNAPSHOT" "the tests" "$OPSLAB" ||
    failed+=(leftovers)
fi

echo "stage times (seconds):"
while read -r name rc secs; do
  printf '  %-10s %5s s  exit %s\n' "$name" "$secs" "$rc"
done <"$times"
echo "  whole suite $(($(date +%s) - begin)) s"
rm -f "$times"
if [ ${#failed[@]} -gt 0 ]; then
  echo "failed stage(s): ${failed[*]}" >&2
  exit 1
fi
echo "every test passed"
