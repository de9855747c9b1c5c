"""Cross-wiring between domain packages, registered by name and imported on first use.

The domain packages (``cai``, ``train``, ``pretrain``, ``collective``, ``evals``,
``ledger``) never import one another. Where one offers something another can
use (the wish-sampled reward as an RL-CAI labeler, or as a GRPO reward), it is
named here as ``"module:attr"`` and loaded lazily, the way stage kinds are
(:mod:`charter.runs.stages`), so the user of the plugin depends only on this
registry and the plugin's optional dependencies load only when a config asks.
"""

from __future__ import annotations

import importlib
from typing import Any

from charter.errors import ConfigError

# (role, name) -> "module:attr"
_PLUGINS: dict[tuple[str, str], str] = {
    # An rl_cai_labels stage with labeler_kind: wish_reward: (spec, ctx) -> (labeler, ctx).
    ("labeler", "wish_reward"): "charter.collective.labeler:stage_labeler",
    # reward_fn: wish:<ledger> in a GRPO stage: (ledger source) -> reward function.
    ("reward", "wish"): "charter.collective.reward:make_reward_fn",
}


def register_plugin(role: str, name: str, target: str) -> None:
    """Name ``module:attr`` as the ``role`` plugin called ``name``."""
    _PLUGINS[(role, name)] = target


def plugin(role: str, name: str) -> Any:
    """The registered plugin, imported now.

    Raises:
        ConfigError: no such plugin, naming the ones registered for ``role``.
    """
    target = _PLUGINS.get((role, name))
    if target is None:
        known = ", ".join(n for r, n in _PLUGINS if r == role) or "none"
        raise ConfigError(f"no {role} plugin {name!r}; registered: {known}.")
    module, attr = target.split(":")
    return getattr(importlib.import_module(module), attr)
