#!/usr/bin/env bash
# opslab on a Docker Swarm of three nodes, all on this machine: `bash tests/swarm.sh`.
#
# Three engines in containers (tests/swarm-lib.sh: images/swarm-node, Debian's docker.io, each
# with its own storage volume) on a bridge network made here; one manager, two workers. The host
# speaks to each node's engine only through its API port published on 127.0.0.1, and to the
# sessions' SSH ports through each node's range of ports published on 127.0.0.1 (the nodes'
# `opslab.address` and `opslab.ports` labels); the nodes reach each other on their network. The
# fixtures' images are loaded into every node; sprint-restore's only into the manager, from
# which opslab pushes them to the registry inside the cluster. Then:
#   1. the overlay works between two nodes: a service on each, one asks the other by name;
#   2. six sessions of the fixture lab `trio` (three services and a grader) with --engine swarm:
#      each session entirely on one node, the sessions spread over two nodes or more, no name
#      resolution or traffic between sessions; one session graded, solved, graded again;
#   3. every probe and action of the fixture `probes` (exec, files, logs, stop, kill, pause,
#      restart, copy, disconnect, and their restoration) as on one engine;
#   4. an incomplete session (its grader gone) is taken by `gc`;
#   5. a class of six (fixture `classroom`): each trainee logs in over SSH at the address and
#      port of the access sheet, two do the task; a provisional grading, then the deadline:
#      access ends, the final grading, the freeze; the signed results verify;
#   6. the registry inside the cluster (images/registry, a swarm service) and the real lab
#      sprint-restore's selftest, its session on a worker that pulls the lab's images from the
#      registry by digest;
#   7. a worker stopped: its sessions (and its class sessions, in `class status`) are reported
#      lost, the others run; `stop --all` and `gc --all` then leave no opslab object (the
#      registry included) on the manager or any node that remains;
# and the swarm is removed whatever happened. Everything made here is named opslab-swarmtest-*
# and labelled opslab.swarm-test; sessions carry opslab's own labels. Needs Docker (fails if it
# is missing, never skips) and a built opslab (cargo build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STARTED=$(date +%s)
OPSLAB=${OPSLAB:-$ROOT/target/debug/opslab}
PREFIX=opslab-swarmtest
MARK=opslab.swarm-test=1
SESSIONS=${SWARM_SESSIONS:-6}
LAB=$ROOT/tests/fixtures/labs/trio
WORK=$(mktemp -d)
export OPSLAB_DATA=$WORK/data

say() { printf '\n== %s (%ss)\n' "$*" "$(($(date +%s) - STARTED))"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

command -v docker >/dev/null || fail "the docker command is missing: this test needs Docker"
docker info >/dev/null 2>&1 || fail "no Docker engine answers: this test needs Docker"
[ -x "$OPSLAB" ] || fail "$OPSLAB is missing: run cargo build first"

# shellcheck source=tests/swarm-lib.sh
. "$ROOT/tests/swarm-lib.sh"

cleanup() {
  local code=$?
  set +e
  swarm_down
  rm -rf "$WORK"
  left=$(docker ps -aq --filter label=opslab.swarm-test; docker volume ls -q --filter label=opslab.swarm-test; docker network ls -q --filter label=opslab.swarm-test)
  [ -z "$left" ] || { echo "FAIL: the swarm test left: $left" >&2; code=1; }
  echo "swarm test: $([ $code = 0 ] && echo PASSED || echo FAILED) in $(($(date +%s) - STARTED))s"
  exit $code
}
trap cleanup EXIT

say "images (node, lab, grader)"
"$OPSLAB" images build swarm-node registry toolbox grader workstation postgres shop-app sprint-prod | tee "$WORK/images.txt"
tag_of() { awk -v n="$1" '$1 == n { print $2 }' "$WORK/images.txt"; }
NODE_IMAGE=$(tag_of swarm-node)
# Loaded into every node: the fixtures' images. The manager (where opslab builds and pushes)
# also gets the registry's and sprint-restore's own, which the workers pull from the registry.
LAB_TAGS="opslab/debian:bookworm $(tag_of common) $(tag_of toolbox) $(tag_of grader) $(tag_of workstation)"
MANAGER_TAGS="$(tag_of registry) $(tag_of postgres) $(tag_of shop-app) $(tag_of sprint-prod)"
REGISTRY=$PREFIX-node1:5000
GRADER=$(tag_of grader)
[ -n "$NODE_IMAGE" ] && [ -n "$GRADER" ] || fail "images not built"

say "three engines, one manager and two workers"
swarm_up

say "images into every node"
swarm_load $LAB_TAGS
docker save $MANAGER_TAGS | $M load -q
for t in $MANAGER_TAGS; do $M image inspect "$t" >/dev/null || fail "the manager lacks $t"; done

say "overlay between two nodes"
$M network create -d overlay --attachable --label "$MARK" "$PREFIX-overlay" >/dev/null
$M service create -d -q --no-resolve-image --name "$PREFIX-echo" --label "$MARK" \
  --container-label "$MARK" --network "$PREFIX-overlay" --endpoint-mode dnsrr \
  --restart-condition none --constraint node.hostname==swarm-node2 "$GRADER" \
  socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:'echo answer-from-node2' >/dev/null
$M service create -d -q --no-resolve-image --name "$PREFIX-ask" --label "$MARK" \
  --container-label "$MARK" --network "$PREFIX-overlay" --endpoint-mode dnsrr \
  --restart-condition none --constraint node.hostname==swarm-node3 "$GRADER" sleep infinity >/dev/null
ask=""
for _ in $(seq 1 60); do
  ask=$(docker -H "${HOST[3]}" ps -q --filter "label=com.docker.swarm.service.name=$PREFIX-ask")
  echo_up=$(docker -H "${HOST[2]}" ps -q --filter "label=com.docker.swarm.service.name=$PREFIX-echo")
  [ -n "$ask" ] && [ -n "$echo_up" ] && break
  sleep 1
done
[ -n "$ask" ] || fail "the overlay test's services did not run"
answer=""
for _ in $(seq 1 20); do
  answer=$(docker -H "${HOST[3]}" exec "$ask" sh -c "socat -T3 - TCP:$PREFIX-echo:7000 </dev/null" 2>/dev/null || true)
  [ "$answer" = answer-from-node2 ] && break
  sleep 1
done
[ "$answer" = answer-from-node2 ] || fail "node3 could not reach node2 over the overlay (got: $answer)"
echo "node3 -> $PREFIX-echo on node2: $answer"
$M service rm "$PREFIX-echo" "$PREFIX-ask" >/dev/null
for _ in $(seq 1 30); do $M network rm "$PREFIX-overlay" >/dev/null 2>&1 && break; sleep 1; done

export OPSLAB_ENGINE=swarm OPSLAB_ENGINE_HOST=${HOST[1]}

say "$SESSIONS sessions of trio on the swarm"
t0=$(date +%s)
for n in $(seq 1 "$SESSIONS"); do
  "$OPSLAB" start "$LAB" --trainee "s$n" >"$WORK/start-s$n.log" 2>&1 &
  # Two at a time: the machine has few cores, and three engines share them.
  if (( n % 2 == 0 )); then wait || true; fi
done
wait || true
for n in $(seq 1 "$SESSIONS"); do
  grep -q "trio-s$n is ready" "$WORK/start-s$n.log" || { cat "$WORK/start-s$n.log"; fail "session s$n did not start"; }
done
echo "started $SESSIONS sessions in $(($(date +%s) - t0))s"

say "each session on one node, sessions over several nodes"
declare -A NODE_OF
for n in $(seq 1 "$SESSIONS"); do
  s=trio-s$n
  nodes=$("$OPSLAB" --json status --session "$s" | jq -r '.services[].node' | sort -u)
  [ "$(echo "$nodes" | wc -l)" = 1 ] && [ -n "$nodes" ] || fail "$s is spread over: $nodes"
  # The engines agree: every container of the session is on that node, none elsewhere.
  for i in 1 2 3; do
    count=$(docker -H "${HOST[$i]}" ps -q --filter "label=opslab.session=$s" | wc -l)
    if [ "swarm-node$i" = "$nodes" ]; then
      # web, api, ws, the grader, and the session's place.
      if [ "$count" != 5 ]; then
        for j in 1 2 3; do
          docker -H "${HOST[$j]}" ps -a --filter "label=opslab.session=$s" --format "node$j {{.Names}} {{.Status}}"
        done
        $M service ps --no-trunc --format '{{.Name}} {{.Node}} {{.CurrentState}} {{.Error}}' $($M service ls -q --filter "label=opslab.session=$s")
        fail "$s: $count containers on its node swarm-node$i, 5 expected"
      fi
    else
      [ "$count" = 0 ] || fail "$s: $count containers on swarm-node$i, which is not its node"
    fi
  done
  # Every service kept its one task (the grader's final name is a label: no new container).
  for svc in $($M service ls -q --filter "label=opslab.session=$s"); do
    [ "$($M service ps -q "$svc" | wc -l)" = 1 ] || { $M service ps "$svc"; fail "$s: a service has more than one task"; }
  done
  NODE_OF[$s]=$nodes
  echo "$s on $nodes"
done
used=$(printf '%s\n' "${NODE_OF[@]}" | sort -u | wc -l)
[ "$used" -ge 2 ] || fail "the sessions are all on one node"
echo "sessions over $used nodes"
swarm_memory | tee "$WORK/memory.txt"

say "no name resolution or traffic between sessions"
in_ws() { # session, command...: runs in the session's workstation, on its node's engine
  local s=$1; shift
  local i=${NODE_OF[$s]#swarm-node}
  local c
  c=$(docker -H "${HOST[$i]}" ps -q --filter "label=opslab.session=$s" --filter label=opslab.service=ws)
  docker -H "${HOST[$i]}" exec "$c" "$@"
}
a=trio-s1
for n in $(seq 2 "$SESSIONS"); do
  b=trio-s$n
  if [ "${NODE_OF[$b]}" != "${NODE_OF[$a]}" ]; then break; fi
done
echo "$a (${NODE_OF[$a]}) and $b (${NODE_OF[$b]})"
own=$(in_ws "$a" getent hosts web | awk '{print $1}')
other=$(in_ws "$b" getent hosts web | awk '{print $1}')
[ -n "$own" ] && [ -n "$other" ] || fail "web does not resolve in its own session"
in_ws "$a" curl -fsS -m 5 http://web:8000/ >/dev/null || fail "$a cannot reach its own web"
if in_ws "$a" getent hosts "opslab-$b-web" >/dev/null; then fail "$a resolves $b's web"; fi
if in_ws "$a" getent hosts "opslab-$b-api" >/dev/null; then fail "$a resolves $b's api"; fi
if in_ws "$a" curl -fsS -m 5 "http://$other:8000/" >/dev/null 2>&1; then fail "$a reaches $b's web at $other"; fi
echo "$a: web is $own; $b's web ($other) neither resolves nor answers"

say "grading across nodes: check, solve, check"
s=trio-s2
if "$OPSLAB" check --session "$s" >"$WORK/check1.txt" 2>&1; then cat "$WORK/check1.txt"; fail "the untouched lab passed"; fi
grep -q "api-team" "$WORK/check1.txt" || { cat "$WORK/check1.txt"; fail "no grading"; }
"$OPSLAB" --json check --session "$s" >"$WORK/check1.json" 2>/dev/null || true
jq -e '[.checks[] | select(.id == "api-team" and .status == "passed")] | length == 1' "$WORK/check1.json" >/dev/null \
  || { cat "$WORK/check1.json"; fail "api-team (HTTP through the grader, across the overlay) did not pass"; }
"$OPSLAB" solve --session "$s" >/dev/null
"$OPSLAB" check --session "$s" >"$WORK/check2.txt" 2>&1 || { cat "$WORK/check2.txt"; fail "the solved lab did not pass"; }
tail -n 3 "$WORK/check2.txt"

say "every probe and action through the nodes' engines (fixture probes), twice"
"$OPSLAB" start "$ROOT/tests/fixtures/labs/probes" --trainee sw >/dev/null
# As on one engine (tests/it/grading.rs). `disconnect` takes the service's interface down from
# a helper container on its node (swarm networks refuse `disconnect`; docs/SCALE.md).
expected="http-json-pass passed
http-status-fail failed
http-inner-pass passed
command-pass passed
command-fail failed
command-timeout failed
file-pass passed
file-fail failed
container-pass passed
container-fail failed
port-pass passed
port-fail failed
holds-pass passed
needs-skip skipped
log-pass passed
log-fail failed
holds-fail failed
within-later passed
stop-restored passed
kill-restored passed
pause-restored passed
disconnect-restored passed
copy-and-restart passed"
for round in 1 2; do
  "$OPSLAB" --json check --session probes-sw >"$WORK/probes$round.json" 2>"$WORK/probes$round.err" || true
  got=$(jq -r '.checks[] | "\(.id) \(.status)"' "$WORK/probes$round.json" 2>/dev/null || true)
  wrong=$(diff <(echo "$expected" | sort) <(echo "$got" | sort) || true)
  if [ -n "$wrong" ]; then
    echo "$wrong"
    jq -c '.checks[] | select(.status != "passed") | {id, status, message, seen}' "$WORK/probes$round.json" || cat "$WORK/probes$round.err"
    fail "round $round of the probes fixture on the swarm"
  fi
  echo "round $round: every check as expected"
done
"$OPSLAB" stop --session probes-sw >/dev/null

say "gc takes an incomplete session"
"$OPSLAB" start "$LAB" --trainee gc1 >/dev/null
$M service rm "$($M service ls -q --filter label=opslab.session=trio-gc1 --filter label=opslab.service=grader)" >/dev/null
"$OPSLAB" gc
[ -z "$($M service ls -q --filter label=opslab.session=trio-gc1)" ] || fail "gc left services of trio-gc1"
"$OPSLAB" status --session trio-s1 >/dev/null || fail "gc took a complete session"

say "a class of six: SSH through the access sheet, a deadline freeze, signed results"
"$OPSLAB" keys init >/dev/null 2>&1 || true
ROSTER=$WORK/six.csv
{ echo "id,name,email"; for n in 1 2 3 4 5 6; do echo "t$n,Trainee $n,t$n@example.org"; done; } >"$ROSTER"
CLASS_DIR=$OPSLAB_DATA/classes/swarmclass
t0=$(date +%s)
"$OPSLAB" class start "$ROOT/tests/fixtures/labs/classroom" --roster "$ROSTER" --name swarmclass \
  --time "${SWARM_CLASS_TIME:-75}s" --parallel 3 >"$WORK/class-start.txt" 2>&1 \
  || { cat "$WORK/class-start.txt"; fail "the class did not start on the swarm"; }
CLASS_READY=$(date +%s)
CLASS_START=$((CLASS_READY - t0))
echo "class of six started in ${CLASS_START}s"
"$OPSLAB" --json class status swarmclass >"$WORK/class-status.json"
declare -A CLASS_NODE
for n in 1 2 3 4 5 6; do
  node=$(jq -r --arg t "t$n" '.trainees[] | select(.trainee == $t) | .node' "$WORK/class-status.json")
  state=$(jq -r --arg t "t$n" '.trainees[] | select(.trainee == $t) | .state' "$WORK/class-status.json")
  [[ "$node" == swarm-node[123] ]] && [ "$state" = running ] || { cat "$WORK/class-status.json"; fail "t$n: node '$node', state $state"; }
  CLASS_NODE[t$n]=$node
  # The access sheet: the node's address for trainees and a port of its range.
  row=$(awk -F, -v t="t$n" '$1 == t' "$CLASS_DIR/access.csv")
  host=$(echo "$row" | cut -d, -f4); port=$(echo "$row" | cut -d, -f5); key=$(echo "$row" | cut -d, -f7)
  range=$(ports_of "${node#swarm-node}")
  [ "$host" = 127.0.0.1 ] && (( port >= ${range%-*} && port <= ${range#*-} )) \
    || fail "t$n on $node: the access sheet gives $host:$port (range $range)"
  out=$(timeout 30 ssh -i "$key" -p "$port" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
    -o BatchMode=yes -o ConnectTimeout=10 "trainee@$host" 'cat /etc/opslab-session; hostname' 2>/dev/null) \
    || fail "t$n: no SSH login at $host:$port"
  [ "$(echo "$out" | head -n 1)" = "classroom-t$n" ] || fail "t$n reached another workstation: $out"
  echo "t$n on $node: ssh -p $port trainee@$host -> $(echo "$out" | head -n 1)"
done
printf '%s\n' "${CLASS_NODE[@]}" | sort | uniq -c
swarm_memory | tee "$WORK/memory-class.txt"
# Two trainees do the task over SSH (the token, read from the web service inside the session).
for t in t1 t2; do
  row=$(awk -F, -v t="$t" '$1 == t' "$CLASS_DIR/access.csv")
  timeout 30 ssh -i "$(echo "$row" | cut -d, -f7)" -p "$(echo "$row" | cut -d, -f5)" -o StrictHostKeyChecking=no \
    -o UserKnownHostsFile=/dev/null -o BatchMode=yes "trainee@127.0.0.1" \
    'curl -fsS http://web:8000/token.txt > ~/answer.txt' || fail "$t could not work over SSH"
done
t0=$(date +%s)
"$OPSLAB" class grade swarmclass >"$WORK/class-grade.txt" 2>&1 || { cat "$WORK/class-grade.txt"; fail "class grade"; }
CLASS_GRADE=$(($(date +%s) - t0))
cat "$WORK/class-grade.txt"
echo "class of six graded in ${CLASS_GRADE}s"
grep -Eq '^ *t1 +20/20' "$WORK/class-grade.txt" && grep -Eq '^ *t3 +10/20' "$WORK/class-grade.txt" \
  || fail "the provisional grades are not t1 20/20, t3 10/20"
deadline=$(jq -r .deadline "$CLASS_DIR/class.json")
echo "waiting for the deadline ($((deadline - $(date +%s)))s)"
frozen=""
for _ in $(seq 1 240); do
  if [ "$(date +%s)" -gt "$deadline" ]; then
    "$OPSLAB" --json class status swarmclass >"$WORK/class-status.json" 2>/dev/null || true
    if [ "$(jq '[.trainees[] | select(.state == "frozen")] | length' "$WORK/class-status.json")" = 6 ]; then
      frozen=$(date +%s); break
    fi
  fi
  sleep 1
done
[ -n "$frozen" ] || { cat "$WORK/class-status.json"; cat "$CLASS_DIR/watch.log"; fail "the class did not freeze at its deadline"; }
ended=$(jq -r .access_ended "$CLASS_DIR/class.json")
CLASS_FINAL=$((frozen - ended))
echo "access ended $((ended - deadline))s after the deadline; final grading and freeze in ${CLASS_FINAL}s"
row=$(awk -F, '$1 == "t3"' "$CLASS_DIR/access.csv")
if timeout 30 ssh -i "$(echo "$row" | cut -d, -f7)" -p "$(echo "$row" | cut -d, -f5)" -o StrictHostKeyChecking=no \
  -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o ConnectTimeout=5 trainee@127.0.0.1 true 2>/dev/null; then
  fail "t3 still logs in after the freeze"
fi
"$OPSLAB" verify --class swarmclass || fail "the class's signed results do not verify"
for t in t1 t2 t3 t4 t5 t6; do
  jq -e '.result.final == true' "$CLASS_DIR/results/$t.json" >/dev/null || fail "$t has no final result"
done
echo "six final results, signed and verified"

say "the registry inside the cluster, a service of the swarm"
# As a trainer runs it (docs/SCALE.md): on one node, its port published in host mode there,
# its storage a volume of that node, labelled as opslab's (`gc --all` takes it).
$M service create -d -q --no-resolve-image --name opslab-registry \
  --label opslab.managed=1 --label opslab.role=registry \
  --container-label opslab.managed=1 --container-label opslab.role=registry \
  --constraint node.hostname==swarm-node1 --restart-condition on-failure \
  --publish mode=host,target=5000,published=5000 \
  --mount "type=volume,source=opslab-registry,target=/var/lib/registry,volume-label=opslab.managed=1,volume-label=opslab.role=registry" \
  "$(tag_of registry)" >/dev/null
for _ in $(seq 1 60); do
  $M exec "$($M ps -q --filter label=com.docker.swarm.service.name=opslab-registry | head -n 1)" \
    curl -fsS -m 2 http://127.0.0.1:5000/v2/ >/dev/null 2>&1 && break
  sleep 1
done
docker -H "${HOST[2]}" run --rm --network host "$(tag_of grader)" curl -fsS -m 5 "http://$REGISTRY/v2/" >/dev/null \
  || fail "a worker does not reach the registry at $REGISTRY"
echo "registry at $REGISTRY"

say "a real lab's selftest on the swarm: sprint-restore, its images from the registry"
# The manager takes no new task meanwhile: the session goes to a worker, which lacks the lab's
# own images and pulls them from the registry, by digest.
$M node update --availability pause swarm-node1 >/dev/null
t0=$(date +%s)
OPSLAB_REGISTRY=$REGISTRY "$OPSLAB" selftest "$ROOT/labs/sprint-restore" --runs 1 >"$WORK/selftest.txt" 2>&1 \
  || { $M node update --availability active swarm-node1 >/dev/null; cat "$WORK/selftest.txt"; fail "sprint-restore's selftest on the swarm"; }
SELFTEST=$(($(date +%s) - t0))
$M node update --availability active swarm-node1 >/dev/null
tail -n 4 "$WORK/selftest.txt"
echo "sprint-restore selftest on the swarm in ${SELFTEST}s"
pulled=""
for i in 2 3; do
  d=$(docker -H "${HOST[$i]}" images --digests --format '{{.Repository}}@{{.Digest}}' | grep -F "$REGISTRY/opslab/sprint-prod@sha256:" || true)
  [ -n "$d" ] && pulled="$pulled swarm-node$i: $d"
  if docker -H "${HOST[$i]}" image inspect "$(tag_of sprint-prod)" >/dev/null 2>&1; then fail "node $i holds sprint-prod by its plain tag"; fi
done
[ -n "$pulled" ] || fail "no worker pulled sprint-prod from the registry"
echo "pulled by digest:$pulled"

say "every session still holds its node"
# A session's place only holds its reservation: nothing may stop it while the session runs (an
# image's own health check once did, half a minute after the start).
places=$($M service ls -q --filter label=opslab.role=place)
[ -n "$places" ] || fail "no session's place service"
for p in $places; do
  state=$($M service ps -q --filter desired-state=running "$p" | head -n 1 | xargs -r $M inspect -f '{{.Status.State}}')
  [ "$state" = running ] || fail "place service $($M service inspect -f '{{.Spec.Name}}' "$p") is ${state:-gone}, not running"
done
echo "$(echo "$places" | wc -w) place services running"

say "a node that disappears: its sessions are lost, the others run"
lost_node=""
for i in 3 2; do
  for k in "${!NODE_OF[@]}"; do [ "${NODE_OF[$k]}" = "swarm-node$i" ] && lost_node=$i; done
  [ -n "$lost_node" ] && break
done
[ -n "$lost_node" ] || fail "no session on a worker"
docker stop "$PREFIX-node$lost_node" >/dev/null
for _ in $(seq 1 60); do
  [ "$($M node inspect -f '{{.Status.State}}' "swarm-node$lost_node")" = down ] && break
  sleep 1
done
echo "swarm-node$lost_node: $($M node inspect -f '{{.Status.State}}' "swarm-node$lost_node")"
for k in "${!NODE_OF[@]}"; do
  code=0
  "$OPSLAB" status --session "$k" >"$WORK/status-$k.txt" 2>&1 || code=$?
  if [ "${NODE_OF[$k]}" = "swarm-node$lost_node" ]; then
    [ "$code" = 3 ] && grep -q "is lost" "$WORK/status-$k.txt" || { cat "$WORK/status-$k.txt"; fail "$k is not reported lost"; }
    head -n 1 "$WORK/status-$k.txt"
  else
    [ "$code" = 0 ] || { cat "$WORK/status-$k.txt"; fail "$k on ${NODE_OF[$k]} should run"; }
  fi
done

# The class says so too: each session's node, `lost` for those on the node that is gone.
"$OPSLAB" --json class status swarmclass >"$WORK/class-status.json"
for n in 1 2 3 4 5 6; do
  state=$(jq -r --arg t "t$n" '.trainees[] | select(.trainee == $t) | .state' "$WORK/class-status.json")
  if [ "${CLASS_NODE[t$n]}" = "swarm-node$lost_node" ]; then
    [ "$state" = lost ] || { cat "$WORK/class-status.json"; fail "t$n (on the lost node) is $state"; }
  else
    [ "$state" = frozen ] || { cat "$WORK/class-status.json"; fail "t$n is $state"; }
  fi
done
"$OPSLAB" class status swarmclass

say "stop and gc leave nothing on the manager or on any node that remains"
t0=$(date +%s)
"$OPSLAB" stop --all
"$OPSLAB" gc --all
echo "stopped and collected (the registry too) in $(($(date +%s) - t0))s"
left=$($M service ls -q --filter label=opslab.managed; $M network ls -q --filter label=opslab.managed)
[ -z "$left" ] || fail "the manager still has: $left"
for i in 1 2 3; do
  [ "$i" = "$lost_node" ] && continue
  for _ in $(seq 1 30); do
    left=$(docker -H "${HOST[$i]}" ps -aq --filter label=opslab.managed; docker -H "${HOST[$i]}" volume ls -q --filter label=opslab.managed)
    [ -z "$left" ] && break
    sleep 1
  done
  [ -z "$left" ] || fail "swarm-node$i still has: $left"
done
echo "nothing left on the manager or the nodes"
echo "memory per node with $SESSIONS sessions:"
cat "$WORK/memory.txt"
echo "memory per node with the class of six beside them:"
cat "$WORK/memory-class.txt"
echo "class of six on the swarm: started in ${CLASS_START}s, graded in ${CLASS_GRADE}s, final grading and freeze in ${CLASS_FINAL}s"
