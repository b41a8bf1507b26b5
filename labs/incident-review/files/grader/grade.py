#!/usr/bin/env python3
"""The grader's side of incident-review: what happened (recomputed from the drawn values and the
inbox's anchor), the trainee's post-mortem read from the repository as the team reads it, and a
developer of the team who pushes changes of the proxy settings.

  grade.py truth                        what happened, as JSON
  grade.py postmortem PART              checks one part of the post-mortem: times, impact,
                                        trigger, factors (exit 1 with the reason)
  grade.py push KIND NUMBER             a developer pushes a change of the settings: KIND bad (the
                                        body limit lowered to a value drawn from NUMBER, of the
                                        incident's class) or harmless (the limit raised)
  grade.py status KIND NUMBER WANT [S]  the CI's final status of that push is WANT (waiting up to
                                        S seconds for a final status)
  grade.py post BYTES                   a customer saves an item of that many bytes through prod
  grade.py revert KIND NUMBER           the developer reverts the push, and waits for its run
  grade.py traffic start|stop           the catalogue editors save items (about 4 a second)
  grade.py bad-kb NUMBER                the body limit (KB) of the bad push of NUMBER
"""
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, "/opt/opslab/incident-review")
import incident  # noqa: E402

P = incident.P
REPO_URL = "git@git:%s.git" % P["config_repo"]
KEY = "/opt/opslab/incident-review/dev_key"
CI = "http://git:%s" % P["ci_port"]
PROD = ("prod", int(P["web_port"]))
STATE = "/tmp/opslab-incident"
DEVS = ["Nadia Roux", "Bruno Keller", "Alice Martin"]


def fail(msg):
    print(msg)
    sys.exit(1)


def git_env():
    return dict(os.environ, GIT_SSH_COMMAND="ssh -i %s -o BatchMode=yes -o StrictHostKeyChecking=no "
                "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10" % KEY,
                GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_NOSYSTEM="1")


def run(args, cwd=None, env=None):
    return subprocess.run(args, cwd=cwd, env=env or git_env(), capture_output=True, text=True, timeout=60)


def clone(dest):
    out = run(["git", "clone", "-q", "--depth", "50", "--branch", "main", REPO_URL, dest])
    if out.returncode != 0:
        fail("cannot clone %s: %s" % (REPO_URL, out.stderr.strip()[-400:]))


def truth():
    path = os.path.join(STATE, "truth.json")
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        pass
    t = incident.truth(incident.anchor_from_inbox())
    os.makedirs(STATE, exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(t, handle)
    return t


# ---- the post-mortem -------------------------------------------------------------------------

NOT_POSTMORTEMS = {"template.md", "factors.md", "readme.md"}


def front_matter(text):
    """The front matter of a post-mortem: `key: value` lines and `- item` lists between two `---`
    lines at the top (a YAML subset), or a JSON object between `;;;` lines."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines:
        return None
    if lines[0].strip() == ";;;":
        try:
            end = lines.index(";;;", 1)
            return json.loads("\n".join(lines[1:end]))
        except ValueError:
            return None
    if lines[0].strip() != "---":
        return None
    data, last = {}, None
    for line in lines[1:]:
        if line.strip() == "---":
            return data
        stripped = re.sub(r"(^|\s)#.*$", "", line).rstrip()
        if not stripped.strip():
            continue
        item = re.match(r"^\s*-\s*(.*)$", stripped)
        if item and last is not None:
            value = unquote(item.group(1))
            if not isinstance(data.get(last), list):
                data[last] = []
            if value:
                data[last].append(value)
            continue
        kv = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(.*)$", stripped)
        if kv:
            last = kv.group(1)
            value = kv.group(2).strip()
            if value.startswith("[") and value.endswith("]"):
                data[last] = [unquote(v) for v in value[1:-1].split(",") if v.strip()]
            else:
                data[last] = unquote(value)
    return None


def unquote(value):
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def postmortem():
    name, text = postmortem_text()
    data = front_matter(text)
    if data is None:
        fail("postmortems/%s has no front matter the team's tools can read (the template's `---` block)" % name)
    return name, data


def narrative():
    """The post-mortem's prose: everything after its front matter (the whole file without one)."""
    name, text = postmortem_text()
    lines = text.lstrip("\ufeff").splitlines()
    mark = lines[0].strip() if lines else ""
    if mark in ("---", ";;;") and mark in (l.strip() for l in lines[1:]):
        lines = lines[[l.strip() for l in lines].index(mark, 1) + 1:]
    body = "\n".join(lines).strip()
    if not body:
        fail("postmortems/%s has no narrative below its front matter" % name)
    print("postmortems/%s\n\n%s" % (name, body))


def postmortem_text():
    work = tempfile.mkdtemp()
    try:
        clone(os.path.join(work, "r"))
        folder = os.path.join(work, "r", "postmortems")
        found = []
        if os.path.isdir(folder):
            for name in sorted(os.listdir(folder)):
                if name.lower().endswith(".md") and name.lower() not in NOT_POSTMORTEMS:
                    with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as handle:
                        found.append((name, handle.read()))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not found:
        fail("no post-mortem in postmortems/ on main of %s (only the template and the list of factors)" % REPO_URL)
    if len(found) > 1:
        fail("%d post-mortems in postmortems/ on main (%s): the team keeps one for this incident"
             % (len(found), ", ".join(n for n, _ in found)))
    return found[0]


TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d)(?:\.\d+)?)?\s*(Z|UTC|GMT|[+-]00:?00)?$", re.I)


def parse_time(value):
    m = TIME.match(str(value or "").strip())
    if not m:
        return None
    y, mo, d, h, mi, s = (int(x or 0) for x in m.groups()[:6])
    import calendar
    return calendar.timegm((y, mo, d, h, mi, s, 0, 0, 0))


def check_times(data, t):
    problems = []
    for key, truth_key, what in (("detected_at", "detected_at", "detection"),
                                  ("mitigated_at", "mitigated_at", "mitigation"),
                                  ("resolved_at", "resolved_at", "resolution")):
        got = parse_time(data.get(key))
        if got is None:
            problems.append("%s: %r is not a UTC time such as 2026-01-31T14:05:00Z" % (key, data.get(key)))
        elif abs(got - t[truth_key]) > 120:
            problems.append("%s: %s is more than 2 minutes from the %s the traces show" % (key, data.get(key), what))
    return problems


def check_impact(data, t):
    problems = []
    m = re.search(r"\d[\d_, ]*", str(data.get("impact_failed_requests") or ""))
    count = int(re.sub(r"\D", "", m.group(0))) if m else None
    if count is None:
        problems.append("impact_failed_requests: not a count")
    elif abs(count - t["failed_requests"]) > 0.1 * t["failed_requests"]:
        problems.append("impact_failed_requests: %d is not within 10 %% of the failed requests in the logs" % count)
    endpoint = re.sub(r"\s+", " ", str(data.get("impact_endpoint") or "").strip())
    method, _, path = endpoint.partition(" ")
    if method.upper() + " " + path.rstrip("/") != t["endpoint"]:
        problems.append("impact_endpoint: %r is not the endpoint whose requests failed (METHOD /path)" % endpoint)
    return problems


def check_trigger(data, t):
    problems = []
    commit = str(data.get("trigger_commit") or "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{7,40}", commit) or not t["trigger_commit"].startswith(commit):
        problems.append("trigger_commit: %r is not the commit that caused the incident" % commit)
    if str(data.get("trigger_setting") or "").strip() != t["setting"]:
        problems.append("trigger_setting: %r is not the setting that caused it" % data.get("trigger_setting"))
    return problems


def check_factors(data, t):
    got = data.get("contributing_factors")
    if isinstance(got, str):
        got = [got] if got else []
    got = [str(g).strip() for g in (got or []) if str(g).strip()]
    unknown = [g for g in got if g not in t["factor_list"]]
    if unknown:
        return ["contributing_factors: %s not in the team's list (postmortems/FACTORS.md)" % ", ".join(unknown)]
    missing = [f for f in t["factors"] if f not in got]
    wrong = [g for g in got if g not in t["factors"]]
    problems = []
    if missing:
        problems.append("contributing_factors: %d factor(s) that played a part are missing" % len(missing))
    if wrong:
        problems.append("contributing_factors: %d listed factor(s) played no part in this incident" % len(wrong))
    return problems


# ---- a developer's pushes --------------------------------------------------------------------

def bad_kb(number):
    """A body limit of the incident's class (too small for the editor's 12 KB items), never the
    incident's own value."""
    kb = 1 + number % 11
    if kb == int(P["bad_kb"]):
        kb = 1 + (kb % 11)
    return kb


def harmless_kb(number):
    return int(P["good_kb"]) + 16 + number % 48


def slot(kind, number):
    return os.path.join(STATE, "%s-%d" % (kind, number))


def set_setting(text, value):
    lines = text.splitlines(keepends=True)
    out, done = [], False
    for line in lines:
        if re.match(r"^%s=" % re.escape(P["setting"]), line):
            out.append("%s=%d\n" % (P["setting"], value))
            done = True
        else:
            out.append(line)
    if not done:
        out.append("%s=%d\n" % (P["setting"], value))
    return "".join(out)


def push(kind, number):
    os.makedirs(STATE, exist_ok=True)
    value = bad_kb(number) if kind == "bad" else harmless_kb(number)
    who = DEVS[number % len(DEVS)]
    work = tempfile.mkdtemp()
    try:
        r = os.path.join(work, "r")
        clone(r)
        path = os.path.join(r, "limits.env")
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(set_setting(text, value))
        env = git_env()
        email = "%s@%s.example" % (who.split()[0].lower(), P["team"])
        env.update(GIT_AUTHOR_NAME=who, GIT_AUTHOR_EMAIL=email, GIT_COMMITTER_NAME=who, GIT_COMMITTER_EMAIL=email)
        msg = ("Set %s to %d: smaller bodies for the new mobile client" % (P["setting"], value) if kind == "bad"
               else "Set %s to %d: room for the richer descriptions" % (P["setting"], value))
        out = run(["git", "commit", "-qam", msg], cwd=r, env=env)
        if out.returncode != 0:
            fail("commit failed: " + out.stdout + out.stderr)
        head = run(["git", "rev-parse", "HEAD"], cwd=r).stdout.strip()
        for _ in range(3):
            out = run(["git", "push", "-q", "origin", "HEAD:main"], cwd=r, env=env)
            if out.returncode == 0:
                break
            run(["git", "pull", "-q", "--rebase", "origin", "main"], cwd=r, env=env)
            head = run(["git", "rev-parse", "HEAD"], cwd=r).stdout.strip()
        else:
            fail("push refused: " + out.stderr.strip()[-400:])
        with open(slot(kind, number), "w", encoding="utf-8") as handle:
            handle.write(head + "\n")
        print("%s pushed %s (%s=%d)" % (who, head[:12], P["setting"], value))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def pushed(kind, number):
    try:
        with open(slot(kind, number), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        fail("no %s push recorded for this grading" % kind)


def ci_status(commit):
    try:
        with urllib.request.urlopen("%s/builds/%s/status" % (CI, commit), timeout=5) as r:
            return r.read().decode().strip()
    except OSError:
        return "none"


def status(kind, number, want, wait=0):
    """The CI's final status of the push is WANT. With WAIT, waits up to that many seconds for a
    final status (success or failed) and fails at once on the other one."""
    commit = pushed(kind, number)
    deadline = time.time() + wait
    got = ci_status(commit)
    while got not in ("success", "failed") and time.time() < deadline:
        time.sleep(1)
        got = ci_status(commit)
    if got == want:
        print("the CI's status of %s (%s push) is %s" % (commit[:12], kind, got))
        return
    fail("the CI's status of %s (%s push) is %s, not %s" % (commit[:12], kind, got, want))


def post(size):
    name = "lamp-" + "x" * max(0, size - 120)
    body = json.dumps({"name": "Desk lamp", "price": 19.5, "description": name[: max(1, size - 60)]})
    conn = http.client.HTTPConnection(*PROD, timeout=10)
    try:
        conn.request("POST", "/api/items", body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
    except OSError as exc:
        fail("prod does not answer: %s" % exc)
    finally:
        conn.close()
    if resp.status != 201:
        fail("saving an item of %d bytes through prod answered %d" % (len(body), resp.status))


def revert(kind, number):
    commit = pushed(kind, number)
    work = tempfile.mkdtemp()
    try:
        r = os.path.join(work, "r")
        clone(r)
        env = git_env()
        env.update(GIT_AUTHOR_NAME="Nadia Roux", GIT_AUTHOR_EMAIL="nadia@%s.example" % P["team"],
                   GIT_COMMITTER_NAME="Nadia Roux", GIT_COMMITTER_EMAIL="nadia@%s.example" % P["team"])
        if run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=r).returncode != 0:
            return
        out = run(["git", "revert", "--no-edit", commit], cwd=r, env=env)
        if out.returncode != 0:
            fail("revert failed: " + out.stdout + out.stderr)
        head = run(["git", "rev-parse", "HEAD"], cwd=r).stdout.strip()
        out = run(["git", "push", "-q", "origin", "HEAD:main"], cwd=r, env=env)
        if out.returncode != 0:
            fail("push of the revert refused: " + out.stderr.strip()[-400:])
    finally:
        shutil.rmtree(work, ignore_errors=True)
    deadline = time.time() + 60
    while time.time() < deadline and ci_status(head) not in ("success", "failed"):
        time.sleep(1)


# ---- the catalogue editors -------------------------------------------------------------------

PIDFILE = os.path.join(STATE, "traffic.pid")


def traffic_loop():
    import random
    rng = random.Random()
    end = time.time() + 600
    while time.time() < end:
        size = rng.randint(300, 1500) if rng.random() < 0.6 else rng.randint(5000, 12 * 1024)
        try:
            post(size)
        except SystemExit:
            pass
        time.sleep(0.25)


def traffic(action):
    os.makedirs(STATE, exist_ok=True)
    try:
        with open(PIDFILE, encoding="utf-8") as handle:
            pid = int(handle.read().strip())
        os.kill(pid, 0)
        alive = True
    except (OSError, ValueError):
        alive, pid = False, None
    if action == "stop":
        if alive:
            os.kill(pid, signal.SIGTERM)
        return
    if alive:
        return
    child = os.fork()
    if child == 0:
        os.setsid()
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        with open(PIDFILE, "w", encoding="utf-8") as handle:
            handle.write(str(os.getpid()))
        traffic_loop()
        os._exit(0)
    time.sleep(0.3)


def main(argv):
    if not argv:
        fail(__doc__)
    cmd = argv[0]
    if cmd == "truth":
        print(json.dumps(truth(), indent=1))
    elif cmd == "postmortem":
        t = truth()
        name, data = postmortem()
        problems = {"times": check_times, "impact": check_impact, "trigger": check_trigger,
                    "factors": check_factors}[argv[1]](data, t)
        if problems:
            fail("postmortems/%s: %s" % (name, "; ".join(problems)))
        print("postmortems/%s: %s as the traces show" % (name, argv[1]))
    elif cmd == "narrative":
        narrative()
    elif cmd == "push":
        push(argv[1], int(argv[2]))
    elif cmd == "status":
        status(argv[1], int(argv[2]), argv[3], int(argv[4]) if len(argv) > 4 else 0)
    elif cmd == "post":
        post(int(argv[1]))
    elif cmd == "revert":
        revert(argv[1], int(argv[2]))
    elif cmd == "traffic":
        traffic(argv[1])
    elif cmd == "bad-kb":
        print(bad_kb(int(argv[1])))
    else:
        fail(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
