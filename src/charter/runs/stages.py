"""The registry of stage kinds: each kind is a spec class and a runner function.

Kinds are imported on first use, so a config only loads the code (and the
optional dependencies) of the stages it names.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

from charter.runs.config import StageSpec

# kind -> "module:SpecClass:runner"
_KINDS = {
    "generate": "charter.runs.generate:GenerateSpec:run_generate",
    "ledger": "charter.ledger.stage:LedgerSpec:run_ledger",
    "ledger_votes": "charter.ledger.votes_stage:VotesSpec:run_votes",
    "sl_cai": "charter.cai.sl:SLCAISpec:run_sl_cai",
    "rl_cai_labels": "charter.cai.labels:LabelSpec:run_labels",
    "train_sft": "charter.train.stage:SFTStageSpec:run_train",
    "train_reward": "charter.train.stage:RewardStageSpec:run_train",
    "train_dpo": "charter.train.stage:DPOStageSpec:run_train",
    "train_grpo": "charter.train.stage:GRPOStageSpec:run_train",
    "pretrain_classify": "charter.pretrain.classify:ClassifySpec:run_classify",
    "pretrain_reflect": "charter.pretrain.reflect:ReflectSpec:run_reflect",
    "pretrain_mix": "charter.pretrain.mix:MixSpec:run_mix",
    "collective": "charter.collective.stage:CollectiveSpec:run_collective",
    "eval": "charter.evals.stage:EvalSpec:run_eval",
}
STAGE_KINDS = tuple(sorted(_KINDS))


@dataclass(frozen=True)
class StageKind:
    spec: type[StageSpec]
    run: Callable[..., dict]


def stage_kind(kind: str) -> StageKind:
    """The spec class and runner of a stage kind (KeyError if unknown)."""
    module, spec, run = _KINDS[kind].split(":")
    loaded = importlib.import_module(module)
    return StageKind(getattr(loaded, spec), getattr(loaded, run))
