"""tree.py: stored-node roots and proofs equal merkle.py's, from O(log n) reads."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from charter.errors import LedgerError
from charter.ledger.tree import (
    MemoryNodes,
    NodeKey,
    new_nodes,
    tree_consistency_proof,
    tree_inclusion_proof,
    tree_root,
)
from charter.merkle import (
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

LEAVES = [leaf_hash(b"entry %d" % i) for i in range(300)]


class CountingNodes(MemoryNodes):
    """MemoryNodes that records every get_nodes call and how many keys it asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []

    def get_nodes(self, keys: Sequence[NodeKey]) -> dict[NodeKey, bytes]:
        self.calls.append(len(keys))
        return super().get_nodes(keys)


def build(leaves: list[bytes], batch_sizes=None, nodes=None) -> MemoryNodes:
    nodes = MemoryNodes() if nodes is None else nodes
    size = 0
    while size < len(leaves):
        step = len(leaves) if batch_sizes is None else batch_sizes(size)
        nodes.put(new_nodes(size, leaves[size : size + step], nodes))
        size = min(len(leaves), size + step)
    return nodes


rng = random.Random(6962)
STORE = build(LEAVES[:200], lambda _: rng.randint(1, 17))


def _sample(n: int, first: int) -> list[int]:
    # Every position for small trees; edges, powers of two and random ones above.
    if n <= 64:
        return list(range(first, n + first))
    picks = {first, first + 1, n // 3, n // 2, n - 2, n - 1, n + first - 1}
    picks |= {1 << k for k in range(n.bit_length()) if first <= 1 << k < n + first}
    picks |= set(random.Random(n).sample(range(first, n + first), 6))
    return sorted(picks)


@pytest.mark.parametrize("n", range(1, 201))
def test_roots_and_proofs_equal_the_list_versions(n):
    leaves = LEAVES[:n]
    assert tree_root(n, STORE) == root_hash(leaves)
    for i in _sample(n, 0):
        assert tree_inclusion_proof(i, n, STORE) == inclusion_proof(leaves, i)
    for m in _sample(n, 1):
        assert tree_consistency_proof(m, n, STORE) == consistency_proof(leaves, m)


def test_the_empty_tree_has_the_empty_root():
    assert tree_root(0, MemoryNodes()) == root_hash([])


@pytest.mark.parametrize("seed", range(5))
def test_any_batching_stores_the_same_nodes_once_each(seed):
    leaves = LEAVES[:300]
    one = new_nodes(0, leaves, MemoryNodes())
    assert len(one) == len({key for key, _ in one}) == 2 * 300 - (300).bit_count()
    batch_rng = random.Random(seed)
    nodes, emitted, size = MemoryNodes(), [], 0
    while size < len(leaves):
        step = batch_rng.choice([1, 2, 3, 7, 16, 33, 100])
        batch = new_nodes(size, leaves[size : size + step], nodes)
        nodes.put(batch)
        emitted += batch
        size = min(len(leaves), size + step)
    # Each node is produced by exactly one append, and equals the one-batch value.
    assert len(emitted) == len(dict(emitted))
    assert dict(emitted) == dict(one)


def test_new_nodes_reads_only_the_left_border():
    nodes = CountingNodes()
    size = 0
    for step in [1, 1, 2, 5, 9, 1, 64, 3, 127, 1000]:
        nodes.calls.clear()
        nodes.put(new_nodes(size, [leaf_hash(b"%d" % i) for i in range(size, size + step)], nodes))
        assert len(nodes.calls) <= 1
        assert sum(nodes.calls) <= size.bit_count()
        size += step
    nodes.calls.clear()
    assert new_nodes(size, [], nodes) == [] and nodes.calls == []


BIG = 20_000
BIG_STORE = CountingNodes()
BIG_STORE.put(new_nodes(0, [leaf_hash(b"big %d" % i) for i in range(BIG)], BIG_STORE))


@pytest.mark.parametrize("size", [1, 2, 3, 1000, 4095, 4096, 4097, 12_345, BIG])
def test_every_call_reads_o_log_n_nodes_in_one_go(size):
    bound = 2 * size.bit_length()
    BIG_STORE.calls.clear()
    tree_root(size, BIG_STORE)
    assert BIG_STORE.calls == [size.bit_count()]
    for i in _sample(size, 0):
        BIG_STORE.calls.clear()
        tree_inclusion_proof(i, size, BIG_STORE)
        assert len(BIG_STORE.calls) <= 1 and sum(BIG_STORE.calls) <= bound
    for m in _sample(size, 1):
        BIG_STORE.calls.clear()
        tree_consistency_proof(m, size, BIG_STORE)
        assert len(BIG_STORE.calls) <= 1 and sum(BIG_STORE.calls) <= bound


def test_proofs_from_a_big_store_verify():
    root = tree_root(BIG, BIG_STORE)
    for i in (0, 1, 8191, 8192, 12_345, BIG - 1):
        leaf = BIG_STORE.get_nodes([(0, i)])[(0, i)]
        verify_inclusion(leaf, i, BIG, tree_inclusion_proof(i, BIG, BIG_STORE), root)
    for m in (1, 2, 3, 4096, 12_345, BIG - 1, BIG):
        proof = tree_consistency_proof(m, BIG, BIG_STORE)
        verify_consistency(m, BIG, proof, tree_root(m, BIG_STORE), root)


def test_a_missing_node_is_an_error_not_a_rebuild():
    nodes = build(LEAVES[:10])
    with pytest.raises(LedgerError, match=r"node \(level 0, index 10\) is missing"):
        tree_inclusion_proof(3, 11, nodes)
    with pytest.raises(LedgerError, match="missing from the store, which claims 12 leaves"):
        tree_root(12, nodes)
    with pytest.raises(LedgerError, match="missing"):
        tree_consistency_proof(3, 16, nodes)
    with pytest.raises(LedgerError, match=r"node \(level 0, index 10\) is missing"):
        new_nodes(11, LEAVES[11:12], build(LEAVES[:8]))


def test_bad_requests_are_refused():
    nodes = build(LEAVES[:10])
    with pytest.raises(LedgerError, match="leaf index 10 is out of range for a tree of 10"):
        tree_inclusion_proof(10, 10, nodes)
    with pytest.raises(LedgerError, match="out of range"):
        tree_inclusion_proof(-1, 10, nodes)
    with pytest.raises(LedgerError, match="needs 0 < old size <= new size, got 0 and 10"):
        tree_consistency_proof(0, 10, nodes)
    with pytest.raises(LedgerError, match="got 11 and 10"):
        tree_consistency_proof(11, 10, nodes)
    with pytest.raises(LedgerError, match="must be non-negative"):
        tree_root(-1, nodes)
    with pytest.raises(LedgerError, match="must be non-negative"):
        new_nodes(-1, LEAVES[:1], nodes)
    with pytest.raises(LedgerError, match="must be 32 bytes"):
        new_nodes(10, [b"not a hash"], nodes)
    assert tree_consistency_proof(10, 10, nodes) == []


def test_memory_nodes_never_change_a_stored_node():
    nodes = build(LEAVES[:4])
    nodes.put(new_nodes(0, LEAVES[:4], MemoryNodes()))  # the same values again: fine
    assert len(nodes) == 7
    with pytest.raises(LedgerError, match=r"node \(0, 2\) is already stored with another hash"):
        nodes.put([((0, 2), LEAVES[9])])
    assert nodes.get_nodes([(0, 2), (5, 5)]) == {(0, 2): LEAVES[2]}
