"""Configuration from the environment and from /etc/shop/shop.env.

Variables set in the process environment win over the file, so a service
manager or a container can override one value without rewriting the file.
"""
import os

ENV_FILE = "/etc/shop/shop.env"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def read_env_file(path):
    values = {}
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                line = line.strip()
                if not line or line.startswith("#") or "=" not in line:
                    continue
                key, value = line.split("=", 1)
                key = key.strip()
                if key.startswith("export "):
                    key = key[len("export "):].strip()
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                values[key] = value
    except FileNotFoundError:
        pass
    return values


def file_version(root=ROOT):
    try:
        with open(os.path.join(root, "VERSION"), encoding="utf-8") as handle:
            return handle.read().strip() or "unknown"
    except FileNotFoundError:
        return "unknown"


class Config:
    def __init__(self, environ=None, env_file=None):
        merged = read_env_file(env_file or os.environ.get("SHOP_ENV_FILE", ENV_FILE))
        merged.update(os.environ if environ is None else environ)
        self.port = int(merged.get("SHOP_PORT") or 8080)
        self.version = merged.get("SHOP_VERSION") or file_version()
        self.db = merged.get("SHOP_DB") or "/var/lib/shop/shop.db"
        self.features = [f.strip() for f in (merged.get("SHOP_FEATURES") or "").split(",") if f.strip()]
        self.fault_file = merged.get("SHOP_FAULT_FILE") or "/run/shop/fault"
        self.auto_migrate = (merged.get("SHOP_AUTO_MIGRATE") or "1") not in ("0", "false", "no")
        self.migrations_dir = merged.get("SHOP_MIGRATIONS") or os.path.join(ROOT, "migrations")
