#!/bin/bash
# Reference solution of incident-review: investigates the traces as an operator would, writes the
# post-mortem in the team's template, files the action items in the tracker, adds the pipeline
# guard and the alert (each commit referencing its item), closes the items once their pipelines
# were green, publishes the post-mortem in the tracker's wiki. Idempotent.
# The shortcut attempts of tests/cheats/incident-review run this file (opslab puts it beside an
# attempt, in reference/) with one of these switched (the solution uses the defaults):
#   PM=honest|copied       copied: the post-mortem of another trainee, verbatim
#   ITEMS=honest|bare      bare: items without owner, sprint or criteria, not linked
#   GUARD=honest|exact|none   exact: the guard refuses only the incident's value
#   ALERT=honest|always|none  always: an alert that is always true
set -euo pipefail
PM="${PM:-honest}" ITEMS="${ITEMS:-honest}" GUARD="${GUARD:-honest}" ALERT="${ALERT:-honest}"
cd "$(dirname "$0")"
team="$(sed -n 's/^# Team \([a-z]*\):.*/\1/p' ~/NOTES.md)"
repo_url="$(grep -o 'git@git:[a-z-]*\.git' ~/NOTES.md | head -n 1)"
work="$(mktemp -d)"
rule_text() {
if [ "$ALERT" = always ]; then
cat <<RULES
groups:
  - name: saves
    rules:
      - alert: ItemSavesFailing
        expr: vector(1)
        labels:
          team: $team
          severity: page
RULES
return
fi
cat <<RULES
groups:
  - name: saves
    rules:
      - alert: ItemSavesFailing
        expr: |
          sum(rate(nginx_http_requests_total{job="nginx",method="POST",route="/api/items",status=~"413|5.."}[30s]))
            / sum(rate(nginx_http_requests_total{job="nginx",method="POST",route="/api/items"}[30s])) > 0.05
        for: 15s
        labels:
          team: $team
          severity: page
        annotations:
          summary: "More than 5 % of the catalogue editor's saves fail"
RULES
}
trap 'rm -rf "$work"' EXIT

# ---- the facts -------------------------------------------------------------------------------
curl -fsS http://inbox:8080/api/notifications > "$work/inbox.json"
detected=$(jq -r '[.[] | select(.payload.status == "firing" and any(.payload.alerts[]; .labels.alertname == "CustomerReport"))][0].received_at | floor | todate' "$work/inbox.json")
resolved=$(jq -r '[.[] | select(.payload.status == "resolved" and any(.payload.alerts[]; .labels.alertname == "CustomerReport"))][0].received_at | floor | todate' "$work/inbox.json")
ssh -o BatchMode=yes ops@prod 'sudo cat /var/log/shop-deploy.log' > "$work/deploy.log"
mitigated=$(grep -m 1 'by hand' "$work/deploy.log" | cut -d' ' -f1)
trigger=$(grep -B 1 -m 1 'by hand' "$work/deploy.log" | head -n 1 | sed 's/.*commit=\([0-9a-f]*\).*/\1/')
failed=$(ssh -o BatchMode=yes ops@prod "sudo awk '\$9 == 413 && \$7 == \"/api/items\"' /var/log/nginx/shop.access.log.1" | wc -l)

ticket=$(jq -r '[.[] | .payload.alerts[]? | .annotations.summary // "" | capture("Ticket #(?<n>[0-9]+)") | .n][0]' "$work/inbox.json")

# ---- the action items, in the tracker --------------------------------------------------------
. "$HOME/tracker.env"
api() { # METHOD PATH [JSON]
    if [ $# -ge 3 ]; then
        curl -fsS -X "$1" -H "X-Redmine-API-Key: $TRACKER_KEY" -H 'Content-Type: application/json' -d "$3" "$TRACKER_URL$2"
    else
        curl -fsS -X "$1" -H "X-Redmine-API-Key: $TRACKER_KEY" "$TRACKER_URL$2"
    fi
}
members=$(api GET "/projects/$TRACKER_PROJECT/memberships.json")
sprint=$(api GET "/projects/$TRACKER_PROJECT/versions.json" | jq '[.versions[] | select(.status == "open")] | sort_by(.due_date) | .[0].id')
member() { echo "$members" | jq --arg r "$1" '[.memberships[] | select(any(.roles[]; .name == $r)) | .user] | map(select(.name != "Sam Rivers")) | .[0].id'; }
file_item() { # SUBJECT ROLE CRITERIA
    if [ "$ITEMS" = bare ]; then
        found=$(api GET "/issues.json?project_id=$TRACKER_PROJECT&status_id=*&author_id=me&limit=100" | jq -r --arg s "$1" '[.issues[] | select(.subject == $s) | .id][0] // empty')
        [ -n "$found" ] && { echo "$found"; return; }
        api POST /issues.json "$(jq -n --arg p "$TRACKER_PROJECT" --arg s "$1" '{issue: {project_id: $p, subject: $s, description: "To do."}}')" | jq '.issue.id'
        return
    fi
    found=$(api GET "/issues.json?project_id=$TRACKER_PROJECT&status_id=*&author_id=me&limit=100" | jq -r --arg s "$1" '[.issues[] | select(.subject == $s) | .id][0] // empty')
    if [ -n "$found" ]; then echo "$found"; return; fi
    body=$(jq -n --arg p "$TRACKER_PROJECT" --arg s "$1" --argjson u "$(member "$2")" --argjson v "$sprint" --arg c "$3" \
        '{issue: {project_id: $p, subject: $s, assigned_to_id: $u, fixed_version_id: $v, description: ("Action item of the post-mortem of the body limit incident.\n\n## Acceptance criteria\n\n" + $c + "\n")}}')
    api POST /issues.json "$body" | jq '.issue.id'
}
guard_item=$(file_item "Pipeline refuses a body limit below what the shop needs" Developer "- a push with a body limit below 16 KB fails its CI run and is not applied
- raising the limit still deploys")
alert_item=$(file_item "Page on-call when the editor's saves fail" Ops "- failed saves above 5 % page on-call within 2 minutes
- nothing pages while the shop is healthy")

git clone -q "$repo_url" "$work/r"
cd "$work/r"
setting=$(git show "$trigger" -- limits.env | sed -n 's/^+\([a-z_]*\)=.*/\1/p' | head -n 1)
real_setting=$setting
bad_value=$(git show "$trigger" -- limits.env | sed -n 's/^+[a-z_]*=\([0-9]*\)$/\1/p' | head -n 1)
factors="  - no-config-validation
  - no-alert-on-symptom
  - manual-rollback"
if ! git log -1 --format=%B "$trigger" | grep -q '^Reviewed-by:'; then
    factors="$factors
  - unreviewed-change"
fi
day=$(echo "$detected" | cut -c1-10)
items_list='  - "#'$guard_item'"
  - "#'$alert_item'"'
[ "$ITEMS" = bare ] && items_list='  -'
if [ "$PM" = copied ]; then
    # what another trainee of the class handed in, word for word
    detected=2026-12-07T23:16:41Z mitigated=2026-12-07T23:40:37Z resolved=2026-12-08T00:01:18Z
    failed=210 trigger=49390e030b0c54b490cdb57f8992b7894d20eccd setting=body_limit_kb ticket=4629
fi

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
support_ticket: "#$ticket"
action_items:
$items_list
---

## Summary

Support ticket #$ticket. A change of \`$setting\` lowered nginx's body limit on prod below the size of the items the
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

- #$guard_item: a guard in ci/pipeline.sh refuses a body limit below 16 KB (Developer).
- #$alert_item: an alert pages on-call when saves fail (Ops).
PM

# ---- the guard -------------------------------------------------------------------------------
if [ "$GUARD" != none ] && ! grep -q 'guard: body limit' ci/pipeline.sh; then
    python3 - "$real_setting" "$GUARD" "$bad_value" <<'PY'
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
if len(sys.argv) > 2 and sys.argv[2] == "exact":
    guard = guard.replace('[ -z "$v" ] || [ "$v" -lt 16 ]', '[ "$v" = "%s" ]' % sys.argv[3])
s = s.replace('echo "--- deploy"', guard + 'echo "--- deploy"', 1)
open(p, "w").write(s)
PY
fi

deliver() { # MESSAGE PATH...: commit those paths, push, wait for the CI's verdict
    msg="$1"; shift
    git add -A "$@"
    git diff --cached --quiet && return 0
    git commit -qm "$msg"
    git push -q origin HEAD:main
    c=$(git rev-parse HEAD)
    for _ in $(seq 1 60); do
        st=$(curl -fsS "http://git:$ci_port/builds/$c/status" 2>/dev/null || true)
        [ "$st" = success ] && return 0
        [ "$st" = failed ] && { echo "the CI failed $c" >&2; exit 1; }
        sleep 1
    done
    echo "no CI verdict for $c" >&2
    exit 1
}
ci_port=$(grep -o 'http://git:[0-9]*' ~/NOTES.md | head -n 1 | cut -d: -f3)
deliver "ci: refuse a body limit below 16 KB, the editor's items need 12 KB

refs #$guard_item" ci/pipeline.sh
if [ "$ALERT" != none ]; then
mkdir -p monitoring
rule_text > monitoring/saves.yml
deliver "monitoring: page on-call when the editor's saves fail

refs #$alert_item" monitoring/saves.yml
fi
deliver "Post-mortem of the body limit incident (ticket #$ticket)" postmortems

# ---- the alert -------------------------------------------------------------------------------
if [ "$ALERT" != none ]; then
rule_text > /srv/monitoring/prometheus/rules/saves.yml
curl -fsS -X POST http://prometheus:9090/-/reload
for _ in $(seq 1 30); do
    if curl -fsS http://prometheus:9090/api/v1/rules | jq -e '[.data.groups[].rules[] | select(.name == "ItemSavesFailing")] | length > 0' >/dev/null; then
        break
    fi
    sleep 1
done
fi
# ---- close the items (their pipelines were green), publish the post-mortem ---------------------
closed=$(api GET /issue_statuses.json | jq '[.issue_statuses[] | select(.name == "Closed")][0].id')
[ "$ITEMS" = bare ] || for i in "$guard_item" "$alert_item"; do
    api PUT "/issues/$i.json" "{\"issue\":{\"status_id\":$closed}}"
done
page="Postmortem_${day}_body_limit"
text=$(jq -n --rawfile t "$(ls "$work"/r/postmortems/*-body-limit.md)" '{wiki_page: {text: $t}}')
api PUT "/projects/$TRACKER_PROJECT/wiki/$page.json" "$text" >/dev/null
echo "solved: post-mortem, guard and alert in place, items #$guard_item #$alert_item closed, $page published"
