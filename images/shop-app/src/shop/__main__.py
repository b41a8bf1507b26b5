"""Entry point: `python3 -m shop` serves; `python3 -m shop migrate` applies migrations and exits."""
import signal
import sys
import threading
import time

from .app import Shop, make_server
from .config import Config
from .db import DatabaseError


def migrate_once(shop):
    try:
        applied = shop.migrate()
    except DatabaseError as exc:
        print("shop: cannot migrate now: %s" % exc, file=sys.stderr, flush=True)
        return False
    if applied:
        print("shop: applied migrations: %s" % ", ".join(applied), file=sys.stderr, flush=True)
    return True


def migrate_until_done(shop, every=2.0):
    while not migrate_once(shop):
        time.sleep(every)


def main(argv):
    config = Config()
    shop = Shop(config)
    command = argv[1] if len(argv) > 1 else "serve"
    if command == "migrate":
        try:
            applied = shop.migrate()
        except DatabaseError as exc:
            print("shop: migration failed: %s" % exc, file=sys.stderr)
            return 1
        print("shop: applied %d migration(s)%s" % (len(applied), ": " + ", ".join(applied) if applied else ""))
        return 0
    if command == "version":
        print(config.version)
        return 0
    if command != "serve":
        print("usage: python3 -m shop [serve|migrate|version]", file=sys.stderr)
        return 2
    if config.auto_migrate and not migrate_once(shop):
        # Keep serving (/health reports the problem) and retry until the database answers:
        # the database may start after the shop.
        threading.Thread(target=migrate_until_done, args=(shop,), daemon=True).start()
    server = make_server(shop)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print("shop %s listening on port %d (features: %s)" % (config.version, config.port, ",".join(config.features) or "none"), file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
