"""C2SP tlog-tiles from stored nodes: paths, tile bytes, bundles, and rebuilding the tree."""

from __future__ import annotations

import random

import pytest

from charter.errors import ProofError, RootMismatchError, SignatureError, VerificationError
from charter.ledger.checkpoint import Checkpoint, LogKey, sign_checkpoint
from charter.ledger.tiles import (
    Tile,
    TileNotFound,
    TilePathError,
    decode_bundle,
    encode_bundle,
    encode_index,
    parse_tile_path,
    read_entry_bundle,
    read_tile,
    rebuild_root,
    tiles_for_size,
    verify_tiles,
)
from charter.ledger.tree import MemoryNodes, new_nodes, tree_root
from charter.merkle import EMPTY_ROOT, leaf_hash, root_hash

ORIGIN = "tiles.example/log"


class TreeLog:
    """A log of ``size`` small entries in :class:`MemoryNodes`, served as tiles by path."""

    def __init__(self, size: int) -> None:
        self.data = [f"entry {i}".encode() * (1 + i % 3) for i in range(size)]
        self.nodes = MemoryNodes()
        # Appended in uneven batches, as a ledger grows.
        done = 0
        for step in (1, 2, 300, 7, *[10_000] * (size // 10_000 + 1)):
            batch = self.data[done : done + step]
            self.nodes.put(new_nodes(done, [leaf_hash(d) for d in batch], self.nodes))
            done += len(batch)
        self.size = size
        self.fetched: list[str] = []

    def entries(self, start: int, stop: int) -> list[bytes]:
        return self.data[start:stop]

    def fetch(self, path: str) -> bytes:
        self.fetched.append(path)
        tile = parse_tile_path(path)
        if tile.entries:
            return read_entry_bundle(tile, self.size, self.entries)
        return read_tile(tile, self.size, self.nodes)


# -- paths ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("index", "encoded"),
    [
        (0, "000"),
        (7, "007"),
        (999, "999"),
        (1000, "x001/000"),
        (1234067, "x001/x234/067"),
        (10**9, "x001/x000/x000/000"),
    ],
)
def test_index_encoding_follows_the_spec_example(index, encoded):
    assert encode_index(index) == encoded
    assert parse_tile_path(f"tile/3/{encoded}") == Tile(3, index)


@pytest.mark.parametrize("level", [0, 1, 5, 63])
@pytest.mark.parametrize("index", [0, 1, 255, 256, 1000, 65_535, 123_456_789])
@pytest.mark.parametrize("width", [1, 17, 255, 256])
def test_tile_paths_round_trip(level, index, width):
    for tile in (Tile(level, index, width), Tile(0, index, width, entries=True)):
        assert parse_tile_path(tile.path) == tile
        assert parse_tile_path("/" + tile.path) == tile
    assert Tile(level, index, width).partial == (width < 256)
    assert Tile(1, 1234067, 7).path == "tile/1/x001/x234/067.p/7"
    assert Tile(0, 5, entries=True).path == "tile/entries/005"


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile",
        "tile/0",
        "tile/0/",
        "tile/0/1",  # groups are three digits
        "tile/0/0001",
        "tile/0/x000/001",  # not the one spelling of 1
        "tile/0/001/002",  # inner groups need the x
        "tile/0/x001",  # and the last one must not have it
        "tile/00/001",
        "tile/64/001",
        "tile/-1/001",
        "tile/a/001",
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/07",
        "tile/0/001.p/",
        "tile/0/001.p",
        "tile/0/001.p/5/6",
        "tile/entries/x001",
        "tile/entries/001.p/300",
        "tiles/0/001",
        "tile/0/0a1",
        "tile/0/" + "x999/" * 30 + "999",
        "tile/0/001\x00",
    ],
)
def test_malformed_paths_are_refused(path):
    with pytest.raises(TilePathError):
        parse_tile_path(path)


def test_mangled_paths_parse_to_their_one_spelling_or_are_refused():
    rng = random.Random(14)
    alphabet = "0123456789x/.p-e \n\x00\u00e9"
    parsed = 0
    for _ in range(5000):
        width = rng.choice([1, 2, 99, 255, 256, 256])
        tile = Tile(rng.randint(0, 63), rng.randint(0, 10 ** rng.randint(1, 12)), width)
        if rng.random() < 0.3:
            tile = Tile(0, tile.index, width, entries=True)
        path = tile.path
        for _ in range(rng.choice([0, 1, 1, 2])):  # insert, delete or replace a character
            at = rng.randint(0, len(path))
            cut = rng.choice([0, 1])
            path = path[:at] + rng.choice(["", rng.choice(alphabet)]) + path[at + cut :]
        try:
            parsed_tile = parse_tile_path(path)
        except TilePathError:
            continue
        parsed += 1
        assert parsed_tile.path == path
    assert parsed > 1000


# -- tiles and bundles ------------------------------------------------------------------


def test_tiles_for_size_matches_the_spec_example():
    tiles = tiles_for_size(70_000)
    level0 = [t for t in tiles if t.level == 0]
    assert len(level0) == 274 and level0[-1] == Tile(0, 273, 112)
    assert [t for t in tiles if t.level > 0] == [Tile(1, 0), Tile(1, 1, 17), Tile(2, 0, 1)]
    assert tiles_for_size(256) == [Tile(0, 0), Tile(1, 0, 1)]
    assert tiles_for_size(0) == []


@pytest.mark.parametrize("size", [1, 255, 256, 257, 600, 70_000])
def test_tile_bytes_are_the_stored_node_hashes(size):
    log = TreeLog(size)
    for tile in tiles_for_size(size):
        data = read_tile(tile, size, log.nodes)
        assert len(data) == 32 * tile.width
        hashes = [data[i : i + 32] for i in range(0, len(data), 32)]
        span = 256**tile.level  # leaves under each hash
        for i in (0, tile.width - 1):
            first = (tile.index * 256 + i) * span
            expected = root_hash([leaf_hash(d) for d in log.data[first : first + span]])
            assert hashes[i] == expected
        assert hashes == [log.nodes.get_nodes([k])[k] for k in tile.node_keys()]


def test_a_partial_tile_is_a_prefix_of_the_full_one():
    log = TreeLog(600)
    full = read_tile(Tile(0, 1), 600, log.nodes)
    for width in (1, 88, 255):
        assert read_tile(Tile(0, 1, width), 600, log.nodes) == full[: 32 * width]
    # And it stays served after the tile filled up, so older checkpoints stay provable.
    assert read_tile(Tile(0, 1, 88), 600, log.nodes) == read_tile(Tile(0, 1, 88), 344, log.nodes)


@pytest.mark.parametrize(
    ("tile", "size"),
    [
        (Tile(0, 0), 255),  # full tile of an unfinished range
        (Tile(0, 2, 89), 600),  # wider than the tree
        (Tile(0, 3, 1), 600),  # past the end
        (Tile(1, 0), 600),  # level 1 has 2 hashes
        (Tile(1, 0, 3), 600),
        (Tile(2, 0, 1), 65_535),  # level 2 starts at 65,536 entries
        (Tile(0, 10**12), 600),
        (Tile(0, 0, 1), 0),
    ],
)
def test_tiles_beyond_the_tree_are_not_found(tile, size):
    log = TreeLog(min(size, 600))
    with pytest.raises(TileNotFound, match="beyond the tree"):
        read_tile(tile, size, log.nodes)
    bundle = Tile(0, tile.index, tile.width, entries=True)
    if tile.level == 0:
        with pytest.raises(TileNotFound):
            read_entry_bundle(bundle, size, log.entries)


def test_bundles_round_trip_and_hash_to_the_level_zero_tile():
    log = TreeLog(300)
    bundle = read_entry_bundle(Tile(0, 0, entries=True), 300, log.entries)
    assert bundle[:2] == len(log.data[0]).to_bytes(2, "big")
    entries = decode_bundle(bundle)
    assert entries == log.data[:256]
    tile = read_tile(Tile(0, 0), 300, log.nodes)
    assert b"".join(leaf_hash(e) for e in entries) == tile
    assert decode_bundle(encode_bundle([b"", b"x" * 65_535])) == [b"", b"x" * 65_535]
    assert decode_bundle(b"") == []


def test_bundles_refuse_what_the_format_cannot_hold():
    with pytest.raises(Exception, match="does not fit an entry bundle"):
        encode_bundle([b"x" * 65_536])
    for bad in (b"\x00", b"\x00\x05abc"):
        with pytest.raises(ProofError):
            decode_bundle(bad)


# -- rebuilding the tree from tiles alone -----------------------------------------------


SIZES = [0, 1, 2, 3, 7, 8, 255, 256, 257, 300, 511, 512, 513, 600, 767, 768, 1000]


@pytest.mark.parametrize("size", SIZES)
def test_rebuilt_root_equals_the_stored_tree(size):
    log = TreeLog(size)
    assert rebuild_root(size, log.fetch, entries=True) == tree_root(size, log.nodes)


def test_rebuilt_root_for_every_size_up_to_600():
    log = TreeLog(600)
    leaves = [leaf_hash(d) for d in log.data]
    for size in range(601):
        assert rebuild_root(size, log.fetch) == root_hash(leaves[:size]), size
    assert rebuild_root(0, log.fetch) == EMPTY_ROOT


def test_a_tree_past_one_level_two_tile_rebuilds():
    size = 65_536 + 256 * 3 + 5  # full level-1 tile, partial level-1 and level-2 tiles
    log = TreeLog(size)
    assert rebuild_root(size, log.fetch) == tree_root(size, log.nodes)


def test_verify_tiles_checks_the_signed_checkpoint():
    log = TreeLog(700)
    key = LogKey.generate(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 700, tree_root(700, log.nodes)), key)
    cp = verify_tiles(note, key.verifier_string(), log.fetch, origin=ORIGIN, entries=True)
    assert cp.size == 700
    assert "tile/entries/002.p/188" in log.fetched and "tile/1/000.p/2" in log.fetched

    other = LogKey.generate(ORIGIN)
    with pytest.raises(SignatureError):
        verify_tiles(note, other.verifier_string(), log.fetch)
    with pytest.raises(VerificationError):
        verify_tiles(note, key.verifier_string(), log.fetch, origin="elsewhere.example/log")
    lie = sign_checkpoint(Checkpoint(ORIGIN, 700, leaf_hash(b"another tree")), key)
    with pytest.raises(RootMismatchError, match="another root") as caught:
        verify_tiles(lie, key.verifier_string(), log.fetch)
    assert caught.value.computed == tree_root(700, log.nodes).hex()


def _tampered(log: TreeLog, path: str, change) -> object:
    def fetch(asked: str) -> bytes:
        data = log.fetch(asked)
        return change(data) if asked == path else data

    return fetch


def _flip(data: bytes) -> bytes:
    return bytes([data[0] ^ 1]) + data[1:]


@pytest.mark.parametrize(
    ("path", "change", "error"),
    [
        ("tile/0/000", _flip, RootMismatchError),  # a full tile: caught by the level above
        ("tile/0/002.p/188", _flip, RootMismatchError),  # the right edge: caught by the root
        ("tile/1/000.p/2", _flip, RootMismatchError),
        ("tile/0/001", lambda d: d[:-32], ProofError),  # short
        ("tile/0/001", lambda d: d + d[:32], ProofError),  # long
        ("tile/entries/001", lambda d: d.replace(b"entry", b"Entry", 1), RootMismatchError),
        ("tile/entries/002.p/188", lambda d: d[:-3], ProofError),
        ("tile/entries/000", lambda d: d + b"\x00\x00", ProofError),  # one entry too many
    ],
)
def test_every_tampered_tile_or_bundle_is_detected(path, change, error):
    log = TreeLog(700)
    key = LogKey.generate(ORIGIN)
    note = sign_checkpoint(Checkpoint(ORIGIN, 700, tree_root(700, log.nodes)), key)
    with pytest.raises(error):
        verify_tiles(note, key.verifier_string(), _tampered(log, path, change), entries=True)


def test_a_missing_node_is_a_ledger_error_not_a_short_tile():
    log = TreeLog(300)
    nodes = MemoryNodes()
    nodes.put((k, log.nodes.get_nodes([k])[k]) for k in Tile(0, 0).node_keys()[:-1])
    with pytest.raises(Exception, match="missing from the store"):
        read_tile(Tile(0, 0), 300, nodes)
