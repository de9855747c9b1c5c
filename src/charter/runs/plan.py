"""``charter plan CONFIG``: what a run would cost, before anything is spent.

For every stage: the model calls it would make, the prompt tokens they read
and the completion tokens they may write (each stage's
:meth:`~charter.runs.config.StageSpec.estimate`), then time from tokens per
second and cost from prices per million tokens. No model is loaded.

Read it as an upper bound on a fresh run: completions are counted at their
``max_tokens`` limits, retries and gates as if every one were taken, and
nothing is subtracted for rows a previous run finished or calls the request
cache would answer. Training stages report optimizer steps and sequences, and
no time (it depends on hardware the plan does not know).

Usage::

    plan = plan_run("configs/quickstart.yaml", rates=parse_rates(["feedback=34/150"]))
    print(plan.total.seconds)
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from charter.constitution import load_constitution
from charter.errors import ConfigError
from charter.runs.config import RunConfig, load_config
from charter.runs.estimate import CallEstimate, PlanContext


class Rate(BaseModel):
    """How fast one model reads and writes, in tokens per second."""

    model_config = ConfigDict(frozen=True)

    generate: float = Field(gt=0, description="completion tokens per second")
    prompt: float = Field(gt=0, description="prompt tokens per second (prompt processing)")
    source: str = Field("default", description="where the figure comes from")


class Price(BaseModel):
    """What one model costs, in currency units per million tokens."""

    model_config = ConfigDict(frozen=True)

    input: float = Field(ge=0, description="per million prompt tokens")
    output: float = Field(ge=0, description="per million completion tokens")


# Qwen2.5-Coder-1.5B Q4_K_M (the embedded feedback model) through llama.cpp on
# this project's 2-core machine: 34 generated tokens/s measured; prompt
# processing was not measured and 150 tokens/s is an estimate.
FEEDBACK_RATE = Rate(
    generate=34.0, prompt=150.0, source="embedded feedback model, 2 cores (prompt: estimate)"
)
# Any other model: the feedback model's figures, a stand-in (the 135M policy is
# faster, so its time is overstated); pass --tokens-per-second for a real figure.
FALLBACK_RATE = FEEDBACK_RATE.model_copy(update={"source": "stand-in: the feedback model's rate"})


class StagePlan(BaseModel):
    """One stage's calls, tokens, time and cost, with the estimates they sum."""

    name: str
    kind: str
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = Field(0, description="at the max_tokens limits: an upper bound")
    steps: int | None = Field(None, description="training stages: optimizer steps")
    sequences: int | None = Field(None, description="training stages: sequences seen")
    seconds: float | None = Field(None, description="None for training (not estimated)")
    cost: float | None = Field(None, description="None unless a price covers its calls")
    detail: list[CallEstimate] = Field(default_factory=list)


class RunPlan(BaseModel):
    """Every stage's plan and their total."""

    name: str
    stages: list[StagePlan]
    total: StagePlan
    rates: dict[str, Rate] = Field(description="the rate used for each model key")

    def to_dict(self) -> dict:
        """JSON data: ``{"name", "stages": [...], "total": {...}, "rates": {...}}``."""
        return self.model_dump(mode="json", exclude_none=False)


def parse_rates(values: Iterable[str]) -> dict[str, Rate]:
    """``KEY=GEN[/PROMPT]`` options as rates (PROMPT defaults to the fallback's).

    Raises:
        ConfigError: a malformed value, naming it and the expected form.
    """
    out = {}
    for value in values:
        key, numbers = _split(
            value, "--tokens-per-second", "KEY=GEN[/PROMPT], e.g. feedback=34/150"
        )
        gen, _, prompt = numbers.partition("/")
        try:
            out[key] = Rate(
                generate=float(gen),
                prompt=float(prompt) if prompt else FALLBACK_RATE.prompt,
                source="given" if prompt else "given (prompt: default)",
            )
        except ValueError:
            raise ConfigError(
                f"--tokens-per-second {value!r}: give positive numbers as "
                "KEY=GEN[/PROMPT], e.g. feedback=34/150."
            ) from None
    return out


def parse_prices(values: Iterable[str]) -> dict[str, Price]:
    """``KEY=IN/OUT`` options (per million tokens) as prices.

    Raises:
        ConfigError: a malformed value, naming it and the expected form.
    """
    out = {}
    for value in values:
        key, numbers = _split(value, "--price", "KEY=IN_PER_MTOK/OUT_PER_MTOK, e.g. api=0.5/1.5")
        inp, sep, outp = numbers.partition("/")
        try:
            if not sep:
                raise ValueError
            out[key] = Price(input=float(inp), output=float(outp))
        except ValueError:
            raise ConfigError(
                f"--price {value!r}: give non-negative numbers as "
                "KEY=IN_PER_MTOK/OUT_PER_MTOK, e.g. api=0.5/1.5."
            ) from None
    return out


def _split(value: str, option: str, form: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key.strip() or not rest.strip():
        raise ConfigError(f"{option} {value!r}: give {form}.")
    return key.strip(), rest.strip()


def default_rate(config: RunConfig, key: str) -> Rate:
    """The built-in rate of ``models.<key>``: measured for the embedded feedback model."""
    spec = config.models.get(key)
    if spec is not None and spec.model == "embedded:feedback":
        return FEEDBACK_RATE
    return FALLBACK_RATE


def plan_run(
    config_path: str | Path,
    rates: dict[str, Rate] | None = None,
    prices: dict[str, Price] | None = None,
) -> RunPlan:
    """The plan of every stage of the config at ``config_path``.

    Args:
        config_path: the YAML experiment config.
        rates: tokens per second by model key (others: :func:`default_rate`).
        prices: price per million tokens by model key (others: no cost).

    Raises:
        ConfigError: the config is invalid, or a rate or price names no model key.
    """
    config, base_dir = load_config(config_path)
    rates, prices = rates or {}, prices or {}
    for option, given in (("--tokens-per-second", rates), ("--price", prices)):
        unknown = sorted(set(given) - set(config.models))
        if unknown:
            raise ConfigError(
                f"{option} {', '.join(unknown)}: no such model key; the config has "
                f"{', '.join(config.models) or 'none'}."
            )
    source = config.constitution
    if source != "default" and not Path(source).is_absolute():
        source = str(base_dir / source)
    ctx = PlanContext(
        base_dir=base_dir,
        constitution=load_constitution(source),
        stages={s.name: s for s in config.stages},
    )
    used = {key: rates.get(key) or default_rate(config, key) for key in config.models}
    stages = [_stage_plan(s.name, s.kind, s.estimate(ctx), used, prices) for s in config.stages]
    total = _total(stages)
    return RunPlan(name=config.name, stages=stages, total=total, rates=used)


def _stage_plan(
    name: str,
    kind: str,
    detail: list[CallEstimate],
    rates: dict[str, Rate],
    prices: dict[str, Price],
) -> StagePlan:
    calls = [e for e in detail if e.call != "train"]
    trained = [e for e in detail if e.call == "train"]
    priced = [e for e in calls if e.model in prices]
    return StagePlan(
        name=name,
        kind=kind,
        calls=sum(e.calls for e in calls),
        prompt_tokens=sum(e.prompt_tokens for e in calls),
        completion_tokens=sum(e.completion_tokens for e in calls),
        steps=sum(e.steps or 0 for e in trained) if trained else None,
        sequences=sum(e.sequences or 0 for e in trained) if trained else None,
        seconds=(
            round(sum(_seconds(e, rates[e.model]) for e in calls), 1)
            if calls or not trained
            else None
        ),
        cost=round(sum(_cost(e, prices[e.model]) for e in priced), 6) if priced else None,
        detail=detail,
    )


def _seconds(e: CallEstimate, rate: Rate) -> float:
    return e.prompt_tokens / rate.prompt + e.completion_tokens / rate.generate


def _cost(e: CallEstimate, price: Price) -> float:
    return (e.prompt_tokens * price.input + e.completion_tokens * price.output) / 1e6


def _total(stages: list[StagePlan]) -> StagePlan:
    costs = [s.cost for s in stages if s.cost is not None]
    steps = [s.steps for s in stages if s.steps is not None]
    return StagePlan(
        name="total",
        kind="",
        calls=sum(s.calls for s in stages),
        prompt_tokens=sum(s.prompt_tokens for s in stages),
        completion_tokens=sum(s.completion_tokens for s in stages),
        steps=sum(steps) if steps else None,
        sequences=sum(s.sequences or 0 for s in stages) if steps else None,
        seconds=round(sum(s.seconds or 0.0 for s in stages), 1),
        cost=round(sum(costs), 6) if costs else None,
    )
