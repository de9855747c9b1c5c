"""The report's plots as inline SVG strings (matplotlib, Agg backend: no display needed).

- :func:`frontier_svg`: harmlessness Elo against helpfulness Elo, one point per
  model with its bootstrap intervals as error bars - the frontier plot of Bai
  et al. 2022 (figure 2).
- :func:`rates_svg`: one row per model and metric, the rate as a dot with its
  95% interval as a bar (evasiveness, false refusal, misalignment, ...);
- :func:`training_svg`: a train stage's loss and, when logged, its reward
  margins (DPO, reward model) or mean reward (GRPO) against the step.

Figures are drawn and inlined by :mod:`charter._util.html` (the one HTML layer).
"""

from __future__ import annotations

from collections.abc import Sequence

from charter._util.html import figure_svg as _svg
from charter._util.html import pyplot
from charter.evals.results import EvalResult, FrontierPoint
from charter.report.models import TrainCurve


def frontier_points(results: Sequence[EvalResult]) -> list[FrontierPoint]:
    """Frontier points from the two Elo results when no report listed them."""
    by_name = {r.name: r for r in results}
    harm, helpful = by_name.get("harmlessness_elo"), by_name.get("helpfulness_elo")
    if harm is None or helpful is None:
        return []
    points = []
    for model, h in harm.per_model.items():
        p = helpful.per_model.get(model)
        if p is None:
            continue
        points.append(
            FrontierPoint(
                model=model,
                helpfulness_elo=p.value,
                harmlessness_elo=h.value,
                helpfulness_ci=(p.ci_low, p.ci_high) if p.ci_low is not None else None,
                harmlessness_ci=(h.ci_low, h.ci_high) if h.ci_low is not None else None,
            )
        )
    return points


def frontier_svg(points: Sequence[FrontierPoint]) -> str:
    """Harmlessness Elo (y) against helpfulness Elo (x), with interval bars."""
    fig, ax = pyplot().subplots(figsize=(5.5, 4.2))
    for point in points:
        x, y = point.helpfulness_elo, point.harmlessness_elo
        xerr = yerr = None
        if point.helpfulness_ci:
            xerr = [[x - point.helpfulness_ci[0]], [point.helpfulness_ci[1] - x]]
        if point.harmlessness_ci:
            yerr = [[y - point.harmlessness_ci[0]], [point.harmlessness_ci[1] - y]]
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", capsize=3, label=point.model)
        ax.annotate(point.model, (x, y), textcoords="offset points", xytext=(6, 6), fontsize=9)
    ax.set_xlabel("Helpfulness Elo")
    ax.set_ylabel("Harmlessness Elo")
    ax.set_title("Harmlessness vs helpfulness (95% bootstrap intervals)")
    ax.grid(alpha=0.3)
    return _svg(fig)


def rates_svg(results: Sequence[EvalResult]) -> str:
    """Each rate result's per-model value with its 95% interval, one row per pair."""
    rows = [
        (f"{result.name} · {model}", score.value, score.ci_low, score.ci_high, result)
        for result in results
        for model, score in result.per_model.items()
    ]
    fig, ax = pyplot().subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    for i, (_, value, low, high, result) in enumerate(rows):
        colour = "#2a7" if result.higher_is_better else "#c53"
        if low is not None and high is not None:
            ax.plot([low, high], [i, i], color=colour, linewidth=3, alpha=0.5)
        ax.plot([value], [i], "o", color=colour)
    ax.set_yticks(range(len(rows)), [r[0] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("rate (dot) and 95% interval (bar); red: lower is better")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def training_svg(curve: TrainCurve) -> str:
    """Loss (left axis) and reward margin or mean reward (right axis) against the step."""
    fig, ax = pyplot().subplots(figsize=(6, 3.2))
    losses = [(p.step, p.loss) for p in curve.points if p.loss is not None]
    if losses:
        ax.plot(*zip(*losses, strict=True), color="#2457a6", label="loss")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    margins = [(p.step, p.margin) for p in curve.points if p.margin is not None]
    rewards = [(p.step, p.reward) for p in curve.points if p.reward is not None]
    second, label = (margins, "reward margin") if margins else (rewards, "mean reward")
    if second:
        right = ax.twinx()
        right.plot(*zip(*second, strict=True), color="#c53", label=label)
        right.set_ylabel(label)
    ax.set_title(f"{curve.stage} ({curve.kind or 'train'})", fontsize=10)
    ax.grid(alpha=0.3)
    return _svg(fig)
