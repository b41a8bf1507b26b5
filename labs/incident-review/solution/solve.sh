#!/bin/bash
# Reference solution of incident-review: investigates the traces as an operator would, writes the
# post-mortem in the team's template, adds the pipeline guard and the alert. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
here="$(pwd)"
team="$(sed -n 's/^# Team \([a-z]*\):.*/\1/p' ~/NOTES.md)"
repo_url="$(grep -o 'git@git:[a-z-]*\.git' ~/NOTES.md | head -n 1)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# ---- the facts -------------------------------------------------------------------------------
curl -fsS http://inbox:8080/api/notifications > "$work/inbox.json"
detected=$(jq -r '[.[] | select(.payload.status == "firing" and any(.payload.alerts[]; .labels.alertname == "CustomerReport"))][0].received_at | floor | todate' "$work/inbox.json")
resolved=$(jq -r '[.[] | select(.payload.status == "resolved" and any(.payload.alerts[]; .labels.alertname == "CustomerReport"))][0].received_at | floor | todate' "$work/inbox.json")
ssh -o BatchMode=yes ops@prod 'sudo cat /var/log/shop-deploy.log' > "$work/deploy.log"
mitigated=$(grep -m 1 'by hand' "$work/deploy.log" | cut -d' ' -f1)
trigger=$(grep -B 1 -m 1 'by hand' "$work/deploy.log" | head -n 1 | sed 's/.*commit=\([0-9a-f]*\).*/\1/')
failed=$(ssh -o BatchMode=yes ops@prod "sudo awk '\$9 == 413 && \$7 == \"/api/items\"' /var/log/nginx/shop.access.log.1" | wc -l)

git clone -q "$repo_url" "$work/r"
cd "$work/r"
setting=$(git show "$trigger" -- limits.env | sed -n 's/^+\([a-z_]*\)=.*/\1/p' | head -n 1)
factors="  - no-config-validation
  - no-alert-on-symptom
  - manual-rollback"
if ! git log -1 --format=%B "$trigger" | grep -q '^Reviewed-by:'; then
    factors="$factors
  - unreviewed-change"
fi
day=$(echo "$detected" | cut -c1-10)

mkdir -p postmortems
rm -f postmortems/*-body-limit.md
cat > "postmortems/$day-body-limit.md" <<PM
---
title: Saves of the catalogue editor refused by a too-small body limit
detected_at: $detected
mitigated_at: $mitigated
resolved_at: $resolved
impact_failed_requests: $failed
impact_endpoint: POST /api/items
trigger_commit: $trigger
trigger_setting: $setting
contributing_factors:
$factors
action_items:
  -
---

## Summary

A change of \`$setting\` lowered nginx's body limit on prod below the size of the items the
catalogue editor saves. $failed saves (\`POST /api/items\`) were refused with 413 until on-call put
the limit back by hand.

## Timeline

- $detected: support reports failed saves to on-call (first signal: customers, not an alert)
- $mitigated: on-call puts the limit back by hand on prod; saves work again
- $resolved: incident declared over

## Impact

$failed requests to POST /api/items failed (413 Request Entity Too Large).

## Root cause and trigger

Commit $trigger changed \`$setting\`; the pipeline only checked that it was an integer.

## What went well, what went wrong

Went well: on-call found and reverted the setting quickly. Went wrong: nothing refused the value,
nothing alerted on the failed saves, the revert was done by hand.

## Action items

- A guard in ci/pipeline.sh refuses a body limit below 16 KB.
- An alert pages on-call when saves fail.
PM

# ---- the guard -------------------------------------------------------------------------------
if ! grep -q 'guard: body limit' ci/pipeline.sh; then
    python3 - "$setting" <<'PY'
import sys
setting = sys.argv[1]
p = "ci/pipeline.sh"
s = open(p).read()
guard = '''echo "--- guard: body limit"
# The catalogue editor sends items of up to 12 KB: a smaller limit refuses customers' saves.
v="$(sed -n 's/^SETTING=\\([0-9][0-9]*\\)$/\\1/p' limits.env | tail -n 1)"
if [ -z "$v" ] || [ "$v" -lt 16 ]; then
    echo "SETTING=${v:-missing}: below 16 KB, the editor's items would be refused"
    exit 1
fi

'''.replace("SETTING", setting)
s = s.replace('echo "--- deploy"', guard + 'echo "--- deploy"', 1)
open(p, "w").write(s)
PY
fi

git add -A
if ! git diff --cached --quiet; then
    git commit -qm "Post-mortem of the body limit incident; the pipeline refuses a body limit below 16 KB"
    git push -q origin HEAD:main
fi

# ---- the alert -------------------------------------------------------------------------------
cat > /srv/monitoring/prometheus/rules/saves.yml <<RULES
groups:
  - name: saves
    rules:
      - alert: ItemSavesFailing
        expr: |
          sum(rate(nginx_http_requests_total{job="nginx",method="POST",route="/api/items",status=~"413|5.."}[1m]))
            / sum(rate(nginx_http_requests_total{job="nginx",method="POST",route="/api/items"}[1m])) > 0.05
        for: 20s
        labels:
          team: $team
          severity: page
        annotations:
          summary: "More than 5 % of the catalogue editor's saves fail"
RULES
curl -fsS -X POST http://prometheus:9090/-/reload
for _ in $(seq 1 30); do
    if curl -fsS http://prometheus:9090/api/v1/rules | jq -e '[.data.groups[].rules[] | select(.name == "ItemSavesFailing")] | length > 0' >/dev/null; then
        break
    fi
    sleep 1
done
# let the pipeline deliver the guard's commit
sleep 8
echo "solved: post-mortem, guard and alert in place"
