"""Database access for SQLite paths and PostgreSQL DSNs, and schema migrations."""
import os
import re
import sqlite3

MIGRATION_NAME = re.compile(r"^(\d+)_[A-Za-z0-9_\-]+\.sql$")


class DatabaseError(Exception):
    pass


def is_postgres(dsn):
    return dsn.startswith("postgresql://") or dsn.startswith("postgres://")


class Database:
    def __init__(self, dsn):
        self.dsn = dsn
        self.postgres = is_postgres(dsn)

    def connect(self):
        try:
            if self.postgres:
                import psycopg2  # only needed for PostgreSQL

                return psycopg2.connect(self.dsn, connect_timeout=3)
            directory = os.path.dirname(self.dsn)
            if directory:
                os.makedirs(directory, exist_ok=True)
            conn = sqlite3.connect(self.dsn, timeout=5)
            return conn
        except Exception as exc:  # driver errors differ between engines
            raise DatabaseError(str(exc).strip()) from exc

    def _sql(self, statement):
        return statement.replace("?", "%s") if self.postgres else statement

    def query(self, statement, params=()):
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(self._sql(statement), params)
            rows = cur.fetchall() if cur.description else []
            conn.commit()
            return rows
        except DatabaseError:
            raise
        except Exception as exc:
            raise DatabaseError(str(exc).strip()) from exc
        finally:
            conn.close()

    def insert_item(self, name, price):
        conn = self.connect()
        try:
            cur = conn.cursor()
            if self.postgres:
                cur.execute("INSERT INTO items (name, price) VALUES (%s, %s) RETURNING id", (name, price))
                item_id = cur.fetchone()[0]
            else:
                cur.execute("INSERT INTO items (name, price) VALUES (?, ?)", (name, price))
                item_id = cur.lastrowid
            conn.commit()
            return item_id
        except Exception as exc:
            raise DatabaseError(str(exc).strip()) from exc
        finally:
            conn.close()

    # --- migrations -------------------------------------------------------

    def schema_version(self):
        """Highest applied migration, 0 when none (or no table yet)."""
        try:
            rows = self.query("SELECT MAX(version) FROM schema_migrations")
        except DatabaseError as exc:
            text = str(exc).lower()
            if "schema_migrations" in text and ("no such table" in text or "does not exist" in text):
                return 0
            raise
        return int(rows[0][0] or 0) if rows else 0

    def migrate(self, migrations):
        conn = self.connect()
        try:
            cur = conn.cursor()
            cur.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations "
                "(version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            conn.commit()
            cur.execute("SELECT version FROM schema_migrations")
            done = {int(row[0]) for row in cur.fetchall()}
            applied = []
            for number, name, path in migrations:
                if number in done:
                    continue
                with open(path, encoding="utf-8") as handle:
                    script = handle.read()
                if self.postgres:
                    # Migrations are written for SQLite; the one dialect difference they
                    # use is the auto-numbered key, which PostgreSQL spells SERIAL.
                    cur.execute(script.replace("INTEGER PRIMARY KEY", "SERIAL PRIMARY KEY"))
                else:
                    # executescript commits on its own; keep the record in the same step.
                    conn.executescript(script)
                cur.execute(
                    self._sql("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, CURRENT_TIMESTAMP)"),
                    (number, name),
                )
                conn.commit()
                applied.append(name)
            return applied
        except Exception as exc:
            conn.rollback()
            raise DatabaseError(str(exc).strip()) from exc
        finally:
            conn.close()


def list_migrations(directory):
    found = []
    if not os.path.isdir(directory):
        return found
    for entry in sorted(os.listdir(directory)):
        match = MIGRATION_NAME.match(entry)
        if match:
            found.append((int(match.group(1)), entry, os.path.join(directory, entry)))
    found.sort()
    return found


def required_version(directory):
    migrations = list_migrations(directory)
    return migrations[-1][0] if migrations else 0
