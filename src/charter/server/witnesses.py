"""Collect witness cosignatures for the log's checkpoints (the client side of C2SP tlog-witness).

After the service signs a new checkpoint, :class:`CosignatureCollector` submits
it to every configured witness (``POST <url>/add-checkpoint``) with an RFC 9162
consistency proof from the size that witness last cosigned, and appends the
cosignature lines it gets back to the note (c2sp.org/tlog-cosignature). The
service then stores that note, so ``/api/v1/checkpoint`` serves it cosigned.

Robust by design: each witness is asked in its own thread with a timeout; a
witness that is down, slow or refuses is logged as a warning and simply asked
again with the next checkpoint. A 409 answer carries the witness's size, and
the collector retries once from there (c2sp.org/tlog-witness). Returned lines
are kept only if they are valid cosignatures by that witness's pinned key.

Configure witnesses as ``URL=VERIFIER`` (``charter serve --witness``), where
URL is the witness's submission prefix and VERIFIER its type-0x04 vkey.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from charter._util.paths import key_or_file
from charter.errors import CharterError, ConfigError, LedgerError
from charter.ledger.checkpoint import Checkpoint, _split_note
from charter.ledger.cosign import parse_witness_verifier, verify_cosignature
from charter.ledger.witness import format_add_checkpoint

log = logging.getLogger(__name__)

ProofSource = Callable[[int, int], list[bytes]]  # (old size, new size) -> consistency proof


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the log asks for cosignatures: its submission prefix and pinned vkey."""

    url: str  # submission prefix, e.g. https://witness.example/w1 (no trailing slash)
    verifier: str  # the witness's vkey, <name>+<key ID>+<base64(0x04 || public key)>

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"witness URL {self.url!r} must start with http:// or https://.")
        try:
            parse_witness_verifier(self.verifier)
        except LedgerError as exc:
            raise ConfigError(f"--witness {self.url}: {exc}") from None

    @classmethod
    def parse(cls, text: str) -> WitnessEndpoint:
        """Parse ``URL=VERIFIER``; VERIFIER may be a file holding the vkey."""
        url, eq, verifier = text.partition("=")
        if not eq or not url or not verifier:
            raise ConfigError(
                f"--witness {text[:80]!r} is not URL=VERIFIER; e.g. "
                "--witness http://127.0.0.1:8001=witness.example/w1+1a2b3c4d+BA..."
            )
        return cls(url.rstrip("/"), key_or_file(verifier, "--witness"))


class CosignatureCollector:
    """Submit checkpoints to witnesses and gather their cosignature lines.

    Args:
        witnesses: the witnesses to ask.
        timeout_s: seconds to wait for each witness (connect and reply).
        transport: an httpx transport (tests pass a mock; default: the network).
    """

    def __init__(
        self,
        witnesses: Sequence[WitnessEndpoint],
        timeout_s: float = 5.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.witnesses = list(witnesses)
        self._sizes = {w.url: 0 for w in self.witnesses}  # size each last cosigned, as known
        self._client = httpx.Client(timeout=timeout_s, transport=transport)
        self._pool = ThreadPoolExecutor(max(1, len(self.witnesses)), "witness")

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        self._client.close()

    def collect(self, note: str, proof: ProofSource) -> str:
        """``note`` with a cosignature line appended from every witness that cosigned it.

        Witnesses whose cosignature the note already carries are not asked again.
        Never raises for a witness's failure: it is logged and skipped.
        """
        text, _ = _split_note(note)
        size = Checkpoint.from_text(text).size
        todo = [w for w in self.witnesses if not _has_cosignature(note, w)]
        results = self._pool.map(lambda w: self._ask(w, note, size, proof), todo)
        return note + "".join(line for line in results if line)

    def _ask(self, witness: WitnessEndpoint, note: str, size: int, proof: ProofSource) -> str:
        old = self._sizes[witness.url]
        for _ in range(2):  # a 409 tells us the witness's size: retry once from there
            if old > size:
                log.warning(
                    "witness %s holds size %d, above this checkpoint's %d; not asking",
                    witness.url,
                    old,
                    size,
                )
                return ""
            try:
                hashes = proof(old, size) if 0 < old < size else []
                reply = self._client.post(
                    f"{witness.url}/add-checkpoint",
                    content=format_add_checkpoint(old, hashes, note),
                    headers={"Content-Type": "text/plain; charset=utf-8"},
                )
            except (httpx.HTTPError, CharterError) as exc:
                log.warning("witness %s: no cosignature for size %d (%s)", witness.url, size, exc)
                return ""
            if reply.status_code == 409 and reply.text.strip().isdigit():
                old = self._sizes[witness.url] = int(reply.text.strip())
                continue
            if reply.status_code != 200:
                log.warning(
                    "witness %s refused size %d: %d %s",
                    witness.url,
                    size,
                    reply.status_code,
                    reply.text.strip()[:200],
                )
                return ""
            lines = _valid_lines(note, reply.text, witness)
            if lines:
                self._sizes[witness.url] = size
            else:
                log.warning("witness %s answered no valid cosignature by its key", witness.url)
            return lines
        log.warning("witness %s kept answering 409 for size %d", witness.url, size)
        return ""


def _has_cosignature(note: str, witness: WitnessEndpoint) -> bool:
    try:
        verify_cosignature(note, witness.verifier)
    except CharterError:
        return False
    return True


def _valid_lines(note: str, reply: str, witness: WitnessEndpoint) -> str:
    """The reply's lines that are valid cosignatures by ``witness`` (others are ignored)."""
    kept = []
    for line in reply.splitlines():
        if not line.strip():
            continue
        if _has_cosignature(f"{note}{line}\n", witness):
            kept.append(line + "\n")
    return "".join(kept)
