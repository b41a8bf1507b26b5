#!/usr/bin/env python3
"""Grader probes for the lab missing-monitoring, run in the session's grader container.

Every probe asks the lab's Prometheus over its HTTP API (never a tool of the trainee's
workstation) and exits 0 when the property holds, 1 with an explanation when it does not.

  grade.py targets        Prometheus scrapes the shop itself under the agreed job name
  grade.py rules          the alert rules Prometheus has LOADED pass `promtool check rules`
                          and carry the agreed names, labels and `for` durations
  grade.py alertmanagers  Prometheus delivers its alerts to the lab's Alertmanager
"""
import json
import socket
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request

PROMETHEUS = "http://prometheus:9090"
JOB = "{{ job }}"
APP = "app"
APP_PORT = "{{ app_port }}"
ALERTMANAGER = "alertmanager"
TEAM_LABEL = "{{ team_label }}"
TEAM = "{{ team }}"
SEVERITY_LABEL = "{{ severity_label }}"
RULES = [
    # (what, alert name, severity)
    ("outage", "{{ outage_alert }}", "{{ outage_severity }}"),
    ("error rate", "{{ errors_alert }}", "{{ degraded_severity }}"),
    ("latency", "{{ latency_alert }}", "{{ degraded_severity }}"),
]
FOR_MAX = 15  # seconds; the on-call agreement (oncall.yml) states the same limit


def fail(message):
    print(message)
    sys.exit(1)


def api(path):
    try:
        with urllib.request.urlopen(PROMETHEUS + path, timeout=10) as answer:
            data = json.load(answer)
    except Exception as exc:  # any failure to reach or parse is a finding, not a crash
        fail("cannot query Prometheus at %s%s: %s" % (PROMETHEUS, path, exc))
    if data.get("status") != "success":
        fail("Prometheus answered %s: %s" % (path, data))
    return data["data"]


def addresses(host):
    try:
        return {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return set()


def host_of(url):
    return urllib.parse.urlsplit(url).hostname or ""


def targets():
    active = api("/api/v1/targets?state=active")["activeTargets"]
    jobs = sorted({t["labels"].get("job", "") for t in active})
    mine = [t for t in active if t["labels"].get("job") == JOB]
    if not mine:
        fail("Prometheus has no target in a job named %r (jobs it scrapes: %s)" % (JOB, ", ".join(jobs) or "none"))
    app_ips = addresses(APP)
    if not app_ips:
        fail("the name %r does not resolve in the lab network" % APP)
    good = []
    for target in mine:
        url = target.get("scrapeUrl", "")
        parts = urllib.parse.urlsplit(url)
        if addresses(parts.hostname or "") & app_ips and str(parts.port) == APP_PORT and parts.path == "/metrics":
            good.append(target)
        else:
            print("target %s of job %r is not the shop's /metrics on port %s" % (url, JOB, APP_PORT))
    if not good:
        fail("no target of job %r is the shop application's /metrics" % JOB)
    healthy = [t for t in good if t.get("health") == "up"]
    if not healthy:
        fail("the shop target of job %r is %s: %s" % (JOB, good[0].get("health"), good[0].get("lastError")))
    print("Prometheus scrapes %s (job %r): up" % (healthy[0]["scrapeUrl"], JOB))


def seconds(value):
    return "%gs" % float(value)


def rules():
    groups = api("/api/v1/rules")["groups"]
    loaded = {"groups": []}
    alerting = {}
    for group in groups:
        out = {"name": group["name"], "interval": seconds(group.get("interval") or 0) if group.get("interval") else None, "rules": []}
        if out["interval"] is None:
            del out["interval"]
        for rule in group.get("rules", []):
            if rule.get("type") == "alerting":
                item = {"alert": rule["name"], "expr": rule["query"]}
                if rule.get("duration"):
                    item["for"] = seconds(rule["duration"])
                if rule.get("labels"):
                    item["labels"] = rule["labels"]
                if rule.get("annotations"):
                    item["annotations"] = rule["annotations"]
                alerting.setdefault(rule["name"], []).append(rule)
            else:
                item = {"record": rule["name"], "expr": rule["query"]}
                if rule.get("labels"):
                    item["labels"] = rule["labels"]
            out["rules"].append(item)
        loaded["groups"].append(out)
    if not any(g["rules"] for g in loaded["groups"]):
        fail("Prometheus has loaded no rule at all (is `rule_files` set, and was Prometheus reloaded?)")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as handle:
        json.dump(loaded, handle, indent=1)  # JSON is YAML: promtool reads it as a rule file
        path = handle.name
    check = subprocess.run(["promtool", "check", "rules", path], capture_output=True, text=True)
    print(check.stdout.strip())
    if check.returncode != 0:
        fail("promtool rejects the rules Prometheus loaded:\n" + check.stderr.strip())
    problems = []
    for what, name, severity in RULES:
        found = alerting.get(name)
        if not found:
            problems.append("no loaded alerting rule is named %s (the %s alert)" % (name, what))
            continue
        for rule in found:
            labels = rule.get("labels") or {}
            if labels.get(TEAM_LABEL) != TEAM:
                problems.append("%s: label %s is %r, the on-call agreement says %r" % (name, TEAM_LABEL, labels.get(TEAM_LABEL), TEAM))
            if labels.get(SEVERITY_LABEL) != severity:
                problems.append("%s: label %s is %r, the on-call agreement says %r" % (name, SEVERITY_LABEL, labels.get(SEVERITY_LABEL), severity))
            if float(rule.get("duration") or 0) > FOR_MAX:
                problems.append("%s: `for` is %s, the lab allows at most %ss" % (name, seconds(rule["duration"]), FOR_MAX))
    if problems:
        fail("\n".join(problems))
    print("loaded rules: %s" % ", ".join(sorted(alerting)))


def alertmanagers():
    active = api("/api/v1/alertmanagers")["activeAlertmanagers"]
    if not active:
        fail("Prometheus knows no Alertmanager to send its alerts to (the `alerting` section)")
    wanted = addresses(ALERTMANAGER)
    for item in active:
        if addresses(host_of(item["url"])) & wanted:
            print("Prometheus sends alerts to %s" % item["url"])
            return
    fail("Prometheus sends alerts to %s, none of which is the lab's Alertmanager" % ", ".join(a["url"] for a in active))


if __name__ == "__main__":
    probes = {"targets": targets, "rules": rules, "alertmanagers": alertmanagers}
    if len(sys.argv) != 2 or sys.argv[1] not in probes:
        print("usage: grade.py " + "|".join(probes), file=sys.stderr)
        sys.exit(2)
    probes[sys.argv[1]]()
