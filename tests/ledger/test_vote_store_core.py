"""The vote store's core: row mapping, the one-current-vote rule, and paging of the shared log."""

from __future__ import annotations

import pytest

from charter.errors import EntryError, LedgerError
from charter.ledger.store import VOTE_LOG, SqliteStore
from charter.ledger.store import sql as sql_module
from charter.ledger.store.votes import (
    VOTE_COLUMNS,
    StoredVote,
    VoteBatch,
    plan_current,
    vote_row,
    vote_values,
)
from charter.ledger.tree import new_nodes
from charter.merkle import leaf_hash


def stored(index: int, entry: str = "e", timestamp: str = "t") -> StoredVote:
    data = b'{"i":%d}' % index
    return StoredVote(
        index, leaf_hash(data), data, entry * 64, "key", f"n{index}", 1, f"{timestamp}{index}"
    )


def test_vote_values_and_vote_row_round_trip():
    vote = stored(3)
    row = vote_values(vote)
    assert len(row) == len(VOTE_COLUMNS.split(", ")) == len(VOTE_LOG.leaves.columns)
    # Drivers hand back memoryview/bytearray for blobs: vote_row copes.
    assert vote_row((row[0], memoryview(row[1]), bytearray(row[2]), *row[3:])) == vote


def test_plan_current_keeps_the_newest_vote_per_voter_and_wish():
    votes = [stored(0), stored(1, entry="f"), stored(2)]
    replaced, current = plan_current(VoteBatch(votes, []), {("e" * 64, "key"): "s"})
    assert replaced == [True, False, True]
    assert current == {("e" * 64, "key"): 2, ("f" * 64, "key"): 1}
    with pytest.raises(EntryError, match="not older than"):
        plan_current(VoteBatch([stored(0)], []), {("e" * 64, "key"): "z"})


@pytest.fixture
def vote_store(tmp_path):
    store = SqliteStore(tmp_path / "v.db")
    log = store.log(VOTE_LOG)
    votes = [stored(i, entry=f"{i:x}") for i in range(5)]
    store.append_votes(VoteBatch(votes, new_nodes(0, [v.leaf_hash for v in votes], log)))
    yield store
    store.close()


@pytest.mark.parametrize(
    ("start", "stop", "expected", "pages"),
    [
        (0, None, [0, 1, 2, 3, 4], [(0, 2), (2, 4), (4, 6)]),  # the short page ends it
        (1, 4, [1, 2, 3], [(1, 3), (3, 4)]),
        (5, None, [], [(5, 7)]),
        (2, 2, [], []),
    ],
)
def test_the_log_is_read_page_by_page_and_stops_at_a_short_page(
    vote_store, monkeypatch, start, stop, expected, pages
):
    monkeypatch.setattr(sql_module, "PAGE", 2)
    asked = []
    query = vote_store.dialect.query

    def spy(sql, args=()):
        if "WHERE idx >= ? AND idx < ?" in sql:
            asked.append(tuple(args))
        return query(sql, args)

    monkeypatch.setattr(vote_store.dialect, "query", spy)
    assert [v.index for v in vote_store.votes(start, stop)] == expected
    assert asked == pages


def test_the_vote_log_is_checked_like_the_wish_log(vote_store):
    log = vote_store.log(VOTE_LOG)
    assert log.size() == 5 and vote_store.size() == 0  # the wish log is another log
    late = stored(9)
    with pytest.raises(LedgerError, match="vote log: batch entry 0 has index 9"):
        vote_store.append_votes(VoteBatch([late], []))
    vote = stored(5)
    with pytest.raises(LedgerError, match="vote log: batch has 0 tree nodes"):
        vote_store.append_votes(VoteBatch([vote], [((0, 5), vote.leaf_hash)]))
    assert log.size() == 5
    with pytest.raises(EntryError, match="nonce already used"):
        replay = StoredVote(5, leaf_hash(b"x"), b"x", "a" * 64, "key", "n0", 1, "u")
        vote_store.append_votes(VoteBatch([replay], new_nodes(5, [replay.leaf_hash], log)))
    assert log.size() == 5
