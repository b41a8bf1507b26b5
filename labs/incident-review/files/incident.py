#!/usr/bin/env python3
"""The incident of this session, generated from the trainee's drawn values and one anchor.

The anchor is the minute the on-call inbox first started (its first recorded notification sits a
known offset before it); every time of the incident is an offset before the anchor, so the same
anchor and the same values always give the same history, byte for byte (git hashes included).

  incident.py inbox ANCHOR            the inbox's store (JSON lines) for that anchor
  incident.py anchor                  the anchor, read from the inbox's API (first notification)
  incident.py repo DIR ANCHOR         the configuration repository's history, built in DIR
  incident.py ci DIR REPO_DIR ANCHOR  the CI's past runs (runs, counter, builds/) under DIR
  incident.py deploylog ANCHOR        production's deploy log
  incident.py accesslog ANCHOR        nginx's access log of the period (rotated file)
  incident.py openmetrics ANCHOR      the period's request counters, for promtool's backfill
  incident.py truth ANCHOR            what happened, as JSON (times, counts, commit, setting)

This file is rendered per trainee and removed from the hosts the trainee administers once they
are set up; only the grader keeps it.
"""
import json
import os
import random
import subprocess
import sys
import time
import urllib.request

P = json.loads(r'''{{ params | json_encode() | safe }}''')

TEAM = P["team"]
SETTING = P["setting"]
GOOD_KB = int(P["good_kb"])
BAD_KB = int(P["bad_kb"])
AUTHOR = P["author"]
ONCALL = P["oncall"]
REVIEWED = P["reviewed"] == "yes"
REPO = P["config_repo"]
DOMAIN = "%s.example" % TEAM
ENDPOINT = "POST /api/items"
GRACE = 60          # seconds between the end of the rotated access log and the anchor
FIRST_NOTE = -9 * 86400 - 3 * 3600  # offset of the inbox's first notification (a past drill)


def email(name):
    return "%s@%s" % (name.split()[0].lower(), DOMAIN)


def timeline(anchor):
    """The incident's times (unix seconds), all before the anchor."""
    commit_at = anchor - int(P["hours_ago"]) * 3600 - int(P["minute"]) * 60 - int(P["second"])
    deploy_at = commit_at + int(P["ci_secs"])
    detect_at = deploy_at + int(P["detect_min"]) * 60 + int(P["detect_sec"])
    ack_at = detect_at + int(P["ack_min"]) * 60 + 17
    mitigate_at = ack_at + int(P["mitigate_min"]) * 60 + int(P["mitigate_sec"])
    revert_at = mitigate_at + int(P["revert_min"]) * 60 + 23
    resolve_at = mitigate_at + int(P["resolve_min"]) * 60 + 41
    return {
        "commit_at": commit_at, "deploy_at": deploy_at, "detect_at": detect_at, "ack_at": ack_at,
        "mitigate_at": mitigate_at, "revert_at": revert_at, "resolve_at": resolve_at,
        "log_from": commit_at - 40 * 60, "log_to": anchor - GRACE,
    }


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def hhmm(t):
    return time.strftime("%H:%M", time.gmtime(t))


# ---- the on-call inbox ------------------------------------------------------------------------

def note(at, status, receiver, sender, addr, alerts):
    return {
        "received_at": float(at), "remote_addr": addr, "remote_name": sender, "path": "/hook",
        "payload": {"version": "4", "status": status, "receiver": receiver, "groupKey": "oncall/" + receiver,
                    "alerts": alerts},
    }


def alert(name, status, at, summary, labels=None):
    lab = {"alertname": name, "team": TEAM}
    lab.update(labels or {})
    return {"status": status, "labels": lab, "annotations": {"summary": summary}, "startsAt": iso(at)}


def inbox(anchor):
    t = timeline(anchor)
    ticket = int(P["ticket"])
    notes = [
        note(anchor + FIRST_NOTE, "resolved", "oncall", "oncall-drill", "10.20.0.9",
             [alert("OnCallDrill", "resolved", anchor + FIRST_NOTE - 600,
                    "Monthly paging drill: acknowledged by %s" % ONCALL)]),
        note(t["detect_at"], "firing", "oncall", "support-desk", "10.20.0.14",
             [alert("CustomerReport", "firing", t["detect_at"],
                    "Ticket #%d: customers of the catalogue editor cannot save items "
                    "(\"413 Request Entity Too Large\"); several reports in the last minutes" % ticket,
                    {"source": "support", "severity": "page"})]),
        note(t["ack_at"], "firing", "oncall", "oncall-bot", "10.20.0.9",
             [alert("IncidentUpdate", "firing", t["ack_at"],
                    "%s acknowledged ticket #%d and is investigating the failed saves" % (ONCALL, ticket),
                    {"source": "oncall"})]),
        note(t["mitigate_at"] + 40, "firing", "oncall", "oncall-bot", "10.20.0.9",
             [alert("IncidentUpdate", "firing", t["mitigate_at"] + 40,
                    "%s: changed the edge proxy's settings back by hand on prod; watching the saves" % ONCALL,
                    {"source": "oncall"})]),
        note(t["resolve_at"], "resolved", "oncall", "support-desk", "10.20.0.14",
             [alert("CustomerReport", "resolved", t["detect_at"],
                    "Ticket #%d closed by %s: saves work again, customers confirmed; incident over" % (ticket, ONCALL),
                    {"source": "support", "severity": "page"})]),
    ]
    return notes


def anchor_from_inbox(url="http://inbox:8080/api/notifications"):
    for _ in range(30):
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                items = json.load(r)
            first = min(n["received_at"] for n in items)
            return int(round(first)) - FIRST_NOTE
        except (OSError, ValueError, KeyError):
            time.sleep(1)
    raise SystemExit("the inbox does not answer: no anchor")


# ---- the configuration repository ------------------------------------------------------------

def limits(body_kb, read_timeout=60):
    return (
        "# Settings of the shop's edge proxy (nginx on prod), deployed by ci/pipeline.sh.\n"
        "# Sizes in KB, durations in seconds.\n"
        "%s=%d\n"
        "proxy_read_timeout_s=%d\n"
        "keepalive_timeout_s=65\n" % (SETTING, body_kb, read_timeout)
    )


README = """# %(repo)s

The settings of the shop's edge proxy (nginx in front of the shop on prod), one `KEY=VALUE` a
line in `limits.env`. Every push to `main` runs `ci/pipeline.sh` on the CI (http://git:%(ci)s/),
which checks the file and applies it on prod (`/usr/local/sbin/apply-limits`, logged to
`/var/log/shop-deploy.log`).

| setting | what it does on nginx |
|---|---|
| `%(setting)s` | largest request body accepted (`client_max_body_size`), in KB |
| `proxy_read_timeout_s` | how long nginx waits for the shop's answer |
| `keepalive_timeout_s` | idle keep-alive connections |

What the shop needs: the catalogue editor sends items (`POST /api/items`) with their
descriptions, up to 12 KB each; other requests have small bodies.

Incidents: post-mortems go to `postmortems/`, written from `postmortems/TEMPLATE.md`, with the
contributing factors of `postmortems/FACTORS.md`.
"""

PIPELINE = r"""#!/bin/bash
# The pipeline of the proxy settings: check limits.env, then apply it on prod.
set -euo pipefail
cd "$CI_WORKSPACE"

echo "--- validate"
# every line is a comment or KEY=INTEGER
if grep -vE '^(#.*|[a-z_]+=[0-9]+|)$' limits.env; then
    echo "limits.env: lines above are not KEY=INTEGER"
    exit 1
fi
echo "limits.env: $(grep -cE '^[a-z_]+=' limits.env) settings"

echo "--- deploy"
scp -q -o BatchMode=yes limits.env deploy@prod:/tmp/limits.env.$CI_RUN
ssh -o BatchMode=yes deploy@prod "sudo /usr/local/sbin/apply-limits /tmp/limits.env.$CI_RUN $CI_COMMIT ci-run-$CI_RUN"
echo "deployed $CI_COMMIT"
"""

TEMPLATE = """---
# Post-mortem of the team. Copy this file to postmortems/<YYYY-MM-DD>-<short-name>.md.
# Times: UTC, ISO 8601 (2026-01-31T14:05:00Z). One value a line; lists as "- item" lines.
title:
support_ticket:         # the support ticket that reported it, quoted: "#1234"
detected_at:            # when the team was first told (the on-call channel)
mitigated_at:           # when users stopped failing
resolved_at:            # when the incident was declared over
impact_failed_requests: # requests that failed because of the incident (a count)
impact_endpoint:        # METHOD /path
trigger_commit:         # the commit that caused it (full hash)
trigger_setting:        # the setting it changed
contributing_factors:   # ids from postmortems/FACTORS.md
  -
action_items:           # tracker issues, quoted: "#12"
  -
---

## Summary

## Timeline

## Impact

## Root cause and trigger

## What went well, what went wrong

## Action items
"""

FACTORS = """# Contributing factors (the team's list)

Use these ids in a post-mortem's `contributing_factors`. Name every factor that played a part,
and only those.

| id | factor |
|---|---|
| `no-config-validation` | the pipeline applies a setting without checking that its value is safe |
| `no-alert-on-symptom` | no alert watches the signal that showed the failure; users told us first |
| `unreviewed-change` | the change reached main without a review |
| `manual-rollback` | going back needed a person on prod, by hand |
| `capacity-exhausted` | a resource (disk, memory, connections) ran out |
| `dependency-outage` | a service we depend on failed |
| `expired-certificate` | a certificate expired |
| `flaky-test-ignored` | a failing test was ignored or skipped |
"""


def git(cwd, env, *args):
    subprocess.run(["git", *args], cwd=cwd, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def commit(cwd, who, at, message):
    env = dict(os.environ)
    env.update({
        "GIT_AUTHOR_NAME": who, "GIT_AUTHOR_EMAIL": email(who), "GIT_AUTHOR_DATE": "@%d +0000" % at,
        "GIT_COMMITTER_NAME": who, "GIT_COMMITTER_EMAIL": email(who), "GIT_COMMITTER_DATE": "@%d +0000" % at,
        "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1",
    })
    git(cwd, env, "add", "-A")
    git(cwd, env, "commit", "-q", "--no-gpg-sign", "-m", message)
    out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, env=env, check=True,
                         capture_output=True, text=True)
    return out.stdout.strip()


def write(root, path, text, mode=0o644):
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(full, mode)


def bad_message():
    reason = P["reason"]
    msg = "Lower %s to %d: %s" % (SETTING, BAD_KB, reason)
    if REVIEWED:
        msg += "\n\nReviewed-by: %s <%s>" % (P["reviewer"], email(P["reviewer"]))
    else:
        msg += "\n\nSmall change, pushed straight to main."
    return msg


def repo(root, anchor):
    """Builds the repository's history in ROOT (a new folder); returns the commits, oldest first."""
    t = timeline(anchor)
    env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")
    os.makedirs(root)
    git(root, env, "init", "-q", "-b", "main")
    day = 86400
    ci = P["ci_port"]
    commits = []
    write(root, "README.md", README % {"repo": REPO, "ci": ci, "setting": SETTING})
    write(root, "limits.env", limits(GOOD_KB, 30))
    commits.append(("Alice Martin", anchor - 41 * day + 3600 * 3, "Import the edge proxy settings of the shop"))
    commits[-1] = commits[-1] + (commit(root, *commits[-1]),)
    write(root, "ci/pipeline.sh", PIPELINE, 0o755)
    c = ("Bruno Keller", anchor - 33 * day + 5000, "ci: check limits.env and apply it on prod at every push to main")
    commits.append(c + (commit(root, *c),))
    write(root, "postmortems/TEMPLATE.md", TEMPLATE)
    write(root, "postmortems/FACTORS.md", FACTORS)
    c = (ONCALL, anchor - 19 * day + 7000, "postmortems: the template and the contributing factors agreed at the retro")
    commits.append(c + (commit(root, *c),))
    write(root, "limits.env", limits(GOOD_KB, 60))
    c = (P["reviewer"], anchor - 6 * day + 9000, "Raise proxy_read_timeout_s to 60 for the nightly catalogue export")
    commits.append(c + (commit(root, *c),))
    write(root, "limits.env", limits(BAD_KB, 60))
    c = (AUTHOR, t["commit_at"], bad_message())
    commits.append(c + (commit(root, *c),))
    bad = commits[-1][3]
    write(root, "limits.env", limits(GOOD_KB, 60))
    c = (ONCALL, t["revert_at"], "Revert \"Lower %s to %d\"\n\nThis reverts commit %s.\nAlready put back by hand on prod at %s UTC; the repository follows." % (SETTING, BAD_KB, bad, hhmm(t["mitigate_at"])))
    commits.append(c + (commit(root, *c),))
    return [{"author": a, "at": at, "message": m, "commit": h} for a, at, m, h in commits]


# ---- the CI's past runs and the deploy log ---------------------------------------------------

def ci(base, repo_dir, anchor):
    t = timeline(anchor)
    history = repo(repo_dir, anchor)
    kbs = [GOOD_KB, GOOD_KB, GOOD_KB, GOOD_KB, BAD_KB, GOOD_KB]
    ends = [None, None, None, None, t["deploy_at"], None]
    lines = []
    deploy = []
    number = 0
    for i, c in enumerate(history):
        if i == 0:
            continue
        number += 1
        start = c["at"] + 4
        end = ends[i] or start + int(P["ci_secs"]) - 4
        out = os.path.join(base, "www", "builds", c["commit"])
        os.makedirs(out, exist_ok=True)
        log = (
            "== run %d: %s main %s\n== pipeline: ci/pipeline.sh\n--- validate\nlimits.env: 3 settings\n"
            "--- deploy\napplied %s on prod: %s=%d proxy_read_timeout_s=%d keepalive_timeout_s=65; nginx reloaded\n"
            "deployed %s\n== result: success\n"
        ) % (number, REPO, c["commit"], c["commit"][:12], SETTING, kbs[i], 30 if i < 3 else 60, c["commit"])
        for name, value in (("status", "success\n"), ("started", iso(start) + "\n"), ("finished", iso(end) + "\n"),
                            ("run", "%d\n" % number), ("log", log)):
            with open(os.path.join(out, name), "w", encoding="utf-8") as handle:
                handle.write(value)
        lines.append("%d %s main %s\n" % (number, REPO, c["commit"]))
        deploy.append((end, "%s apply commit=%s by=ci-run-%d %s=%d proxy_read_timeout_s=%d keepalive_timeout_s=65: nginx reloaded" % (
            iso(end), c["commit"], number, SETTING, kbs[i], 30 if i < 3 else 60)))
    with open(os.path.join(base, "runs"), "w", encoding="utf-8") as handle:
        handle.writelines(lines)
    with open(os.path.join(base, "counter"), "w", encoding="utf-8") as handle:
        handle.write("%d\n" % number)
    return history, deploy


def deploylog(anchor):
    """Production's deploy log: every CI apply and the manual one of the incident."""
    import tempfile
    t = timeline(anchor)
    with tempfile.TemporaryDirectory() as tmp:
        _, deploy = ci(os.path.join(tmp, "ci"), os.path.join(tmp, "repo"), anchor)
    deploy.append((t["mitigate_at"], "%s apply file=/etc/nginx/shop-limits.conf by=%s (by hand, vi) %s=%d: nginx reloaded" % (
        iso(t["mitigate_at"]), email(ONCALL).split("@")[0], SETTING, GOOD_KB)))
    deploy.sort()
    return "".join(line + "\n" for _, line in deploy)


# ---- the requests ----------------------------------------------------------------------------

CLIENTS = ["203.0.113.%d" % i for i in range(10, 60)] + ["198.51.100.%d" % i for i in range(5, 40)]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64) Firefox/131.0", "Mozilla/5.0 (Macintosh) Safari/605.1.15",
          "catalogue-editor/3.2", "Mozilla/5.0 (Windows NT 10.0) Chrome/130.0"]


def requests(anchor):
    """Every request of the logged period: (t, method, path, status, bytes, request_length, client, agent)."""
    t = timeline(anchor)
    rng = random.Random("%s|%s|%d" % (json.dumps(P, sort_keys=True), "requests", anchor))
    per_min = int(P["post_per_min"])
    big = int(P["big_share"]) / 100.0
    limit_bad = BAD_KB * 1024
    out = []
    for minute in range(t["log_from"], t["log_to"], 60):
        # browsing
        for _ in range(rng.randint(50, 80)):
            at = minute + rng.random() * 60
            r = rng.random()
            if r < 0.2:
                path, size = "/", 120
            elif r < 0.55:
                path, size = "/api/items", 2400 + rng.randint(0, 800)
            else:
                path, size = "/api/items/%d" % rng.randint(1, 400), 60 + rng.randint(0, 20)
            out.append((at, "GET", path, 200, size, rng.randint(380, 520), rng.choice(CLIENTS), rng.choice(AGENTS)))
        # the catalogue editor saves items
        for _ in range(max(1, per_min + rng.randint(-3, 3))):
            at = minute + rng.random() * 60
            if rng.random() < big:
                length = rng.randint(limit_bad + 300, 12 * 1024)
            else:
                length = rng.randint(350, min(1500, limit_bad - 200))
            failing = t["deploy_at"] <= at < t["mitigate_at"] and length > limit_bad
            status, size = (413, 183) if failing else (201, 60 + rng.randint(0, 30))
            out.append((at, "POST", "/api/items", status, size, length, rng.choice(CLIENTS), "catalogue-editor/3.2"))
    out = [r for r in out if r[0] < t["log_to"]]
    out.sort()
    return out


def accesslog(anchor):
    lines = []
    for at, method, path, status, size, length, client, agent in requests(anchor):
        stamp = time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(at))
        lines.append('%s - - [%s] "%s %s HTTP/1.1" %d %d "-" "%s" %d %.3f\n' % (
            client, stamp, method, path, status, size, agent, length, 0.004 + (length % 37) / 1000.0))
    return "".join(lines)


def route(path):
    if path.startswith("/api/items/"):
        return "/api/items/:id"
    return path


def openmetrics(anchor):
    t = timeline(anchor)
    reqs = requests(anchor)
    step = 15
    counts = {}
    series = {}
    i = 0
    start = t["log_from"] - t["log_from"] % step + step
    for at in range(start, t["log_to"], step):
        while i < len(reqs) and reqs[i][0] <= at:
            key = (reqs[i][1], route(reqs[i][2]), str(reqs[i][3]))
            counts[key] = counts.get(key, 0) + 1
            i += 1
        for key, n in counts.items():
            series.setdefault(key, []).append((at, n))
    out = ["# HELP nginx_http_requests Requests answered by nginx, by method, route and status.\n",
           "# TYPE nginx_http_requests counter\n"]
    for (method, rt, status), points in sorted(series.items()):
        labels = 'instance="prod:9113",job="nginx",method="%s",route="%s",status="%s"' % (method, rt, status)
        for at, n in points:
            out.append("nginx_http_requests_total{" + labels + "} %d %d\n" % (n, at))
    out.append("# EOF\n")
    return "".join(out)


def truth(anchor):
    import tempfile
    t = timeline(anchor)
    with tempfile.TemporaryDirectory() as tmp:
        history = repo(os.path.join(tmp, "r"), anchor)
    failed = sum(1 for r in requests(anchor) if r[3] == 413)
    factors = ["no-config-validation", "no-alert-on-symptom", "manual-rollback"]
    if not REVIEWED:
        factors.append("unreviewed-change")
    return {
        "anchor": anchor,
        "detected_at": t["detect_at"], "mitigated_at": t["mitigate_at"], "resolved_at": t["resolve_at"],
        "deployed_at": t["deploy_at"],
        "failed_requests": failed, "endpoint": ENDPOINT,
        "trigger_commit": history[4]["commit"], "revert_commit": history[5]["commit"],
        "setting": SETTING, "bad_kb": BAD_KB, "good_kb": GOOD_KB,
        "factors": factors,
        "factor_list": ["no-config-validation", "no-alert-on-symptom", "unreviewed-change", "manual-rollback",
                        "capacity-exhausted", "dependency-outage", "expired-certificate", "flaky-test-ignored"],
    }


def main(argv):
    if not argv:
        raise SystemExit(__doc__)
    cmd = argv[0]
    if cmd == "anchor":
        print(anchor_from_inbox())
    elif cmd == "inbox":
        for n in inbox(int(argv[1])):
            sys.stdout.write(json.dumps(n, sort_keys=True) + "\n")
    elif cmd == "repo":
        print(json.dumps(repo(argv[1], int(argv[2])), indent=1))
    elif cmd == "ci":
        ci(argv[1], argv[2], int(argv[3]))
    elif cmd == "deploylog":
        sys.stdout.write(deploylog(int(argv[1])))
    elif cmd == "accesslog":
        sys.stdout.write(accesslog(int(argv[1])))
    elif cmd == "openmetrics":
        sys.stdout.write(openmetrics(int(argv[1])))
    elif cmd == "truth":
        print(json.dumps(truth(int(argv[1])), indent=1))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
