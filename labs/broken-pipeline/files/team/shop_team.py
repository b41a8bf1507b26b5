#!/usr/bin/env python3
"""The shop's development team, as the grader plays it (runs in the grader container only).

Every grading draws, from its seed (`run.token`), who pushes, what they write and what the
change does: the team's members are the repository's own authors, versions continue the
repository's sequence, tests are added or changed in the project's test files, in their style.
What a release does is drawn too: the VAT rate that the shop's API applies to prices
(`price_incl_vat` of `/api/items/<id>`), so that only the pushed code, running on production,
answers with the right figure. The grader reads it from production through the shop's API, as a
user would (same Host, same kind of client), never from a version string or a page.

  shop_team.py ACTION --seed S --slot NAME [options]

Pushes:   release (a good release), freeze (a release freeze in ci/pipeline.sh and a release
          behind it), lift (the freeze lifted), break (a release whose tests fail), revert,
          report (a passing change, then a failing one).
Probes:   price (prod applies the slot's rate: exit 0), never (prod does not apply it: exit 0;
          no answer counts as not applying it), healthy, fingerprint (the CI log of the freeze
          shows the value only running the committed ci/pipeline.sh computes), status (the first
          final status the CI gave a pushed commit).
State lives in /tmp/opslab-team/<seed>/ in the grader container.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from decimal import ROUND_HALF_UP, Decimal

TEAM = [
    ("Alice Martin", "alice"),
    ("Malik Benali", "malik"),
    ("Sofia Rossi", "sofia"),
    ("Jonas Weber", "jonas"),
    ("Ines Moreau", "ines"),
    ("Tomasz Nowak", "tomasz"),
    ("Priya Raman", "priya"),
    ("Lucas Petit", "lucas"),
]
RATES = ["5.5", "6", "7", "7.7", "8", "8.1", "9", "10", "12", "13", "13.5", "14", "15", "16",
         "17", "18", "19", "20", "21", "22", "23", "24", "25", "25.5", "27"]
PRODUCTS = ["mug", "tote bag", "notebook", "desk lamp", "poster", "hoodie", "water bottle",
            "sticker pack", "tea towel", "umbrella", "backpack", "candle", "pen set", "apron"]
BUGS = ["net", "tenth", "twice"]
REASONS = ["the stock-take", "the payment provider migration", "the winter sales",
           "the warehouse move", "the price list audit", "the accounting year end"]
UA = "curl/7.88.1"
SLOTS = {"release": 0, "freeze": 1, "held": 2, "reported": 3}

PRICING = '''"""Prices as customers see them: VAT included, rounded to the cent."""
from decimal import ROUND_HALF_UP, Decimal

VAT_RATE = Decimal("{rate}")


def price_incl_vat(price):
    """The price with VAT, rounded half up to the cent."""
{body}
'''
BODIES = {
    "ok": '    gross = Decimal(str(price)) * (1 + VAT_RATE)\n'
          '    return float(gross.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
    "net": '    gross = Decimal(str(price)) * VAT_RATE\n'
           '    return float(gross.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
    "tenth": '    gross = Decimal(str(price)) * (1 + VAT_RATE)\n'
             '    return float(gross.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))',
    "twice": '    gross = Decimal(str(price)) * (1 + VAT_RATE) * (1 + VAT_RATE)\n'
             '    return float(gross.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))',
}
RATE_LINE = re.compile(r'^VAT_RATE = Decimal\("([0-9.]+)"\)$', re.M)


def fail(msg):
    print(msg)
    sys.exit(1)


def rate_of(pct):
    return (Decimal(pct) / 100).normalize()


def gross(price, rate, kind="ok"):
    p = Decimal(str(price))
    r = Decimal(rate)
    if kind == "net":
        v, q = p * r, Decimal("0.01")
    elif kind == "tenth":
        v, q = p * (1 + r), Decimal("0.1")
    elif kind == "twice":
        v, q = p * (1 + r) * (1 + r), Decimal("0.01")
    else:
        v, q = p * (1 + r), Decimal("0.01")
    return float(v.quantize(q, rounding=ROUND_HALF_UP))


# --- state ------------------------------------------------------------------------------------

class State:
    def __init__(self, seed):
        self.dir = os.path.join("/tmp/opslab-team", re.sub(r"[^a-z0-9]", "", seed.lower()) or "x")
        os.makedirs(self.dir, exist_ok=True)

    def path(self, slot):
        return os.path.join(self.dir, slot + ".json")

    def load(self, slot):
        try:
            with open(self.path(slot), encoding="utf-8") as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            return {}

    def save(self, slot, data):
        tmp = self.path(slot) + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, self.path(slot))


# --- git --------------------------------------------------------------------------------------

class Repo:
    def __init__(self, url, key, branch="main"):
        self.url, self.branch = url, branch
        self.dir = tempfile.mkdtemp(prefix="team-")
        self.env = dict(os.environ)
        self.env["GIT_SSH_COMMAND"] = (
            "ssh -i %s -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=no "
            "-o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=10" % key)
        self.git("clone", "-q", "--branch", branch, url, self.dir, cwd="/")

    def git(self, *args, cwd=None, check=True):
        r = subprocess.run(["git"] + list(args), cwd=cwd or self.dir, env=self.env,
                           capture_output=True, text=True, timeout=50)
        if check and r.returncode != 0:
            fail("git %s: %s" % (" ".join(args[:2]), (r.stderr or r.stdout).strip()[-400:]))
        return r.stdout.strip()

    def read(self, rel):
        try:
            with open(os.path.join(self.dir, rel), encoding="utf-8") as f:
                return f.read()
        except FileNotFoundError:
            return None

    def write(self, rel, text, mode=None):
        path = os.path.join(self.dir, rel)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        if mode is not None:
            os.chmod(path, mode)

    def commit(self, who, message, paths):
        name, email = who
        # a rebase before a retried push commits again, as this developer
        self.env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
                        GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
        env = dict(self.env, GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
                   GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
        self.git("add", "--", *paths)
        r = subprocess.run(["git", "commit", "-q", "-m", message], cwd=self.dir, env=env,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            fail("git commit: %s" % (r.stderr or r.stdout).strip()[-400:])
        return self.git("rev-parse", "HEAD")

    def revert(self, who, sha, message):
        name, email = who
        self.env.update(GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
                        GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
        env = dict(self.env, GIT_AUTHOR_NAME=name, GIT_AUTHOR_EMAIL=email,
                   GIT_COMMITTER_NAME=name, GIT_COMMITTER_EMAIL=email)
        r = subprocess.run(["git", "revert", "--no-edit", sha], cwd=self.dir, env=env,
                           capture_output=True, text=True, timeout=30)
        if r.returncode != 0:
            subprocess.run(["git", "revert", "--abort"], cwd=self.dir, env=env,
                           capture_output=True, timeout=30)
            return None
        if message:
            subprocess.run(["git", "commit", "-q", "--amend", "-m", message], cwd=self.dir,
                           env=env, capture_output=True, timeout=30)
        return self.git("rev-parse", "HEAD")

    def push(self):
        for _ in range(3):
            r = subprocess.run(["git", "push", "-q", "origin", "HEAD:" + self.branch],
                               cwd=self.dir, env=self.env, capture_output=True, text=True,
                               timeout=50)
            if r.returncode == 0:
                return
            # someone pushed meanwhile: catch up and try again, as a developer would
            self.git("pull", "-q", "--rebase", "origin", self.branch, check=False)
        fail("git push: %s" % (r.stderr or r.stdout).strip()[-400:])

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def team_of(repo_name, rng, k):
    people = rng.sample(TEAM, k)
    return [(n, "%s@%s.example" % (login, repo_name)) for n, login in people]


def next_version(current, rng):
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)$", (current or "").strip())
    if not m:
        fail("VERSION on main is %r, not MAJOR.MINOR.PATCH: the team cannot release" % current)
    major, minor, patch = (int(x) for x in m.groups())
    if rng.random() < 0.3:
        return "%d.%d.0" % (major, minor + 1)
    return "%d.%d.%d" % (major, minor, patch + 1)


def current_rate(repo):
    text = repo.read("shop/pricing.py")
    if text:
        m = RATE_LINE.search(text)
        if m:
            return m.group(1)
    return None


def draw_rate(seed, slot, avoid):
    order = random.Random("%s:rates" % seed).sample(RATES, 8)
    i = SLOTS[slot]
    for pct in (order[i], order[i + 4]):
        if avoid is None or rate_of(pct) != Decimal(avoid):
            return pct
    return order[i + 4]


def test_case(rng, rate, method="test_price_includes_vat", kind="ok"):
    """A test of the API in the style of tests/test_api.py, for a drawn product and price."""
    for _ in range(100):
        name = rng.choice(PRODUCTS)
        price = rng.randrange(500, 20000) / 100
        want = gross(price, rate)
        if kind == "ok" or gross(price, rate, kind) != want:
            break
    return (
        "    def %s(self):\n"
        "        status, body = self.app.request(\"/api/items\", \"POST\", {\"name\": \"%s\", \"price\": %r})\n"
        "        self.assertEqual(status, 201)\n"
        "        self.assertEqual(json.loads(body)[\"price_incl_vat\"], %r)\n"
        "        status, body = self.app.request(\"/api/items/%%d\" %% json.loads(body)[\"id\"])\n"
        "        self.assertEqual(json.loads(body)[\"price_incl_vat\"], %r)\n"
    ) % (method, name, price, want, want)


def put_method(text, cls, method, code):
    """Replace `method` of class `cls` in a unittest module, or add it at the end of the class."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, l in enumerate(lines) if re.match(r"^class %s\b" % cls, l)), None)
    if start is None:
        fail("the project's tests/test_api.py has no class %s: the team cannot add its test" % cls)
    end = len(lines)
    for i in range(start + 1, len(lines)):
        if lines[i].strip() and not lines[i].startswith((" ", "\t")):
            end = i
            break
    body = lines[start:end]
    m0 = next((i for i, l in enumerate(body) if l.startswith("    def %s(" % method)), None)
    if m0 is not None:
        m1 = next((i for i in range(m0 + 1, len(body)) if re.match(r"^    (def |@)", body[i])), len(body))
        while m1 > m0 + 1 and not body[m1 - 1].strip():
            m1 -= 1
        body[m0:m1] = [code]
    else:
        while body and not body[-1].strip():
            body.pop()
        body += ["\n", code]
    tail = lines[end:]
    return "".join(lines[:start] + body + (["\n", "\n"] if tail else []) + tail)


def apply_pricing(repo, rate, kind):
    """Write shop/pricing.py at `rate` (with a bug when kind is not ok); wire it into the API."""
    changed = ["shop/pricing.py"]
    repo.write("shop/pricing.py", PRICING.format(rate=str(rate), body=BODIES[kind]))
    app = repo.read("shop/app.py") or ""
    if "price_incl_vat" not in app:
        new = app.replace('{"id": r[0], "name": r[1], "price": float(r[2])}',
                          '{"id": r[0], "name": r[1], "price": float(r[2]), "price_incl_vat": price_incl_vat(r[2])}')
        new = new.replace('{"id": item_id, "name": name.strip(), "price": float(price)}',
                          '{"id": item_id, "name": name.strip(), "price": float(price), "price_incl_vat": price_incl_vat(price)}')
        new = new.replace("from .metrics import Metrics\n",
                          "from .metrics import Metrics\nfrom .pricing import price_incl_vat\n", 1)
        if new.count("price_incl_vat(") < 3:
            fail("shop/app.py on main is not the team's: the VAT change does not apply")
        repo.write("shop/app.py", new)
        changed.append("shop/app.py")
    return changed


def release_change(repo, a, rng, pct, kind, who):
    """One commit: pricing at pct (bug `kind`), the API test updated, VERSION bumped."""
    rate = rate_of(pct)
    first = current_rate(repo) is None
    paths = apply_pricing(repo, rate, kind)
    tests = repo.read("tests/test_api.py")
    if tests is None:
        fail("main has no tests/test_api.py: the team cannot test its change")
    if "import json" not in tests:
        tests = "import json\n" + tests
    repo.write("tests/test_api.py", put_method(tests, "ApiTest", "test_price_includes_vat",
                                               test_case(rng, rate, kind=kind)))
    paths.append("tests/test_api.py")
    version = next_version(repo.read("VERSION"), rng)
    repo.write("VERSION", version + "\n")
    paths.append("VERSION")
    if first:
        msg = rng.choice(["Show prices with VAT included (%s %%)",
                          "Items: price_incl_vat at %s %% VAT",
                          "Prices incl. VAT (%s %%) in the items API"]) % pct
    else:
        msg = rng.choice(["VAT: %s %% from now on",
                          "Apply the %s %% VAT rate",
                          "Pricing: move to %s %% VAT",
                          "Update the VAT rate to %s %%"]) % pct
    if rng.random() < 0.5:
        msg += " (%s)" % version
    sha = repo.commit(who, msg, paths)
    return sha, version, str(rate)


def probe_item(rng):
    return rng.choice(PRODUCTS), rng.randrange(1000, 20000) / 100


# --- prod, as a user ---------------------------------------------------------------------------

def http(url, method="GET", body=None, timeout=4):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("User-Agent", UA)
    req.add_header("Accept", "*/*")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(1 << 20).decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read(1 << 20).decode("utf-8", "replace")
    except Exception as exc:  # refused, reset, timeout: no answer
        return None, str(exc)


ANSWERED = "answered"  # the API answered with the item, without a price incl. VAT


def observe(a, st, slot):
    """The price incl. VAT prod's API gives the slot's probe item (created once), or None (no
    answer) or ANSWERED (the item, without that field), and what was seen."""
    data = st.load(slot)
    name, price = data.get("item_name"), data.get("item_price")
    if "item_id" not in data:
        code, text = http(a.shop_url + "/api/items", "POST", {"name": name, "price": price})
        try:
            item = json.loads(text) if code == 201 else None
        except ValueError:
            item = None
        if not isinstance(item, dict) or not isinstance(item.get("id"), int):
            return None, "POST /api/items answered %s %s" % (code, text[:120])
        data["item_id"] = item["id"]
        st.save(slot, data)
    code, text = http("%s/api/items/%d" % (a.shop_url, data["item_id"]))
    if code != 200:
        return None, "GET /api/items/%d answered %s %s" % (data["item_id"], code, text[:120])
    try:
        item = json.loads(text)
    except ValueError:
        return None, "GET /api/items/%d: not JSON: %s" % (data["item_id"], text[:120])
    if not isinstance(item, dict) or item.get("id") != data["item_id"]:
        return None, "GET /api/items/%d: not the item: %s" % (data["item_id"], text[:120])
    value = item.get("price_incl_vat")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return ANSWERED, "item %d (price %s) has no price_incl_vat: %s" % (data["item_id"], price, text[:160])
    return float(value), "item %d priced %s: price_incl_vat %s" % (data["item_id"], price, value)


# --- actions -----------------------------------------------------------------------------------

def do_release(a, st):
    rng = random.Random("%s:release" % a.seed)
    repo = Repo(a.repo_url, a.key)
    try:
        (who,) = team_of(a.repo, rng, 1)
        pct = draw_rate(a.seed, "release", current_rate(repo))
        sha, version, rate = release_change(repo, a, rng, pct, "ok", who)
        name, price = probe_item(rng)
        repo.push()
    finally:
        repo.close()
    st.save("release", {"sha": sha, "version": version, "rate": rate, "kind": "ok",
                        "item_name": name, "item_price": price})
    print("%s pushed %s to main: release %s, VAT %s %%" % (who[0], sha[:10], version, pct))


def freeze_block(salt, reason, who):
    return (
        "# Release freeze for %s (%s): the pipeline stops here, nothing is delivered until it is lifted.\n"
        "freeze_ref=\"$(git rev-parse 'HEAD^{tree}' | sed 's/^/%s:/' | sha256sum | cut -c1-24)\"\n"
        "echo \"release freeze $freeze_ref: %s, not delivering\" >&2\n"
        "exit 3\n"
    ) % (reason, who.split()[0], salt, reason)


def do_freeze(a, st):
    rng = random.Random("%s:freeze" % a.seed)
    repo = Repo(a.repo_url, a.key)
    try:
        ops, dev = team_of(a.repo, rng, 2)
        text = repo.read("ci/pipeline.sh")
        if text is None:
            fail("main has no ci/pipeline.sh: the pipeline is not defined in the repository")
        salt = "".join(rng.choice("abcdefghijkmnpqrstuvwxyz23456789") for _ in range(10))
        reason = rng.choice(REASONS)
        block = freeze_block(salt, reason, ops[0])
        lines = text.splitlines(keepends=True)
        at = 1 if lines and lines[0].startswith("#!") else 0
        if lines and not lines[-1].endswith("\n"):
            lines[-1] += "\n"
        lines[at:at] = [block]
        repo.write("ci/pipeline.sh", "".join(lines))
        freeze_sha = repo.commit(ops, rng.choice([
            "ci: release freeze for %s" % reason,
            "ci: no deliveries during %s" % reason,
            "ci: hold releases until %s is over" % reason]), ["ci/pipeline.sh"])
        pct = draw_rate(a.seed, "freeze", current_rate(repo))
        sha, version, rate = release_change(repo, a, rng, pct, "ok", dev)
        tree = repo.git("rev-parse", "HEAD^{tree}")
        name, price = probe_item(rng)
        repo.push()
    finally:
        repo.close()
    fingerprint = hashlib.sha256(("%s:%s\n" % (salt, tree)).encode()).hexdigest()[:24]
    st.save("freeze", {"sha": sha, "freeze_sha": freeze_sha, "version": version, "rate": rate,
                       "kind": "ok", "fingerprint": fingerprint, "item_name": name,
                       "item_price": price, "ops": ops})
    print("%s froze releases in ci/pipeline.sh (%s); %s pushed release %s behind it (%s, VAT %s %%)"
          % (ops[0], freeze_sha[:10], dev[0], version, sha[:10], pct))


def do_lift(a, st):
    data = st.load("freeze")
    if not data.get("freeze_sha"):
        return
    rng = random.Random("%s:lift" % a.seed)
    repo = Repo(a.repo_url, a.key)
    try:
        ops = tuple(data["ops"])
        msg = rng.choice(["ci: lift the release freeze", "ci: deliveries resume",
                          "ci: end of the release freeze"])
        sha = repo.revert(ops, data["freeze_sha"], msg)
        if sha is None:
            text = repo.read("ci/pipeline.sh") or ""
            new = re.sub(r"# Release freeze for .*?\nexit 3\n", "", text, flags=re.S)
            if new == text:
                print("no freeze left in ci/pipeline.sh")
                return
            repo.write("ci/pipeline.sh", new)
            sha = repo.commit(ops, msg, ["ci/pipeline.sh"])
        repo.push()
    finally:
        repo.close()
    print("%s lifted the freeze: %s" % (data["ops"][0], sha[:10]))


def do_break(a, st, slot):
    rng = random.Random("%s:%s" % (a.seed, slot))
    repo = Repo(a.repo_url, a.key)
    try:
        extra = []
        if slot == "reported":
            # first a passing change by someone else, so that the CI has both kinds to report
            good_who, who = team_of(a.repo, rng, 2)
            good = do_good_change(repo, rng, good_who)
            repo.push()
            extra = [good]
        else:
            (who,) = team_of(a.repo, rng, 1)
        pct = draw_rate(a.seed, slot, current_rate(repo))
        kind = rng.choice(BUGS)
        sha, version, rate = release_change(repo, a, rng, pct, kind, who)
        name, price = probe_item(rng)
        repo.push()
    finally:
        repo.close()
    data = {"sha": sha, "version": version, "rate": rate, "kind": kind, "item_name": name,
            "item_price": price, "who": who}
    if extra:
        data["good_sha"] = extra[0]
    st.save(slot, data)
    print("%s pushed %s to main: release %s, VAT %s %%, whose tests fail" % (who[0], sha[:10], version, pct))


def do_good_change(repo, rng, who):
    tests = repo.read("tests/test_api.py")
    if tests is None:
        fail("main has no tests/test_api.py")
    a, b = rng.sample(PRODUCTS, 2)
    pa, pb = rng.randrange(100, 9000) / 100, rng.randrange(100, 9000) / 100
    code = (
        "    def test_items_are_listed_in_creation_order(self):\n"
        "        for name, price in ((\"%s\", %r), (\"%s\", %r)):\n"
        "            self.assertEqual(self.app.request(\"/api/items\", \"POST\", {\"name\": name, \"price\": price})[0], 201)\n"
        "        status, body = self.app.request(\"/api/items\")\n"
        "        self.assertEqual(status, 200)\n"
        "        self.assertEqual([i[\"name\"] for i in json.loads(body)], [\"%s\", \"%s\"])\n"
    ) % (a, pa, b, pb, a, b)
    if "import json" not in tests:
        tests = "import json\n" + tests
    repo.write("tests/test_api.py", put_method(tests, "ApiTest", "test_items_are_listed_in_creation_order", code))
    return repo.commit(who, rng.choice(["tests: items are listed in creation order",
                                        "Test the order of the items list",
                                        "tests: cover the listing order"]), ["tests/test_api.py"])


def do_revert(a, st, slot):
    data = st.load(slot)
    if not data.get("sha"):
        return
    rng = random.Random("%s:%s:revert" % (a.seed, slot))
    repo = Repo(a.repo_url, a.key)
    try:
        (who,) = team_of(a.repo, rng, 1)
        sha = repo.revert(who, data["sha"], None)
        if sha is None:
            print("could not revert %s" % data["sha"][:10])
            return
        repo.push()
    finally:
        repo.close()
    print("%s reverted %s: %s" % (who[0], data["sha"][:10], sha[:10]))


# --- probes ------------------------------------------------------------------------------------

def need(st, slot):
    data = st.load(slot)
    if not data.get("sha"):
        fail("nothing was pushed for this check")
    return data


def do_price(a, st, slot):
    data = need(st, slot)
    want = gross(data["item_price"], data["rate"])
    value, seen = observe(a, st, slot)
    track_status(a, st, slot)
    print("%s (VAT %s gives %s)" % (seen, data["rate"], want))
    sys.exit(0 if isinstance(value, float) and abs(value - want) < 0.0005 else 1)


def do_never(a, st, slot):
    """The slot's release is not live: its figures never show. No answer counts as not live."""
    data = need(st, slot)
    bad = {gross(data["item_price"], data["rate"]), gross(data["item_price"], data["rate"], data["kind"])}
    value, seen = observe(a, st, slot)
    track_status(a, st, slot)
    live = isinstance(value, float) and any(abs(value - b) < 0.0005 for b in bad)
    print("%s%s" % (seen, " = the pushed release's figure: it is live" if live else ""))
    sys.exit(1 if live else 0)


def do_healthy(a, st, slot):
    code, text = http(a.shop_url + "/health")
    try:
        ok = code == 200 and json.loads(text).get("status") == "ok"
    except (ValueError, AttributeError):
        ok = False
    if not ok:
        fail("/health answered %s %s" % (code, text[:160]))
    value, seen = observe(a, st, slot)
    print("/health ok; %s" % seen)
    sys.exit(0 if value is not None else 1)


def ci_status(a, sha):
    code, text = http("%s/builds/%s/status" % (a.ci_url, sha), timeout=3)
    return text.strip() if code == 200 else None


def track_status(a, st, slot):
    """Record the first final status (success or failed) the CI shows for the slot's commits."""
    data = st.load(slot)
    changed = False
    for key in ("sha", "good_sha"):
        sha = data.get(key)
        if not sha or data.get(key + "_final"):
            continue
        s = ci_status(a, sha)
        if s in ("success", "failed"):
            data[key + "_final"] = s
            changed = True
    if changed:
        st.save(slot, data)
    return data


def do_status(a, st, slot):
    need(st, slot)
    data = track_status(a, st, slot)
    key = "good_sha" if a.good else "sha"
    first = data.get(key + "_final")
    if first is None:
        fail("the CI shows no final status for %s yet (now: %s)" % (data[key][:10], ci_status(a, data[key])))
    print("the CI's first final status for %s: %s" % (data[key][:10], first))
    sys.exit(0 if first == a.want else 1)


def do_fingerprint(a, st, slot):
    data = need(st, slot)
    track_status(a, st, slot)
    code, text = http("%s/builds/%s/log" % (a.ci_url, data["sha"]))
    if code != 200:
        fail("the CI has no log for %s (%s)" % (data["sha"][:10], code))
    if data["fingerprint"] in text:
        print("the run of %s ran the committed freeze step (%s)" % (data["sha"][:10], data["fingerprint"]))
        sys.exit(0)
    fail("the log of %s does not show what the committed ci/pipeline.sh computes" % data["sha"][:10])


def main():
    p = argparse.ArgumentParser()
    p.add_argument("action")
    p.add_argument("--seed", required=True)
    p.add_argument("--slot", default="release", choices=sorted(SLOTS))
    p.add_argument("--repo", default="shop")
    p.add_argument("--repo-url")
    p.add_argument("--key", default="/opt/opslab/dev_key")
    p.add_argument("--shop-url")
    p.add_argument("--ci-url")
    p.add_argument("--want", default="failed")
    p.add_argument("--good", action="store_true")
    a = p.parse_args()
    for attr in ("shop_url", "ci_url"):
        if getattr(a, attr):
            setattr(a, attr, getattr(a, attr).rstrip("/"))
    st = State(a.seed)
    actions = {
        "release": lambda: do_release(a, st),
        "freeze": lambda: do_freeze(a, st),
        "lift": lambda: do_lift(a, st),
        "break": lambda: do_break(a, st, a.slot),
        "revert": lambda: do_revert(a, st, a.slot),
        "price": lambda: do_price(a, st, a.slot),
        "never": lambda: do_never(a, st, a.slot),
        "healthy": lambda: do_healthy(a, st, a.slot),
        "status": lambda: do_status(a, st, a.slot),
        "fingerprint": lambda: do_fingerprint(a, st, a.slot),
    }
    if a.action not in actions:
        fail("unknown action %s" % a.action)
    actions[a.action]()


if __name__ == "__main__":
    main()
