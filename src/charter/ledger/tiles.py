"""The ledger's Merkle tree as C2SP tlog-tiles: tile bytes, paths, and a client that rebuilds it.

C2SP tlog-tiles (https://c2sp.org/tlog-tiles, section "Merkle Tree") serves a
log as static resources instead of RFC 6962 proof endpoints:

- ``tile/<L>/<N>[.p/<W>]``: the tile at level ``L``, index ``N``, is the
  concatenation of the hashes ``MTH(D[(N*256 + i) * 256**L : (N*256 + i + 1) * 256**L])``
  for ``i`` in ``0..255``. In :mod:`charter.ledger.tree`'s terms these are the
  stored perfect-subtree roots ``(8 * L, 256 * N + i)``, so a tile is one
  ``get_nodes`` call. A *partial* tile ``.p/W`` holds only the first ``W``
  (1 to 255) hashes; the rightmost tiles of a tree are partial.
- ``N`` is written in zero-padded groups of three digits, all but the last
  prefixed with ``x`` (1234067 is ``x001/x234/067``); ``L`` and ``W`` are plain
  decimals without leading zeros (section "Merkle Tree").
- ``tile/entries/<N>[.p/<W>]``: the entry bundle, the entries' data (the
  Merkle leaf data, i.e. the canonical bytes) of the same range as level-0
  tile ``N``, each as a big-endian uint16 length and the bytes (section
  "Log entries"); entry ``i`` hashes (RFC 6962 section 2.1) to hash ``i`` of
  that level-0 tile.

This module is pure: the server (:mod:`charter.server.tiles_api`) calls
:func:`read_tile` and :func:`read_entry_bundle`, and a monitor calls
:func:`verify_tiles` with any ``fetch(path) -> bytes`` (HTTP, a directory, a
dict) to rebuild the tree from tiles alone and check it against a signed
checkpoint. Which partial tiles exist: every ``W`` whose hashes the tree already
holds. Stored nodes never change, so a partial tile's bytes never change
either, and every checkpoint ever signed stays provable from tiles.

Example::

    from charter.ledger.tiles import Tile, read_tile, verify_tiles
    data = read_tile(Tile(0, 0, 256), ledger.size, ledger.store)   # 8192 bytes
    cp = verify_tiles(note, ledger.verifier, fetch)  # raises unless every tile checks out
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from charter.errors import LedgerError, ProofError, RootMismatchError
from charter.ledger.checkpoint import Checkpoint, verify_checkpoint
from charter.ledger.tree import NodeKey, NodeReader
from charter.merkle import EMPTY_ROOT, HASH_SIZE, leaf_hash, node_hash, root_hash

__all__ = [
    "MAX_ENTRY_BYTES",
    "MAX_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "Tile",
    "TileNotFound",
    "TilePathError",
    "decode_bundle",
    "encode_bundle",
    "parse_tile_path",
    "read_entry_bundle",
    "read_tile",
    "rebuild_root",
    "tile_hashes",
    "tiles_for_size",
    "verify_tiles",
]

TILE_HEIGHT = 8  # tree levels per tile level (tlog-tiles: fixed)
TILE_WIDTH = 1 << TILE_HEIGHT  # hashes in a full tile (and entries in a full bundle)
MAX_LEVEL = 63  # highest tile level a path may name (tlog-tiles: "between 0 and 63")
MAX_ENTRY_BYTES = 0xFFFF  # an entry's length is a uint16 in a bundle
_MAX_INDEX_GROUPS = 21  # 10**63 tiles: far past any tree a 64-bit size describes

Fetch = Callable[[str], bytes]
"""Reads one resource of the log by its path below the prefix, e.g. ``"tile/0/001"``."""


class TilePathError(LedgerError):
    """A path that is not a tlog-tiles resource name (HTTP 400)."""


class TileNotFound(LedgerError):
    """A well-formed tile or bundle that the tree does not (yet) hold (HTTP 404)."""


@dataclass(frozen=True)
class Tile:
    """One tile (or entry bundle) of the log.

    Attributes:
        level: the tile level ``L``: its hashes are tree level ``8 * L``; 0 for bundles.
        index: ``N``, the tile's position within its level.
        width: how many hashes (entries) it holds: 256 for a full tile, 1..255 partial.
        entries: True for the entry bundle of level-0 tile ``index``.
    """

    level: int
    index: int
    width: int = TILE_WIDTH
    entries: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.level <= MAX_LEVEL or (self.entries and self.level):
            raise TilePathError(f"a tile level must be 0 to {MAX_LEVEL} (0 for entry bundles).")
        if self.index < 0 or not 1 <= self.width <= TILE_WIDTH:
            raise TilePathError(f"a tile needs an index >= 0 and a width of 1 to {TILE_WIDTH}.")

    @property
    def partial(self) -> bool:
        return self.width < TILE_WIDTH

    @property
    def path(self) -> str:
        """The resource path below the log prefix, e.g. ``tile/1/x001/234.p/7``."""
        head = "tile/entries" if self.entries else f"tile/{self.level}"
        tail = f".p/{self.width}" if self.partial else ""
        return f"{head}/{encode_index(self.index)}{tail}"

    def node_keys(self) -> list[NodeKey]:
        """The stored tree nodes ``(8 * level, index)`` this tile's hashes are."""
        first = self.index * TILE_WIDTH
        return [(self.level * TILE_HEIGHT, first + i) for i in range(self.width)]


def encode_index(index: int) -> str:
    """A tile index as tlog-tiles writes it: ``1234067`` -> ``x001/x234/067``."""
    if index < 0:
        raise TilePathError(f"a tile index is never negative, got {index}.")
    digits = str(index)
    digits = digits.zfill(-(-len(digits) // 3) * 3)
    groups = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


_DECIMAL = re.compile(r"0|[1-9][0-9]{0,2}")  # no leading zeros (levels, widths)
_GROUP = re.compile(r"x[0-9]{3}")
_LAST = re.compile(r"[0-9]{3}")


def parse_tile_path(path: str) -> Tile:
    """The tile a path names: ``tile/<L>/<N>[.p/<W>]`` or ``tile/entries/<N>[.p/<W>]``.

    A leading ``/`` is allowed. Only the canonical spelling is accepted (no
    leading zero groups, no leading zeros in ``L`` or ``W``, ``W`` below 256),
    so each tile has exactly one name, as caches and mirrors need.

    Raises:
        TilePathError: the path is not a tile name; the message says which part.
    """
    parts = path.lstrip("/").split("/")
    if len(parts) < 3 or parts[0] != "tile":
        raise TilePathError("a tile path is tile/<L>/<N>[.p/<W>] or tile/entries/<N>[.p/<W>].")
    head, rest = parts[1], parts[2:]
    width = TILE_WIDTH
    if len(rest) >= 2 and rest[-2].endswith(".p"):
        if not _DECIMAL.fullmatch(rest[-1]) or not 1 <= int(rest[-1]) < TILE_WIDTH:
            raise TilePathError(
                f"a partial tile width must be 1 to {TILE_WIDTH - 1}, no zeros ahead."
            )
        width = int(rest[-1])
        rest = [*rest[:-2], rest[-2][:-2]]
    if len(rest) > _MAX_INDEX_GROUPS or not _LAST.fullmatch(rest[-1]):
        raise TilePathError("a tile index ends in a group of exactly three digits, e.g. 067.")
    if not all(_GROUP.fullmatch(g) for g in rest[:-1]):
        raise TilePathError("every index group but the last is x and three digits, e.g. x001.")
    index = 0
    for group in rest:
        index = index * 1000 + int(group.lstrip("x"))
    if head == "entries":
        tile = Tile(0, index, width, entries=True)
    elif _DECIMAL.fullmatch(head) and int(head) <= MAX_LEVEL:
        tile = Tile(int(head), index, width)
    else:
        raise TilePathError(f"a tile level is 0 to {MAX_LEVEL} without leading zeros, or entries.")
    if tile.path != path.lstrip("/"):
        raise TilePathError(f"tile paths have one spelling; this one is {tile.path}.")
    return tile


def _check_exists(tile: Tile, size: int) -> None:
    # Hashes at tree level 8L: one per complete 256**L-leaf subtree.
    available = size >> (TILE_HEIGHT * tile.level)
    if (tile.index * TILE_WIDTH + tile.width) > available:
        what = "entry bundle" if tile.entries else "tile"
        raise TileNotFound(
            f"{what} {tile.path} is beyond the tree of {size} entries; fetch /checkpoint and "
            "ask only for tiles of its size."
        )


def read_tile(tile: Tile, size: int, reader: NodeReader) -> bytes:
    """The bytes of a hash tile of the tree of ``size`` entries: ``width`` hashes of 32 bytes.

    Raises:
        TileNotFound: the tree of ``size`` does not hold all of the tile's hashes.
        LedgerError: a node the tile needs is missing from ``reader``.
    """
    if tile.entries:
        raise TilePathError("read entry bundles with read_entry_bundle().")
    _check_exists(tile, size)
    keys = tile.node_keys()
    nodes = reader.get_nodes(keys)
    missing = [key for key in keys if key not in nodes]
    if missing:
        raise LedgerError(
            f"tree node {missing[0]} is missing from the store, which claims {size} entries; "
            "the node table is incomplete: rebuild it from the entries."
        )
    return b"".join(nodes[key] for key in keys)


def encode_bundle(entries: Iterable[bytes]) -> bytes:
    """Entries as a tlog-tiles entry bundle: each a big-endian uint16 length, then the bytes.

    Raises:
        LedgerError: an entry is longer than 65,535 bytes and cannot be bundled.
    """
    out = bytearray()
    for data in entries:
        if len(data) > MAX_ENTRY_BYTES:
            raise LedgerError(
                f"an entry of {len(data)} bytes does not fit an entry bundle (at most "
                f"{MAX_ENTRY_BYTES}); the entry policy should refuse such entries."
            )
        out += len(data).to_bytes(2, "big") + data
    return bytes(out)


def decode_bundle(bundle: bytes) -> list[bytes]:
    """The entries of an entry bundle, the inverse of :func:`encode_bundle`.

    Raises:
        ProofError: the bundle ends inside a length or an entry.
    """
    entries, pos = [], 0
    while pos < len(bundle):
        if pos + 2 > len(bundle):
            raise ProofError(f"the entry bundle ends inside a length prefix at byte {pos}.")
        length = int.from_bytes(bundle[pos : pos + 2], "big")
        if pos + 2 + length > len(bundle):
            raise ProofError(
                f"entry {len(entries)} of the bundle claims {length} bytes but only "
                f"{len(bundle) - pos - 2} remain."
            )
        entries.append(bytes(bundle[pos + 2 : pos + 2 + length]))
        pos += 2 + length
    return entries


def read_entry_bundle(
    tile: Tile, size: int, entries: Callable[[int, int], Iterable[bytes]]
) -> bytes:
    """The entry bundle ``tile`` (``entries=True``) of the log of ``size`` entries.

    Args:
        tile: which bundle: entries ``[256 * index, 256 * index + width)``.
        size: the log's size; a bundle beyond it is not served.
        entries: ``(start, stop) -> the data of entries start..stop-1``, in order.

    Raises:
        TileNotFound: the log does not hold all of the bundle's entries.
        LedgerError: the store returned another number of entries than asked for.
    """
    if not tile.entries:
        raise TilePathError("read hash tiles with read_tile().")
    _check_exists(tile, size)
    start = tile.index * TILE_WIDTH
    data = list(entries(start, start + tile.width))
    if len(data) != tile.width:
        raise LedgerError(
            f"the store returned {len(data)} entries for {start}..{start + tile.width - 1}; "
            "it claims more, so its entry table is incomplete."
        )
    return encode_bundle(data)


# -- the client side: rebuild and check the tree from tiles alone ---------------------


def tiles_for_size(size: int) -> list[Tile]:
    """Every hash tile that describes the tree of ``size`` entries, level by level.

    Full tiles, then at most one partial tile per level: ``floor(size / 256**L) mod 256``
    wide (tlog-tiles, "Partial Tiles"). A tree of 256 entries is one full level-0
    tile and a level-1 tile of width 1.
    """
    if size < 0:
        raise LedgerError(f"a tree size is never negative, got {size}.")
    out: list[Tile] = []
    level = 0
    while (count := size >> (TILE_HEIGHT * level)) > 0:
        full, width = divmod(count, TILE_WIDTH)
        out.extend(Tile(level, n) for n in range(full))
        if width:
            out.append(Tile(level, full, width))
        level += 1
    return out


def tile_hashes(tile: Tile, data: bytes) -> list[bytes]:
    """The hashes in a fetched tile, after checking its length.

    Raises:
        ProofError: the tile is not ``width * 32`` bytes.
    """
    if len(data) != tile.width * HASH_SIZE:
        raise ProofError(
            f"tile {tile.path} is {len(data)} bytes; it must be {tile.width} hashes of "
            f"{HASH_SIZE} bytes.",
            expected=tile.width * HASH_SIZE,
            computed=len(data),
        )
    return [data[i : i + HASH_SIZE] for i in range(0, len(data), HASH_SIZE)]


def _edge_root(size: int, partials: dict[int, list[bytes]]) -> bytes:
    """MTH of the tree of ``size`` from its partial tiles only (``level -> hashes``).

    The tree is the perfect subtrees named by the one bits of ``size``, folded
    right to left (RFC 6962 section 2.1 split). The subtree of height
    ``8 * L + r`` is the ``2**r`` hashes of the partial tile at level ``L``
    that bit ``r`` of its width selects, hashed as a perfect tree.
    """
    border: list[bytes] = []  # the perfect subtrees, largest (leftmost) first
    for level in sorted(partials, reverse=True):
        hashes, start = partials[level], 0
        width = len(hashes)
        for r in reversed(range(TILE_HEIGHT)):
            if width >> r & 1:
                border.append(root_hash(hashes[start : start + (1 << r)]))
                start += 1 << r
    if not border:
        return EMPTY_ROOT
    acc = border[-1]
    for left in reversed(border[:-1]):
        acc = node_hash(left, acc)
    return acc


def rebuild_root(size: int, fetch: Fetch, *, entries: bool = False) -> bytes:
    """Rebuild the tree of ``size`` entries from its tiles alone and return its root.

    Fetches every tile of :func:`tiles_for_size`. Each full tile must hash (as a
    perfect tree, RFC 6962 section 2.1) to its hash in the tile one level up,
    so every tile is bound to the partial tiles on the right edge, from which
    the root is computed. With ``entries=True`` every entry bundle is fetched
    too and each entry's leaf hash must be the level-0 tile's hash.

    Raises:
        ProofError: a tile has the wrong length, or a bundle is malformed.
        RootMismatchError: a tile or entry does not hash to what the level above says.
    """
    tiles = tiles_for_size(size)
    fetched = {(t.level, t.index): tile_hashes(t, fetch(t.path)) for t in tiles}
    for tile in tiles:
        if not tile.partial:
            above = fetched[(tile.level + 1, tile.index // TILE_WIDTH)]
            expected = above[tile.index % TILE_WIDTH]
            computed = root_hash(fetched[(tile.level, tile.index)])
            if computed != expected:
                raise RootMismatchError(
                    f"tile {tile.path} does not hash to its entry in the tile above it.",
                    expected=expected.hex(),
                    computed=computed.hex(),
                )
        if entries and tile.level == 0:
            _check_bundle(tile, fetch, fetched[(0, tile.index)])
    partials = {t.level: fetched[(t.level, t.index)] for t in tiles if t.partial}
    return _edge_root(size, partials)


def _check_bundle(tile: Tile, fetch: Fetch, hashes: Sequence[bytes]) -> None:
    bundle = Tile(0, tile.index, tile.width, entries=True)
    data = decode_bundle(fetch(bundle.path))
    if len(data) != tile.width:
        raise ProofError(
            f"entry bundle {bundle.path} holds {len(data)} entries, not {tile.width}.",
            expected=tile.width,
            computed=len(data),
        )
    for i, (entry, expected) in enumerate(zip(data, hashes, strict=True)):
        if leaf_hash(entry) != expected:
            raise RootMismatchError(
                f"entry {tile.index * TILE_WIDTH + i} in {bundle.path} does not hash to "
                f"its leaf in {tile.path}.",
                expected=expected.hex(),
                computed=leaf_hash(entry).hex(),
            )


def verify_tiles(
    note: str,
    verifier: str,
    fetch: Fetch,
    *,
    origin: str | None = None,
    entries: bool = False,
) -> Checkpoint:
    """Check a log served as tiles against its signed checkpoint; return the checkpoint.

    Verifies the note with ``verifier`` (C2SP signed-note), rebuilds the tree of
    the checkpoint's size from tiles alone (:func:`rebuild_root`) and compares
    the roots.

    Args:
        note: the checkpoint, e.g. fetched from ``<prefix>/checkpoint``.
        verifier: the log's verifier key, from a source you trust (not the log).
        fetch: reads a resource by its path below the log's prefix.
        origin: if given, the checkpoint must carry this origin.
        entries: also check every entry bundle against the level-0 tiles.

    Raises:
        SignatureError: the note does not verify with ``verifier``.
        VerificationError: the checkpoint's origin is not ``origin``.
        RootMismatchError: the tiles do not rebuild the checkpoint's root.
        ProofError: a tile or bundle is malformed.
    """
    cp = verify_checkpoint(note, verifier, origin)
    computed = rebuild_root(cp.size, fetch, entries=entries)
    if computed != cp.root:
        raise RootMismatchError(
            f"the tiles of the tree of {cp.size} entries hash to another root than the "
            "signed checkpoint's.",
            expected=cp.root.hex(),
            computed=computed.hex(),
        )
    return cp
