#!/usr/bin/env python3
"""nginx-metrics: counts the requests of nginx's access log by method, route and status, for
Prometheus (http://prod:9113/metrics, `nginx_http_requests_total`). Follows the log from its end,
and across a rotation."""
import os
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = "/var/log/nginx/shop.access.log"
LINE = re.compile(r'"([A-Z]+) ([^ ?"]+)[^"]*" (\d{3}) ')
COUNTS = {}
LOCK = threading.Lock()


def route(path):
    if path.startswith("/api/items/"):
        return "/api/items/:id"
    return path


def follow():
    handle, inode = None, None
    while True:
        if handle is None:
            try:
                handle = open(LOG, encoding="utf-8", errors="replace")
                inode = os.fstat(handle.fileno()).st_ino
                handle.seek(0, os.SEEK_END)
            except OSError:
                time.sleep(1)
                continue
        line = handle.readline()
        if line:
            m = LINE.search(line)
            if m:
                key = (m.group(1), route(m.group(2)), m.group(3))
                with LOCK:
                    COUNTS[key] = COUNTS.get(key, 0) + 1
            continue
        time.sleep(0.2)
        try:
            if os.stat(LOG).st_ino != inode:
                handle.close()
                handle = None
                with LOCK:
                    pass
        except OSError:
            pass


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        with LOCK:
            items = sorted(COUNTS.items())
        body = ["# HELP nginx_http_requests_total Requests answered by nginx, by method, route and status.\n",
                "# TYPE nginx_http_requests_total counter\n"]
        for (method, rt, status), n in items:
            body.append('nginx_http_requests_total{method="%s",route="%s",status="%s"} %d\n' % (method, rt, status, n))
        data = "".join(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


threading.Thread(target=follow, daemon=True).start()
ThreadingHTTPServer(("0.0.0.0", 9113), Handler).serve_forever()
