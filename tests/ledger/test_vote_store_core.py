"""The dialect-free core both vote stores share: row mapping, paging, the current-vote query."""

from __future__ import annotations

import pytest

from charter.ledger.store.votes import (
    VOTE_COLUMNS,
    StoredVote,
    current_votes_query,
    read_pages,
    vote_row,
    vote_values,
)


def stored(index: int) -> StoredVote:
    return StoredVote(index, bytes([index]) * 32, b"{}", "e" * 64, "key", f"n{index}", 1, "t")


def test_vote_values_and_vote_row_round_trip():
    vote = stored(3)
    row = vote_values(vote)
    assert len(row) == len(VOTE_COLUMNS.split(", "))
    # Drivers hand back memoryview/bytearray for blobs: vote_row copes.
    assert vote_row((row[0], memoryview(row[1]), bytearray(row[2]), *row[3:])) == vote


@pytest.mark.parametrize(
    ("start", "stop", "expected", "calls"),
    [
        (0, None, [0, 1, 2, 3, 4], [(0, 2), (2, 4), (4, 6)]),  # the short page ends it
        (1, 4, [1, 2, 3], [(1, 3), (3, 4)]),
        (5, None, [], [(5, 7)]),
        (2, 2, [], []),
    ],
)
def test_read_pages_asks_page_by_page_and_stops_at_a_short_page(start, stop, expected, calls):
    log = [vote_values(stored(i)) for i in range(5)]
    asked = []

    def fetch(first, end):
        asked.append((first, end))
        return log[first:end]

    assert [v.index for v in read_pages(fetch, start, stop, page=2)] == expected
    assert asked == calls


def test_current_votes_query_uses_the_driver_placeholder():
    query, args = current_votes_query(None, "?")
    assert args == () and "WHERE" not in query and query.endswith("ORDER BY v.idx")
    query, args = current_votes_query("abc", "%s")
    assert args == ("abc",) and "WHERE c.entry_id = %s ORDER BY v.idx" in query
