"""SQLite persistence: one JSON document per row; the world holds its lock around every call."""
import json
import sqlite3

DOC_COLUMNS = "id TEXT PRIMARY KEY, doc TEXT NOT NULL"


def doc_tables(*names):
    """Table definitions of tables of JSON documents by id (every table but the Avi ``objects``)."""
    return {name: DOC_COLUMNS for name in names}


TABLES = {
    "objects": "type TEXT NOT NULL, uuid TEXT NOT NULL, doc TEXT NOT NULL, PRIMARY KEY (type, uuid)",
    **doc_tables("operations", "sessions", "faults", "disruption", "meta"),
}


class Store:
    """One SQLite file. ``tables`` maps table names to column definitions (default: the Avi
    world's); every plane keeps its own file so that resetting one plane never touches another."""

    def __init__(self, path, tables=None):
        self.tables = dict(tables or TABLES)
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        for name, cols in self.tables.items():
            self.db.execute(f"CREATE TABLE IF NOT EXISTS {name} ({cols})")

    def is_empty(self, table="objects"):
        return self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] == 0

    def clear(self):
        self.db.execute("BEGIN")
        for name in self.tables:
            self.db.execute(f"DELETE FROM {name}")
        self.db.execute("COMMIT")

    def load_objects(self):
        out = {}
        for typ, uuid, doc in self.db.execute("SELECT type, uuid, doc FROM objects"):
            out.setdefault(typ, {})[uuid] = json.loads(doc)
        return out

    def load(self, table):
        return {k: json.loads(d) for k, d in self.db.execute(f"SELECT id, doc FROM {table}")}

    def write(self, changes):
        """changes: list of (table, key, doc-or-None); key is (type, uuid) for objects."""
        if not changes:
            return
        self.db.execute("BEGIN")
        try:
            for table, key, doc in changes:
                if table == "objects":
                    if doc is None:
                        self.db.execute("DELETE FROM objects WHERE type=? AND uuid=?", key)
                    else:
                        self.db.execute("INSERT OR REPLACE INTO objects VALUES (?,?,?)",
                                        (key[0], key[1], json.dumps(doc)))
                elif doc is None:
                    self.db.execute(f"DELETE FROM {table} WHERE id=?", (key,))
                else:
                    self.db.execute(f"INSERT OR REPLACE INTO {table} VALUES (?,?)", (key, json.dumps(doc)))
            self.db.execute("COMMIT")
        except Exception:
            self.db.execute("ROLLBACK")
            raise

    def close(self):
        self.db.close()
