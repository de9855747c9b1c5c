"""Proofs read stored nodes by primary-key seeks, never a table scan (O(log n))."""

from __future__ import annotations

from charter.ledger.store.sqlite import SqliteStore


def test_node_lookup_seeks_the_primary_key(tmp_path, monkeypatch):
    store = SqliteStore(str(tmp_path / "s.sqlite"))
    plans: list[str] = []
    real_db = store.dialect.db

    class Spy:
        def execute(self, sql, args=()):
            if " nodes" in sql and not sql.lstrip().upper().startswith("EXPLAIN"):
                plans.extend(
                    str(row)
                    for row in real_db.execute("EXPLAIN QUERY PLAN " + sql, args).fetchall()
                )
            return real_db.execute(sql, args)

        def __getattr__(self, name):
            return getattr(real_db, name)

    monkeypatch.setattr(store.dialect, "db", Spy())
    store.get_nodes([(1, 0), (2, 3), (0, 5)])
    assert plans and not any("SCAN n " in p or p.endswith("SCAN nodes')") for p in plans), plans
    assert any("USING PRIMARY KEY" in p for p in plans)
    store.close()
