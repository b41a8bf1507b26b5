"""The HTTP server: version, health, metrics and the items API."""
import json
import random
import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .db import Database, DatabaseError, list_migrations, required_version
from .metrics import Metrics

ITEM_PATH = re.compile(r"^/api/items/(\d+)$")


def read_fault(path):
    """Return (error share, latency seconds) from the fault file; absent means healthy."""
    errors, latency = 0.0, 0.0
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                parts = line.split()
                if len(parts) != 2:
                    continue
                try:
                    value = float(parts[1])
                except ValueError:
                    continue
                if parts[0] == "errors":
                    errors = min(max(value, 0.0), 1.0)
                elif parts[0] == "latency":
                    latency = max(value, 0.0)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        pass
    return errors, latency


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

        def _send(self, code, body, content_type="application/json"):
            if not isinstance(body, (bytes, str)):
                body = json.dumps(body)
            if isinstance(body, str):
                body = body.encode("utf-8")
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return code

        def _handle(self, method):
            started = time.monotonic()
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
                shop.metrics.observe(method, route_label(path), code, time.monotonic() - started)

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
                errors, latency = read_fault(shop.config.fault_file)
                if latency:
                    time.sleep(latency)
                if errors and random.random() < errors:
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
