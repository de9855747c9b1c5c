"""What the web service does beyond the :class:`~charter.ledger.log.Ledger`: intake policy.

The HTTP layers (:mod:`charter.server.api`, :mod:`charter.server.pages`) are
thin; everything they decide lives here so a Python caller can use it without
a server:

- rate limits per author key and per client IP (:mod:`charter.server.ratelimit`);
- demo stake: with ``grant_new_keys=N`` a key gets N credits the first time it
  submits to this server process, so people can try the service without an
  operator granting credits (``charter ledger grant`` is the normal way);
- a checkpoint that is never behind: :meth:`WishService.checkpoint` signs a new
  one when the log grew since the last (C2SP tlog-checkpoint);
- votes on wishes (:mod:`charter.ledger.votelog`): free of stake, verified
  before the voter key's own rate limit is charged, then appended to the vote log;
- witnessed checkpoints: with ``witnesses`` configured, each new checkpoint is
  sent to them (C2SP tlog-witness, :mod:`charter.server.witnesses`) and stored
  with their cosignature lines; a witness that is down is skipped, never waited on twice.

A wish is acknowledged only after :meth:`Ledger.append` returned, i.e. after
its store transaction committed, so an acknowledged wish survives a crash.
Concurrent wishes share transactions (:mod:`charter.server.commit`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from charter.errors import ConfigError, LedgerError
from charter.ledger.entry import Entry, validate_entry
from charter.ledger.log import Ledger
from charter.ledger.votelog import VoteLog, VoteReceipt
from charter.ledger.votes import Vote, check_vote
from charter.server.commit import GroupCommit
from charter.server.ratelimit import RateLimit, RateLimiter, check

if TYPE_CHECKING:
    from charter.server.witnesses import WitnessEndpoint


# The largest index or size a request may name: far beyond any log, and inside the
# signed 64-bit integers SQL stores hold, so a huge number is a 422, never an overflow.
MAX_INDEX = 2**62


@dataclass(frozen=True)
class ServerConfig:
    """Options of the wish service; each default is what ``charter serve`` uses."""

    rate_per_minute: float | None = 30  # wishes a minute per author key (None: no limit)
    ip_rate_per_minute: float | None = 60  # wishes a minute per client IP (None: no limit)
    read_rate_per_minute: float | None = 1200  # other requests a minute per IP (None: no limit)
    vote_rate_per_minute: float | None = 120  # votes a minute per voter key (None: no limit)
    grant_new_keys: int = 0  # credits a key gets with its first wish here (demos; 0: off)
    max_body_bytes: int = 64 * 1024  # largest accepted request body; entries are far smaller
    page_size: int = 20  # wishes per page on /wishes
    witnesses: tuple[WitnessEndpoint, ...] = ()  # witnesses asked to cosign checkpoints
    witness_timeout_s: float = 5.0  # seconds to wait for each witness's answer

    def __post_init__(self) -> None:
        if self.grant_new_keys < 0:
            raise ConfigError("grant_new_keys must be 0 (off) or a positive number of credits.")
        if self.max_body_bytes < 1024 or self.page_size < 1:
            raise ConfigError("max_body_bytes must be at least 1024 and page_size at least 1.")


def _limiter(rate: float | None) -> RateLimiter | None:
    return None if rate is None else RateLimiter(RateLimit(rate))


class WishService:
    """Intake and checkpoints for one ledger; thread-safe like the ledger itself.

    Args:
        ledger: an open ledger; it needs its log key to sign checkpoints.
        config: limits and the demo grant.
    """

    def __init__(self, ledger: Ledger, config: ServerConfig | None = None) -> None:
        self.ledger = ledger
        self.config = config or ServerConfig()
        self.key_limiter = _limiter(self.config.rate_per_minute)
        self.ip_limiter = _limiter(self.config.ip_rate_per_minute)
        self.read_limiter = _limiter(self.config.read_rate_per_minute)
        self._grant_lock = threading.Lock()
        self._granted: set[str] = set()
        self._commits = GroupCommit(ledger.append)
        self.vote_limiter = _limiter(self.config.vote_rate_per_minute)
        self.votes = VoteLog.for_ledger(ledger)
        self.cosigner = None
        if self.config.witnesses:
            from charter.server.witnesses import CosignatureCollector

            self.cosigner = CosignatureCollector(
                self.config.witnesses, self.config.witness_timeout_s
            )
        self._cosign_lock = threading.Lock()
        self._cosigned_size: int | None = None  # newest size whose witnesses were asked

    def submit(self, entry: Entry) -> int:
        """Append one signed wish; return its index once it is durable.

        The entry is validated, signature included, before the author key's rate
        limit is charged, so nobody can use up another person's allowance with
        forged entries. (The ledger validates again inside ``append``; the cost
        is one more Ed25519 verification, small beside HTTP and the commit.)

        Raises:
            SignatureError: the entry's signature does not verify.
            RateLimited: the author key is over its rate.
            EntryError, StakeError: the ledger refused the entry (nothing written).
        """
        validate_entry(entry, self.ledger.policy)
        check(self.key_limiter, entry.author_key, "author key")
        self._grant_once(entry.author_key)
        return self._commits.append(entry)

    def submit_vote(self, vote: Vote) -> VoteReceipt:
        """Append one signed vote; return where it went once it is durable.

        Votes cost no stake; the voter key's rate limit (and the per-IP limit on
        every POST) is what bounds them. As for wishes, the signature is checked
        before the key's allowance is charged.

        Raises:
            SignatureError: the vote's signature does not verify.
            RateLimited: the voter key is over its rate.
            EntryError: unknown wish, replayed nonce, or not newer than the vote in force.
        """
        check_vote(vote, self.ledger.origin, self.votes.max_clock_skew_s)
        check(self.vote_limiter, vote.voter_key, "voter key")
        return self.votes.append([vote])[0]

    def _grant_once(self, key: str) -> None:
        if not self.config.grant_new_keys:
            return
        # One lock makes "first time" exact under concurrent first submissions: the
        # second waits until the grant has landed instead of failing for lack of credit.
        with self._grant_lock:
            if key in self._granted:
                return
            self.ledger.grant(key, self.config.grant_new_keys)
            self._granted.add(key)

    def checkpoint(self) -> str:
        """The latest signed checkpoint note, signing a new one if the log grew since."""
        try:
            note = self.ledger.checkpoint()
        except LedgerError:
            # Opened without the log key: serve the newest stored checkpoint instead.
            note = self.ledger.latest_checkpoint()
            if note is None:
                raise
            return note
        return self._witnessed(note)

    def _witnessed(self, note: str) -> str:
        """``note`` with the witnesses' cosignatures, asking them once per new size.

        The cosigned note replaces the stored one of the same size, so every later
        request serves it. While one request is asking the witnesses, others get
        the note as it stands rather than wait.
        """
        if self.cosigner is None:
            return note
        size = int(note.split("\n", 2)[1])
        if size == self._cosigned_size or not self._cosign_lock.acquire(blocking=False):
            return note
        try:
            stored = self.ledger.store.checkpoint(size) or note
            cosigned = self.cosigner.collect(stored, self.ledger.consistency_proof)
            if cosigned != stored:
                self.ledger.store.save_checkpoint(size, cosigned)
            self._cosigned_size = size
            return cosigned
        finally:
            self._cosign_lock.release()
