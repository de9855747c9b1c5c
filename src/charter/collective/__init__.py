"""The collective: many people's wishes, read from the ledger, turned into signals.

:mod:`charter.collective.wishes` reads a verified set of wishes at a signed
checkpoint; :mod:`charter.collective.weights` turns stake into influence and
reports its concentration; :mod:`charter.collective.reward` is the
wish-sampled reward (TRL-compatible, an HTTP server, an RL-CAI labeler).
"""

from charter.collective.wishes import WishRecord, WishSet, load_wishes

__all__ = ["WishRecord", "WishSet", "load_wishes"]
