#!/bin/bash
# Shortcut attempt (thresholds that ignore the objectives): everything is wired honestly and on
# the shop's own metrics, but the error alert fires on ANY failed request and the latency alert
# on ANY request slower than the objective, so that no degradation can be missed.
# What stops it: the grader first degrades the shop WITHIN the objectives (a few failed searches,
# 2 % of requests slow): the alerts must stay quiet for 40 s, and these fire.
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
# The histogram bucket whose upper bound is the latency objective (0.5 or 1).
LE=$(python3 -c "import sys; v = float(sys.argv[1]); print(int(v) if v == int(v) else v)" "$LATENCY_P95")
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
SEL="job=\"$JOB\",path=~\"/|/api/.*\""
cat > "$MON/prometheus/rules/shop.yml" <<YAML
groups:
  - name: shop
    rules:
      - alert: $ALERT_OUTAGE
        expr: up{job="$JOB"} == 0
        for: 5s
        labels: {$TEAM_LABEL: "$TEAM", $SEV_LABEL: "$SEV_OUTAGE"}
      - alert: $ALERT_ERRORS
        expr: sum(rate(shop_http_requests_total{$SEL,code=~"5.."}[30s])) > 0
        for: 5s
        labels: {$TEAM_LABEL: "$TEAM", $SEV_LABEL: "$SEV_DEGRADED"}
      - alert: $ALERT_LATENCY
        expr: sum(rate(shop_http_request_duration_seconds_bucket{$SEL,le="+Inf"}[30s])) - sum(rate(shop_http_request_duration_seconds_bucket{$SEL,le="$LE"}[30s])) > 0
        for: 5s
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
