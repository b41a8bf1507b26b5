# A Docker Swarm of three nodes on this machine, for tests/swarm.sh and bench/swarm (sourced).
#
# Three engines in containers (images/swarm-node) on a bridge network made here, one manager and
# two workers; each engine's API is published on 127.0.0.1 only, and each node publishes its
# range of session ports (its `opslab.ports` label) on the same numbers on 127.0.0.1, its
# `opslab.address` being 127.0.0.1. Everything is named $PREFIX-* and labelled $MARK.
# Needs: PREFIX, MARK, NODE_IMAGE, REGISTRY (the in-cluster registry's name, trusted over plain
# HTTP by the nodes), and fail(). Sets HOST[1..3] (the engines' tcp:// addresses) and M (docker
# on the manager).

# shellcheck source=tests/engine-lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/engine-lib.sh"

ports_of() { echo "$((30000 + 20 * $1))-$((30011 + 20 * $1))"; }

swarm_up() {
  # As privileged as the host's engine allows (tests/engine-lib.sh); each node's containers
  # under a cgroup parent of their own.
  local opts i
  opts=$(engine_container_options)
  echo "node options: $opts"
  docker network create --label "$MARK" "$PREFIX" >/dev/null
  declare -gA HOST
  for i in 1 2 3; do
    docker volume create --label "$MARK" "$PREFIX-node$i" >/dev/null
    docker run -d --name "$PREFIX-node$i" --hostname "swarm-node$i" --label "$MARK" \
      $opts --network "$PREFIX" -v "$PREFIX-node$i:/var/lib/docker" \
      -p 127.0.0.1::2375 -p "127.0.0.1:$(ports_of $i):$(ports_of $i)" "$NODE_IMAGE" \
      --cgroup-parent "/$PREFIX-node$i" --insecure-registry "$REGISTRY" >/dev/null
    HOST[$i]=tcp://$(docker port "$PREFIX-node$i" 2375/tcp | grep -m1 '^127\.0\.0\.1:')
  done
  for i in 1 2 3; do
    for _ in $(seq 1 60); do docker -H "${HOST[$i]}" version >/dev/null 2>&1 && break; sleep 1; done
    docker -H "${HOST[$i]}" version >/dev/null || { docker logs "$PREFIX-node$i"; fail "node $i's engine did not start"; }
    echo "node $i: ${HOST[$i]} ($(docker -H "${HOST[$i]}" info --format '{{.Driver}}'))"
  done
  M="docker -H ${HOST[1]}"
  $M swarm init --advertise-addr eth0 >/dev/null
  local token
  token=$($M swarm join-token -q worker)
  for i in 2 3; do
    docker -H "${HOST[$i]}" swarm join --advertise-addr eth0 --token "$token" "$PREFIX-node1:2377" >/dev/null
  done
  for i in 1 2 3; do
    $M node update --label-add "opslab.engine=${HOST[$i]}" --label-add opslab.address=127.0.0.1 \
      --label-add "opslab.ports=$(ports_of $i)" "swarm-node$i" >/dev/null
  done
  $M node ls
}

# Loads images into every node (docker save | docker load through each node's loopback port).
swarm_load() {
  local tar i t
  tar=$(mktemp -p "${TMPDIR:-/tmp}" opslab-swarm-images.XXXXXX)
  docker save "$@" -o "$tar"
  ls -sh "$tar"
  for i in 1 2 3; do docker -H "${HOST[$i]}" load -q -i "$tar" >/dev/null & done
  wait
  rm -f "$tar"
  for i in 1 2 3; do
    for t in "$@"; do docker -H "${HOST[$i]}" image inspect "$t" >/dev/null || fail "node $i lacks $t"; done
  done
}

# Removes the nodes, their storage and their network, whatever state they are in.
swarm_down() {
  local i
  for i in 1 2 3; do docker rm -f -v "$PREFIX-node$i" >/dev/null 2>&1; done
  for i in 1 2 3; do docker volume rm "$PREFIX-node$i" >/dev/null 2>&1; done
  docker network rm "$PREFIX" >/dev/null 2>&1
  for i in 1 2 3; do
    find /sys/fs/cgroup -depth -type d -path "*/$PREFIX-node$i*" -exec rmdir {} + 2>/dev/null
  done
  true
}

# Memory per node: its engine (the node's container: dockerd, containerd, the shims) and the
# containers it runs (under the node's own cgroup parent, outside the node's container).
swarm_memory() {
  local i engine tasks f
  for i in 1 2 3; do
    docker inspect -f '{{.State.Running}}' "$PREFIX-node$i" 2>/dev/null | grep -q true || continue
    engine=$(docker stats --no-stream --format '{{.MemUsage}}' "$PREFIX-node$i" | awk '{ v=$1; u=v; gsub(/[0-9.]/, "", u); gsub(/[A-Za-z]/, "", v);
      printf "%.0f", (u=="GiB") ? v*1024 : (u=="MiB") ? v : (u=="KiB") ? v/1024 : v/1048576 }')
    tasks=0
    for f in "/sys/fs/cgroup/$PREFIX-node$i/memory.current" "/sys/fs/cgroup/memory/$PREFIX-node$i/memory.usage_in_bytes"; do
      [ -r "$f" ] && { tasks=$(( $(cat "$f") >> 20 )); break; }
    done
    echo "swarm-node$i: $((engine + tasks)) MiB ($engine MiB its engine, $tasks MiB its containers)"
  done
}
