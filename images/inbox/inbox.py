#!/usr/bin/env python3
"""On-call inbox: records webhook notifications (Alertmanager's webhook format) and shows them."""
import html
import json
import os
import signal
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PORT = int(os.environ.get("INBOX_PORT", "8080"))
TITLE = os.environ.get("INBOX_TITLE", "On-call inbox")
STORE = os.environ.get("INBOX_STORE", "")
KEEP = int(os.environ.get("INBOX_KEEP", "2000"))
MAX_BODY = 1 << 20

LOCK = threading.Lock()
NOTIFICATIONS = []


def load():
    if not STORE or not os.path.exists(STORE):
        return
    with open(STORE, encoding="utf-8") as handle:
        for line in handle:
            try:
                NOTIFICATIONS.append(json.loads(line))
            except ValueError:
                continue
    del NOTIFICATIONS[:-KEEP]


def record(entry):
    with LOCK:
        NOTIFICATIONS.append(entry)
        del NOTIFICATIONS[:-KEEP]
        if STORE:
            with open(STORE, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(entry, sort_keys=True) + "\n")


def sender_name(addr):
    """The sender's name in the lab network (reverse lookup), or "" when it has none."""
    try:
        name = socket.gethostbyaddr(addr)[0]
    except OSError:
        return ""
    return name.split(".")[0]


def snapshot(since=None):
    with LOCK:
        items = list(NOTIFICATIONS)
    if since is not None:
        items = [n for n in items if n["received_at"] >= since]
    return items


def fmt_time(stamp):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(stamp)) + ".%03d UTC" % int((stamp % 1) * 1000)


def render_page():
    rows = []
    for note in reversed(snapshot()):
        payload = note.get("payload")
        if isinstance(payload, dict):
            status = str(payload.get("status", "?"))
            receiver = str(payload.get("receiver", ""))
            alerts = payload.get("alerts") if isinstance(payload.get("alerts"), list) else []
        else:
            status, receiver, alerts = "?", "", []
        lines = []
        for alert in alerts:
            if not isinstance(alert, dict):
                continue
            labels = alert.get("labels") if isinstance(alert.get("labels"), dict) else {}
            notes = alert.get("annotations") if isinstance(alert.get("annotations"), dict) else {}
            name = labels.get("alertname", "?")
            others = ", ".join("%s=%s" % (k, v) for k, v in sorted(labels.items()) if k != "alertname")
            text = notes.get("summary") or notes.get("description") or ""
            lines.append("<li><b>[%s] %s</b> {%s}%s</li>" % (
                html.escape(str(alert.get("status", "?"))), html.escape(str(name)), html.escape(others),
                (" &mdash; " + html.escape(str(text))) if text else ""))
        css = "firing" if status == "firing" else ("resolved" if status == "resolved" else "other")
        rows.append(
            "<tr class='%s'><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td><ul>%s</ul></td></tr>" % (
                css, html.escape(fmt_time(note["received_at"])),
                html.escape(" ".join(x for x in (note.get("remote_name", ""), "(%s)" % note["remote_addr"]) if x)),
                html.escape(status), html.escape(receiver), "".join(lines) or "<li>(no alerts)</li>"))
    body = "".join(rows) or "<tr><td colspan='5'>No notification received yet.</td></tr>"
    return (
        "<!doctype html><html><head><meta charset='utf-8'><meta http-equiv='refresh' content='5'>"
        "<title>%s</title><style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;width:100%%}"
        "td,th{border:1px solid #ccc;padding:.3em;text-align:left;vertical-align:top}"
        "tr.firing{background:#fde2e2}tr.resolved{background:#e2f5e2}ul{margin:0;padding-left:1.2em}</style>"
        "</head><body><h1>%s</h1><p>%d notification(s). Webhook: POST JSON to <code>/hook</code>. "
        "Machine-readable: <code>/api/notifications</code>.</p>"
        "<table><tr><th>received</th><th>from</th><th>status</th><th>receiver</th><th>alerts</th></tr>%s"
        "</table></body></html>" % (html.escape(TITLE), html.escape(TITLE), len(snapshot()), body))


class Handler(BaseHTTPRequestHandler):
    server_version = "opslab-inbox/1"
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (self.client_address[0], fmt % args))

    def send(self, code, body, ctype):
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def do_GET(self):
        url = urlsplit(self.path)
        if url.path == "/api/notifications":
            since = None
            values = parse_qs(url.query).get("since")
            if values:
                try:
                    since = float(values[0])
                except ValueError:
                    return self.send(400, '{"error":"since must be a number"}\n', "application/json")
            return self.send(200, json.dumps(snapshot(since)) + "\n", "application/json")
        if url.path == "/healthz":
            return self.send(200, "ok\n", "text/plain; charset=utf-8")
        if url.path in ("/", "/index.html"):
            return self.send(200, render_page(), "text/html; charset=utf-8")
        return self.send(404, "not found\n", "text/plain; charset=utf-8")

    do_HEAD = do_GET

    def do_POST(self):
        url = urlsplit(self.path)
        if url.path.startswith("/api/") or url.path == "/healthz":
            return self.send(405, "POST your notifications to /hook\n", "text/plain; charset=utf-8")
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self.close_connection = True
            return self.send(413, "body too large or length missing\n", "text/plain; charset=utf-8")
        raw = self.rfile.read(length)
        try:
            payload = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return self.send(400, "the body must be JSON\n", "text/plain; charset=utf-8")
        record({
            "received_at": time.time(),
            "remote_addr": self.client_address[0],
            "remote_name": sender_name(self.client_address[0]),
            "path": url.path,
            "payload": payload,
        })
        return self.send(200, '{"status":"recorded"}\n', "application/json")


def main():
    load()
    server = ThreadingHTTPServer(("0.0.0.0", PORT), Handler)
    server.daemon_threads = True
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.stderr.write("inbox listening on :%d\n" % PORT)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
