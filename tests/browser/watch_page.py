#!/usr/bin/env python3
"""Drives a page in headless Chromium through the DevTools protocol, for the tests: opens URL once
and never reloads it, then answers commands read from stdin, one per line:

    wait ELEMENT_ID TEXT SECONDS   waits until the element's text contains TEXT; prints
                                   "ok" or "timeout: <the element's text>"
    count SELECTOR                 prints how many elements match the CSS selector
    quit

Chromium is started with a throw-away profile and stopped at the end."""

import json
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # websocket-client, from PyPI (.ci/setup installs it)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    url = sys.argv[1]
    port = free_port()
    profile = tempfile.mkdtemp(prefix="opslab-chromium-")
    chromium = subprocess.Popen(
        [
            "chromium", "--headless", "--no-sandbox", "--disable-gpu",
            f"--remote-debugging-port={port}", "--remote-allow-origins=*",
            f"--user-data-dir={profile}", "about:blank",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        targets = None
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.2)
        if not targets:
            print("error: chromium did not answer", flush=True)
            return 2
        ws = websocket.create_connection(targets[0]["webSocketDebuggerUrl"], timeout=10)
        ids = iter(range(1, 1 << 30))

        def call(method, **params):
            i = next(ids)
            ws.send(json.dumps({"id": i, "method": method, "params": params}))
            while True:
                msg = json.loads(ws.recv())
                if msg.get("id") == i:
                    return msg.get("result", {})

        def evaluate(expr):
            r = call("Runtime.evaluate", expression=expr, returnByValue=True)
            return r.get("result", {}).get("value")

        call("Page.enable")
        call("Page.navigate", url=url)
        # Navigation has started, not ended: wait for the document (a loaded machine is slow).
        until = time.time() + 60
        while time.time() < until:
            state = evaluate("location.href !== 'about:blank' && document.readyState")
            if state == "complete":
                break
            time.sleep(0.2)
        else:
            print("error: the page did not load", flush=True)
            return 2
        print("ready", flush=True)
        for line in sys.stdin:
            words = line.split()
            if not words:
                continue
            if words[0] == "quit":
                break
            if words[0] == "wait":
                element, text, seconds = words[1], words[2], float(words[3])
                until = time.time() + seconds
                seen = None
                while time.time() < until:
                    seen = evaluate(
                        f"(document.getElementById({json.dumps(element)}) || {{}}).textContent || ''"
                    )
                    if text in (seen or ""):
                        break
                    time.sleep(0.3)
                print("ok" if text in (seen or "") else f"timeout: {seen!r}", flush=True)
            elif words[0] == "count":
                n = evaluate(f"document.querySelectorAll({json.dumps(' '.join(words[1:]))}).length")
                print(n, flush=True)
        ws.close()
        return 0
    finally:
        chromium.terminate()
        try:
            chromium.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chromium.kill()


if __name__ == "__main__":
    sys.exit(main())
