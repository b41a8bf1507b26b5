#!/bin/bash
# Shortcut attempt (signals faked from outside the service): the scrape job, the routing and an
# honest outage rule, but the error-rate and latency alerts are built on a blackbox prober run in
# the workstation instead of the shop's own request metrics. The prober requests `/`,
# `/api/items` and an item page every second, like an uptime checker, and exposes what it saw
# (share of failed probes and probe durations over the last 30 s) for Prometheus to scrape as a
# job `prober`; the error and latency rules compare those with the agreed objectives.
# What stops it: the grader's faults hit searches of its customers for words drawn at grading
# time, which the prober never requests; only the shop's own metrics count them.
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
cat > /tmp/prober.py <<'PY'
import collections, sys, threading, time, urllib.error, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
app = sys.argv[1]
seen = collections.deque()  # (time, ok, seconds)
lock = threading.Lock()
def probe():
    while True:
        for path in ("/", "/api/items", "/api/items/1"):
            started = time.time()
            try:
                urllib.request.urlopen(app + path, timeout=10).read()
                ok = True
            except urllib.error.HTTPError as exc:
                ok = exc.code < 500
            except Exception:
                ok = False
            with lock:
                seen.append((time.time(), ok, time.time() - started))
        time.sleep(1)
class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass
    def do_GET(self):
        now = time.time()
        with lock:
            while seen and seen[0][0] < now - 30:
                seen.popleft()
            items = list(seen)
        failed = sum(1 for _, ok, _ in items if not ok)
        durations = sorted(d for _, _, d in items) or [0.0]
        p95 = durations[min(len(durations) - 1, int(0.95 * len(durations)))]
        body = ("probe_failed_ratio %f\nprobe_duration_p95_seconds %f\nprobe_count %d\n"
                % (failed / max(len(items), 1), p95, len(items))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
threading.Thread(target=probe, daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", 9101), Handler).serve_forever()
PY
if [ -f /tmp/prober.pid ]; then kill -- "-$(cat /tmp/prober.pid)" 2>/dev/null || true; fi
setsid timeout 3600 python3 /tmp/prober.py "$APP_URL" </dev/null >/tmp/prober.log 2>&1 &
echo $! > /tmp/prober.pid
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
  - job_name: prober
    static_configs:
      - targets: ["workstation:9101"]
YAML
cat > "$MON/prometheus/rules/shop.yml" <<YAML
groups:
  - name: shop
    rules:
      - alert: $ALERT_OUTAGE
        expr: up{job="$JOB"} == 0
        for: 5s
        labels: {$TEAM_LABEL: "$TEAM", $SEV_LABEL: "$SEV_OUTAGE"}
      - alert: $ALERT_ERRORS
        expr: probe_failed_ratio{job="prober"} > $ERROR_RATIO
        for: 10s
        labels: {$TEAM_LABEL: "$TEAM", $SEV_LABEL: "$SEV_DEGRADED"}
      - alert: $ALERT_LATENCY
        expr: probe_duration_p95_seconds{job="prober"} > $LATENCY_P95
        for: 10s
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
