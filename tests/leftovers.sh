#!/usr/bin/env bash
# Checks that a test stage left nothing of opslab's in the engine.
#   tests/leftovers.sh snapshot FILE   records the opslab objects present now (sessions a
#                                      trainer already had running are not the tests' to judge)
#   tests/leftovers.sh check FILE STAGE [OPSLAB]
#                                      names every object labelled opslab.session that FILE did
#                                      not record, runs `opslab gc`, and fails, naming them, if
#                                      any of them is still there
set -euo pipefail

objects() {
  docker ps -aq --no-trunc --filter label=opslab.session | sed 's/^/container /'
  docker network ls -q --no-trunc --filter label=opslab.session | sed 's/^/network /'
  docker volume ls -q --filter label=opslab.session | sed 's/^/volume /'
}

describe() {
  local kind=$1 id=$2
  case $kind in
    container)
      docker inspect --format \
        'container {{.Name}} state={{.State.Status}} image={{.Config.Image}} session={{index .Config.Labels "opslab.session"}} owner={{index .Config.Labels "opslab.owner-pid"}} created={{.Created}}' \
        "$id" 2>/dev/null || echo "container $id (gone)"
      ;;
    network)
      docker network inspect --format \
        'network {{.Name}} session={{index .Labels "opslab.session"}} owner={{index .Labels "opslab.owner-pid"}}' \
        "$id" 2>/dev/null || echo "network $id (gone)"
      ;;
    volume)
      docker volume inspect --format \
        'volume {{.Name}} session={{index .Labels "opslab.session"}}' "$id" 2>/dev/null ||
        echo "volume $id (gone)"
      ;;
  esac
}

case ${1:-} in
  snapshot)
    objects | sort >"$2"
    ;;
  check)
    file=$2 stage=${3:-tests} opslab=${4:-target/debug/opslab}
    new=$(objects | sort | comm -13 "$file" -)
    if [ -z "$new" ]; then
      echo "$stage left nothing in the engine"
      exit 0
    fi
    echo "$stage left $(echo "$new" | wc -l) opslab object(s); opslab gc must take them:"
    while read -r kind id; do echo "  $(describe "$kind" "$id")"; done <<<"$new"
    "$opslab" gc
    left=$(objects | sort | comm -13 "$file" -)
    if [ -n "$left" ]; then
      echo "error: after $stage and opslab gc, $(echo "$left" | wc -l) opslab object(s) remain:" >&2
      while read -r kind id; do echo "  $(describe "$kind" "$id")" >&2; done <<<"$left"
      echo "  sessions in the engine: $(docker ps -a --filter label=opslab.session --format '{{.Label "opslab.session"}}' | sort -u | tr '\n' ' ')" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 snapshot FILE | check FILE STAGE [OPSLAB]" >&2
    exit 2
    ;;
esac
