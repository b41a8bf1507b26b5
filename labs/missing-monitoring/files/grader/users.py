#!/usr/bin/env python3
"""The shop's customers, simulated from the grader container while the grader acts.

About 15 requests a second, each on its own connection, sent on a clock (a slow answer does not
slow the next customer down): the home page, the catalogue, item pages, a few new items, and
searches. Each grading draws the twelve words its customers search for from the pool below
(from the grading's number), and the grader's faults hit searches for some of those words: a
probe from outside, which cannot know them, never meets the fault; the shop's own request metrics
count every one of them.

Requests come in rounds of 60, shuffled: 4 home pages, 8 catalogue lists, 36 searches (each of
the twelve words three times), 10 item pages, 2 new items. So every word is exactly 5 % of the
traffic, and a fault on k words with share s fails (or slows) k * s * 5 % of all requests.

  users.py start NUMBER   start the customers for this grading (nothing to do if they already run
                          for NUMBER; customers of another grading are stopped first)
  users.py stop           stop them
  users.py words NUMBER   the twelve words of that grading, in order
  users.py status         what they sent, by answer
"""
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

HOST = "app"
PORT = {{ app_port }}
POOL = "{{ search_words }}".split()
RATE = 15.0            # requests a second
ROUND = 60             # requests a round
LIFETIME = 600         # seconds: the customers leave by themselves after that
STATE = "/tmp/opslab-users"
ADJECTIVES = ["blue", "small", "large", "green", "oak", "steel", "linen", "red", "vintage", "white"]


def words(number):
    """The twelve words of a grading: POOL[(number + 7 i) % len(POOL)], i = 0..11 (7 and 40 are
    coprime, so they are distinct). The lab's fault templates use the same formula."""
    return [POOL[(number + 7 * i) % len(POOL)] for i in range(12)]


def state(name):
    return os.path.join(STATE, name)


def read(name):
    try:
        with open(state(name), encoding="utf-8") as handle:
            return handle.read().strip()
    except OSError:
        return ""


def alive(pid):
    try:
        os.kill(int(pid), 0)
        return True
    except (OSError, ValueError):
        return False


def stop():
    pid = read("pid")
    if pid and alive(pid):
        try:
            os.killpg(int(pid), signal.SIGTERM)
        except OSError:
            pass
    for name in ("pid", "number"):
        try:
            os.remove(state(name))
        except OSError:
            pass


def start(number):
    os.makedirs(STATE, exist_ok=True)
    if read("number") == str(number) and alive(read("pid")):
        print("customers of grading %s are already shopping" % number)
        return
    stop()
    child = subprocess.Popen(
        ["timeout", str(LIFETIME), sys.executable, os.path.abspath(__file__), "run", str(number)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(state("log"), "a"),
        start_new_session=True, close_fds=True,
    )
    with open(state("pid"), "w") as handle:
        handle.write(str(child.pid))
    with open(state("number"), "w") as handle:
        handle.write(str(number))
    print("customers of grading %s: %d requests a second, searching %s" % (number, RATE, " ".join(words(number))))


class Shop:
    def __init__(self, number):
        self.rng = random.Random(number * 7919 + int(time.time()))
        self.words = words(number)
        self.ids = []
        self.lock = threading.Lock()
        self.counts = {}
        self.slots = threading.BoundedSemaphore(64)

    def request(self, method, path, body=None):
        started = time.monotonic()
        try:
            conn = http.client.HTTPConnection(HOST, PORT, timeout=10)
            headers = {"Accept": "application/json", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = "application/json"
            conn.request(method, path, body=data, headers=headers)
            answer = conn.getresponse()
            payload = answer.read(1 << 20)
            conn.close()
            code = str(answer.status)
            if answer.status in (200, 201):
                self.learn(payload)
        except Exception:  # a customer whose page does not load goes on shopping
            code = "no answer"
        with self.lock:
            self.counts[code] = self.counts.get(code, 0) + 1
        return time.monotonic() - started

    def learn(self, payload):
        try:
            found = json.loads(payload)
        except ValueError:
            return
        found = found if isinstance(found, list) else [found]
        with self.lock:
            for item in found:
                if isinstance(item, dict) and isinstance(item.get("id"), int) and item["id"] not in self.ids:
                    self.ids.append(item["id"])
            del self.ids[:-200]

    def item_path(self):
        with self.lock:
            known = list(self.ids)
        return "/api/items/%d" % (self.rng.choice(known) if known else 1)

    def new_item(self):
        name = "%s %s" % (self.rng.choice(ADJECTIVES), self.rng.choice(self.words))
        return ("POST", "/api/items", {"name": name, "price": round(self.rng.uniform(2, 80), 2)})

    def round(self):
        plan = [("GET", "/", None)] * 4 + [("GET", "/api/items", None)] * 8
        plan += [("GET", "/api/items?q=" + w, None) for w in self.words for _ in range(3)]
        plan += [("ITEM", None, None)] * 10 + [("NEW", None, None)] * 2
        assert len(plan) == ROUND
        self.rng.shuffle(plan)
        return plan

    def send(self, entry):
        kind, path, body = entry
        try:
            if kind == "ITEM":
                self.request("GET", self.item_path())
            elif kind == "NEW":
                self.request(*self.new_item())
            else:
                self.request(kind, path, body)
        finally:
            self.slots.release()

    def report(self):
        with self.lock:
            counts = dict(self.counts)
        with open(state("status.json"), "w") as handle:
            json.dump({"at": time.time(), "words": self.words, "answers": counts}, handle)

    def run(self):
        # A catalogue to browse: a few items named after the words customers look for.
        for word in self.words[:6]:
            self.request("POST", "/api/items", {"name": "%s %s" % (self.rng.choice(ADJECTIVES), word), "price": 9.5})
        tick = 1.0 / RATE
        due = time.monotonic()
        last_report = 0.0
        while True:
            for entry in self.round():
                due += tick
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                elif pause < -5:  # far behind (a stopped machine): start the clock again
                    due = time.monotonic()
                if self.slots.acquire(timeout=5):
                    threading.Thread(target=self.send, args=(entry,), daemon=True).start()
                if time.monotonic() - last_report > 5:
                    last_report = time.monotonic()
                    self.report()


def main(argv):
    if len(argv) == 3 and argv[1] == "start":
        start(int(argv[2]))
    elif len(argv) == 2 and argv[1] == "stop":
        stop()
    elif len(argv) == 3 and argv[1] == "words":
        print(" ".join(words(int(argv[2]))))
    elif len(argv) == 2 and argv[1] == "status":
        print(read("status.json") or "no customers yet")
    elif len(argv) == 3 and argv[1] == "run":
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        Shop(int(argv[2])).run()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
