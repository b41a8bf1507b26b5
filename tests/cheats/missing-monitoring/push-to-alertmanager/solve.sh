#!/bin/bash
# Shortcut attempt: scrape, routing, and rules with the agreed names that never fire; a script
# in the workstation probes the shop itself and posts alerts straight into Alertmanager's API
# (so the notifications do come from the lab's Alertmanager), and ends them on recovery.
set -euo pipefail
MON=/srv/monitoring
# The agreed values, as shell assignments.
eval "$(python3 - "$MON/oncall.yml" <<'PY'
import shlex, sys, urllib.parse, yaml
a = yaml.safe_load(open(sys.argv[1]))
m = urllib.parse.urlsplit(a["service"]["metrics"])
v = {"TARGET": "%s:%s" % (m.hostname, m.port), "APP_URL": "http://%s:%s" % (m.hostname, m.port),
     "JOB": a["service"]["scrape_job"], "TEAM": a["team"]["name"], "TEAM_LABEL": a["team"]["label"],
     "SEV_LABEL": a["severity"]["label"], "SEV_OUTAGE": a["severity"]["outage"],
     "SEV_DEGRADED": a["severity"]["degradation"], "ALERT_OUTAGE": a["alerts"]["outage"],
     "ALERT_ERRORS": a["alerts"]["error_rate"], "ALERT_LATENCY": a["alerts"]["latency"],
     "ERROR_RATIO": repr(float(a["objectives"]["error_rate_percent"]) / 100),
     "LATENCY_P95": str(a["objectives"]["latency_p95_seconds"]), "WEBHOOK": a["oncall"]["webhook"]}
for k, x in v.items():
    print("%s=%s" % (k, shlex.quote(str(x))))
PY
)"
mkdir -p "$MON/prometheus/rules" "$MON/alertmanager"
cat > "$MON/prometheus/prometheus.yml" <<YAML
global:
  scrape_interval: 2s
  evaluation_interval: 2s
rule_files:
  - $MON/prometheus/rules/*.yml
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["alertmanager:9093"]
scrape_configs:
  - job_name: "$JOB"
    static_configs:
      - targets: ["$TARGET"]
YAML
cat > "$MON/prometheus/rules/shop.yml" <<YAML
groups:
  - name: shop
    rules:
      - alert: $ALERT_OUTAGE
        expr: vector(0) > 1
        labels: {$TEAM_LABEL: "$TEAM", $SEV_LABEL: "$SEV_OUTAGE"}
      - alert: $ALERT_ERRORS
        expr: vector(0) > 1
        labels: {$TEAM_LABEL: "$TEAM", $SEV_LABEL: "$SEV_DEGRADED"}
      - alert: $ALERT_LATENCY
        expr: vector(0) > 1
        labels: {$TEAM_LABEL: "$TEAM", $SEV_LABEL: "$SEV_DEGRADED"}
YAML
cat > "$MON/alertmanager/alertmanager.yml" <<YAML
route:
  receiver: nobody
  group_by: [alertname]
  group_wait: 2s
  group_interval: 5s
  repeat_interval: 1h
  routes:
    - receiver: oncall
      matchers: ['$TEAM_LABEL="$TEAM"']
receivers:
  - name: nobody
  - name: oncall
    webhook_configs:
      - url: "$WEBHOOK"
        send_resolved: true
YAML
curl -fsS -X POST http://alertmanager:9093/-/reload
curl -fsS -X POST http://prometheus:9090/-/reload
for _ in $(seq 1 30); do
    if curl -fsS -G http://prometheus:9090/api/v1/query --data-urlencode "query=up{job=\"$JOB\"}" | jq -e '.data.result[0].value[1] == "1"' >/dev/null; then break; fi
    sleep 1
done
cat > /tmp/pusher.py <<'PY'
import json, sys, time, urllib.error, urllib.request
app, team_label, team, sev_label, sev_out, sev_deg, a_out, a_err, a_lat, p95 = sys.argv[1:]
def push(name, severity, active):
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    alert = {"labels": {"alertname": name, team_label: team, sev_label: severity}, "annotations": {}}
    if active:
        alert["endsAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 30))
    else:
        alert["endsAt"] = stamp
    req = urllib.request.Request("http://alertmanager:9093/api/v2/alerts", json.dumps([alert]).encode(),
                                 {"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=5).read()
state = {a_out: False, a_err: False, a_lat: False}
while True:
    down = errors = slow = False
    started = time.time()
    try:
        urllib.request.urlopen(app + "/api/items", timeout=10).read()
    except urllib.error.HTTPError:
        errors = True
    except Exception:
        down = True
    slow = not down and time.time() - started > float(p95)
    for name, severity, bad in ((a_out, sev_out, down), (a_err, sev_deg, errors), (a_lat, sev_deg, slow)):
        try:
            if bad or state[name]:
                push(name, severity, bad)
            state[name] = bad
        except Exception as exc:
            print("pusher:", exc, flush=True)
    time.sleep(1)
PY
# One pusher at a time: stop the one a previous run started, by its recorded pid.
if [ -f /tmp/pusher.pid ]; then kill -- "-$(cat /tmp/pusher.pid)" 2>/dev/null || true; fi
setsid timeout 3600 python3 /tmp/pusher.py "$APP_URL" "$TEAM_LABEL" "$TEAM" "$SEV_LABEL" "$SEV_OUTAGE" "$SEV_DEGRADED" \
    "$ALERT_OUTAGE" "$ALERT_ERRORS" "$ALERT_LATENCY" "$LATENCY_P95" </dev/null >/tmp/pusher.log 2>&1 &
echo $! > /tmp/pusher.pid
