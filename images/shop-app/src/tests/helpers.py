"""A shop served on a free port with a throwaway SQLite database, for the tests."""
import json
import os
import shutil
import tempfile
import urllib.error
import urllib.request

from shop.app import Shop, make_server, serve_in_thread
from shop.config import Config


class RunningShop:
    def __init__(self, **extra):
        self.tmp = tempfile.mkdtemp(prefix="shop-test-")
        environ = {
            "SHOP_DB": os.path.join(self.tmp, "shop.db"),
            "SHOP_FAULT_FILE": os.path.join(self.tmp, "fault"),
            "SHOP_VERSION": "9.9.9-test",
        }
        environ.update(extra)
        self.config = Config(environ=environ, env_file=os.path.join(self.tmp, "none.env"))
        self.shop = Shop(self.config)
        self.shop.migrate()
        self.server = make_server(self.shop, host="127.0.0.1", port=0)
        self.port = self.server.server_address[1]
        serve_in_thread(self.server)

    def request(self, path, method="GET", body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.port, path), data=data, method=method)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return resp.status, resp.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.tmp, ignore_errors=True)
