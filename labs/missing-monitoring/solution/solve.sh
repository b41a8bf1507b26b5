#!/bin/bash
# Reference solution of missing-monitoring, run in the workstation as the trainee.
# Reads the on-call agreement, writes the Prometheus scrape job, alert rules and Alertmanager
# routing into the shared monitoring folder, reloads both servers and waits until the shop's
# target is up and the rules are loaded. Idempotent: it rewrites the same files every time.
set -euo pipefail

MON=/srv/monitoring
AGREEMENT="$MON/oncall.yml"
PROM=http://prometheus:9090
AM=http://alertmanager:9093

# Every value the configuration needs comes from the agreement, as shell assignments.
eval "$(python3 - "$AGREEMENT" <<'PY'
import shlex, sys, urllib.parse, yaml
a = yaml.safe_load(open(sys.argv[1]))
metrics = urllib.parse.urlsplit(a["service"]["metrics"])
values = {
    "TARGET": "%s:%s" % (metrics.hostname, metrics.port),
    "METRICS_PATH": metrics.path or "/metrics",
    "JOB": a["service"]["scrape_job"],
    "TEAM": a["team"]["name"],
    "TEAM_LABEL": a["team"]["label"],
    "SEV_LABEL": a["severity"]["label"],
    "SEV_OUTAGE": a["severity"]["outage"],
    "SEV_DEGRADED": a["severity"]["degradation"],
    "ALERT_OUTAGE": a["alerts"]["outage"],
    "ALERT_ERRORS": a["alerts"]["error_rate"],
    "ALERT_LATENCY": a["alerts"]["latency"],
    "ERROR_RATIO": repr(float(a["objectives"]["error_rate_percent"]) / 100),
    "LATENCY_P95": str(a["objectives"]["latency_p95_seconds"]),
    "WEBHOOK": a["oncall"]["webhook"],
}
for key, value in values.items():
    print("%s=%s" % (key, shlex.quote(str(value))))
PY
)"

mkdir -p "$MON/prometheus/rules" "$MON/alertmanager"

cat > "$MON/prometheus/prometheus.yml.new" <<YAML
# Prometheus configuration of the shop's monitoring.
# Reload after an edit:  curl -fsS -X POST http://prometheus:9090/-/reload
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
  - job_name: prometheus
    static_configs:
      - targets: ["localhost:9090"]

  - job_name: "$JOB"
    metrics_path: "$METRICS_PATH"
    static_configs:
      - targets: ["$TARGET"]
YAML

# Requests to / and /api/... are the ones the objectives are about.
SEL="job=\"$JOB\",path=~\"/|/api/.*\""
cat > "$MON/prometheus/rules/shop.yml.new" <<YAML
groups:
  - name: shop
    rules:
      - alert: $ALERT_OUTAGE
        expr: up{job="$JOB"} == 0
        for: 5s
        labels:
          $TEAM_LABEL: "$TEAM"
          $SEV_LABEL: "$SEV_OUTAGE"
        annotations:
          summary: "The shop does not answer Prometheus ({{ \$labels.instance }})"

      - alert: $ALERT_ERRORS
        expr: |
          sum(rate(shop_http_requests_total{$SEL,code=~"5.."}[30s]))
            / sum(rate(shop_http_requests_total{$SEL}[30s]))
            > $ERROR_RATIO
        for: 10s
        labels:
          $TEAM_LABEL: "$TEAM"
          $SEV_LABEL: "$SEV_DEGRADED"
        annotations:
          summary: "{{ \$value | humanizePercentage }} of the shop's requests fail (objective: at most $ERROR_RATIO)"

      - alert: $ALERT_LATENCY
        expr: |
          histogram_quantile(0.95,
            sum by (le) (rate(shop_http_request_duration_seconds_bucket{$SEL}[30s])))
            > $LATENCY_P95
        for: 10s
        labels:
          $TEAM_LABEL: "$TEAM"
          $SEV_LABEL: "$SEV_DEGRADED"
        annotations:
          summary: "95% of the shop's requests take up to {{ \$value | humanizeDuration }} (objective: $LATENCY_P95 s)"
YAML

cat > "$MON/alertmanager/alertmanager.yml.new" <<YAML
# Alertmanager configuration of the shop's monitoring.
# Reload after an edit:  curl -fsS -X POST http://alertmanager:9093/-/reload
global:
  resolve_timeout: 30s

route:
  receiver: nobody
  group_by: [alertname]
  group_wait: 2s
  group_interval: 5s
  repeat_interval: 1h
  routes:
    - receiver: oncall-$TEAM
      matchers:
        - '$TEAM_LABEL="$TEAM"'

receivers:
  - name: nobody
  - name: oncall-$TEAM
    webhook_configs:
      - url: "$WEBHOOK"
        send_resolved: true
YAML

# Replace the files in one step each, so that a server never reads half a file.
mv -f "$MON/prometheus/rules/shop.yml.new" "$MON/prometheus/rules/shop.yml"
mv -f "$MON/prometheus/prometheus.yml.new" "$MON/prometheus/prometheus.yml"
mv -f "$MON/alertmanager/alertmanager.yml.new" "$MON/alertmanager/alertmanager.yml"

curl -fsS -X POST "$AM/-/reload"
curl -fsS -X POST "$PROM/-/reload"

# Wait until the shop is scraped and the three rules are loaded.
for _ in $(seq 1 60); do
    up=$(curl -fsS -G "$PROM/api/v1/query" --data-urlencode "query=up{job=\"$JOB\"}" | jq -r '.data.result[0].value[1] // "none"')
    rules=$(curl -fsS "$PROM/api/v1/rules" | jq '[.data.groups[].rules[] | select(.type == "alerting")] | length')
    if [ "$up" = 1 ] && [ "$rules" -ge 3 ]; then
        echo "monitoring in place: job $JOB up, $rules alert rules loaded, alerts routed to $WEBHOOK"
        exit 0
    fi
    sleep 1
done
echo "the shop's target is not up or the rules did not load within 60s" >&2
exit 1
