"""The HTTP server: version, health, metrics and the items API."""
import json
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from .db import Database, DatabaseError, list_migrations, required_version
from .metrics import Metrics

ITEM_PATH = re.compile(r"^/api/items/(\d+)$")


class FaultRule:
    """One line of the fault file: a kind (errors or latency), its value, and its scope.

    `errors 0.3` fails that share of the faultable requests; `latency 1.5` delays them by that
    many seconds. Optional words narrow the rule or thin it out:
    `path=<route>` (a route label: `/`, `/api/items`, `/api/items/:id`), `q=<term>` (searches of
    `/api/items?q=<term>`, case-insensitive), `share=<0..1>` (latency only: that share of the
    matching requests is delayed; an errors rule's value is its share).
    """

    def __init__(self, kind, value, path=None, term=None, share=1.0):
        self.kind, self.value, self.path, self.term, self.share = kind, value, path, term, share

    def key(self):
        return (self.kind, self.value, self.path, self.term, self.share)

    def matches(self, route, term):
        if self.path is not None and self.path != route:
            return False
        if self.term is not None and self.term != term:
            return False
        return True


def parse_fault(text):
    """The rules of a fault file's text, in order; lines that do not parse are ignored."""
    rules = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 2 or parts[0] not in ("errors", "latency"):
            continue
        try:
            value = float(parts[1])
        except ValueError:
            continue
        if value != value:  # NaN
            continue
        scope, ok = {}, True
        for word in parts[2:]:
            name, sep, arg = word.partition("=")
            if not sep or name not in ("path", "q", "share") or name in scope:
                ok = False
                break
            scope[name] = arg
        if not ok:
            continue
        share = 1.0
        if "share" in scope:
            try:
                share = float(scope["share"])
            except ValueError:
                continue
            if share != share:
                continue
            share = min(max(share, 0.0), 1.0)
        if parts[0] == "errors":
            share = min(max(value, 0.0), 1.0) * (share if "share" in scope else 1.0)
            value = share
        else:
            value = max(value, 0.0)
        term = scope.get("q")
        rules.append(FaultRule(parts[0], value, scope.get("path"), term.lower() if term is not None else None, share))
    return rules


def read_fault_rules(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_fault(handle.read())
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError, UnicodeDecodeError):
        return []


def read_fault(path):
    """Return (error share, latency seconds) of the unscoped rules of the fault file; absent means healthy."""
    errors, latency = 0.0, 0.0
    for rule in read_fault_rules(path):
        if rule.path is None and rule.term is None:
            if rule.kind == "errors" and not errors:
                errors = rule.value
            elif rule.kind == "latency" and not latency:
                latency = rule.value
    return errors, latency


class FaultCounter:
    """Exact shares: the n-th request (from 0) that a rule matches is hit when
    floor((n + 1) * share + 1 - share) > floor(n * share + 1 - share), so the first matching request
    is hit and then exactly `share` of them, evenly spread (no run of luck either way).
    A rule keeps its count while the file keeps that line."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}

    def hit(self, rule, active_keys):
        share = rule.share if rule.kind == "latency" else rule.value
        if share <= 0:
            return False
        if share >= 1:
            return True
        with self.lock:
            for key in [k for k in self.counts if k not in active_keys]:
                del self.counts[key]
            n = self.counts.get(rule.key(), 0)
            self.counts[rule.key()] = n + 1
        phase = 1.0 - share
        return int((n + 1) * share + phase + 1e-9) > int(n * share + phase + 1e-9)


def route_label(path):
    if path in ("/", "/version", "/health", "/metrics", "/api/items"):
        return path
    if ITEM_PATH.match(path):
        return "/api/items/:id"
    return "other"


class Shop:
    def __init__(self, config):
        self.config = config
        self.db = Database(config.db)
        self.metrics = Metrics()
        self.faults = FaultCounter()
        self.required_schema = required_version(config.migrations_dir)

    def migrate(self):
        return self.db.migrate(list_migrations(self.config.migrations_dir))

    def health(self):
        try:
            current = self.db.schema_version()
        except DatabaseError as exc:
            return 503, {"status": "error", "version": self.config.version, "reason": "database unreachable: %s" % exc}
        if current < self.required_schema:
            return 503, {
                "status": "error",
                "version": self.config.version,
                "reason": "database schema %d is older than the %d this version needs" % (current, self.required_schema),
            }
        return 200, {"status": "ok", "version": self.config.version}

    def fault_for(self, route, term):
        """(seconds to wait, whether to fail) for a faultable request: the first rule of each kind
        whose scope matches the request decides, with its exact share."""
        rules = read_fault_rules(self.config.fault_file)
        if not rules:
            return 0.0, False
        active = {rule.key() for rule in rules}
        delay, fail = 0.0, False
        seen = set()
        for rule in rules:
            if rule.kind in seen or not rule.matches(route, term or None):
                continue
            seen.add(rule.kind)
            if self.faults.hit(rule, active):
                if rule.kind == "latency":
                    delay = rule.value
                else:
                    fail = True
        return delay, fail

    def item_count(self):
        try:
            return int(self.db.query("SELECT COUNT(*) FROM items")[0][0])
        except DatabaseError:
            return None


def make_handler(shop):
    class Handler(BaseHTTPRequestHandler):
        server_version = "shop"
        sys_version = ""
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            sys.stderr.write("%s - %s\n" % (self.address_string(), fmt % args))

        def _search_term(self):
            """The `q` parameter of the query string, lowercased and stripped ("" when absent)."""
            query = self.path.split("?", 1)[1] if "?" in self.path else ""
            values = parse_qs(query).get("q")
            return values[0].strip().lower() if values else ""

        def _observe(self, code):
            # Counted before the answer leaves: a client that has its answer finds it in /metrics.
            if not self._observed:
                self._observed = True
                shop.metrics.observe(self.command, route_label(self.path.split("?", 1)[0]), code, time.monotonic() - self._started)

        def _send(self, code, body, content_type="application/json"):
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode("utf-8")
            self._observe(code)
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return code

        def _handle(self, method):
            self._started = time.monotonic()
            self._observed = False
            path = self.path.split("?", 1)[0]
            code = 500
            try:
                code = self._dispatch(method, path)
            except DatabaseError as exc:
                code = self._send(503, {"error": "database unavailable", "reason": str(exc)})
            except Exception as exc:  # a bug must not kill the server thread silently
                sys.stderr.write("error: %s %s: %r\n" % (method, path, exc))
                code = self._send(500, {"error": "internal error"})
            finally:
                self._observe(code)

        def _dispatch(self, method, path):
            if path == "/version" and method in ("GET", "HEAD"):
                return self._send(200, shop.config.version, "text/plain; charset=utf-8")
            if path == "/health" and method in ("GET", "HEAD"):
                code, body = shop.health()
                return self._send(code, body)
            if path == "/metrics" and method in ("GET", "HEAD"):
                text = shop.metrics.render(shop.config.version, shop.item_count())
                return self._send(200, text, "text/plain; version=0.0.4; charset=utf-8")
            if path == "/" or path.startswith("/api/"):
                delay, fail = shop.fault_for(route_label(path), self._search_term())
                if delay:
                    time.sleep(delay)
                if fail:
                    return self._send(500, {"error": "internal error"})
            if path == "/" and method in ("GET", "HEAD"):
                page = "<!doctype html><title>shop</title><h1>shop</h1><p>version %s</p>\n" % shop.config.version
                return self._send(200, page, "text/html; charset=utf-8")
            if path == "/api/items":
                if method == "GET":
                    rows = shop.db.query("SELECT id, name, price FROM items ORDER BY id")
                    return self._send(200, [{"id": r[0], "name": r[1], "price": float(r[2])} for r in rows])
                if method == "POST":
                    return self._create()
                return self._send(405, {"error": "method not allowed"})
            match = ITEM_PATH.match(path)
            if match and method in ("GET", "HEAD"):
                rows = shop.db.query("SELECT id, name, price FROM items WHERE id = ?", (int(match.group(1)),))
                if not rows:
                    return self._send(404, {"error": "no such item"})
                r = rows[0]
                return self._send(200, {"id": r[0], "name": r[1], "price": float(r[2])})
            return self._send(404, {"error": "not found"})

        def _create(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                data = json.loads(raw or b"null")
            except ValueError:
                return self._send(400, {"error": "body must be JSON"})
            if not isinstance(data, dict):
                return self._send(400, {"error": "body must be a JSON object"})
            name, price = data.get("name"), data.get("price")
            if not isinstance(name, str) or not name.strip():
                return self._send(400, {"error": "name must be a non-empty string"})
            if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
                return self._send(400, {"error": "price must be a number >= 0"})
            item_id = shop.db.insert_item(name.strip(), float(price))
            return self._send(201, {"id": item_id, "name": name.strip(), "price": float(price)})

        def do_GET(self):
            self._handle("GET")

        def do_HEAD(self):
            self._handle("HEAD")

        def do_POST(self):
            self._handle("POST")

        def do_PUT(self):
            self._handle("PUT")

        def do_DELETE(self):
            self._handle("DELETE")

    return Handler


def make_server(shop, host="0.0.0.0", port=None):
    server = ThreadingHTTPServer((host, shop.config.port if port is None else port), make_handler(shop))
    server.daemon_threads = True
    return server


def serve_in_thread(server):
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return thread
