"""The harmlessness-vs-helpfulness frontier plot (after Bai et al. 2022, figure 2).

Each model is a point at (helpfulness Elo, harmlessness Elo) with its 95%
intervals as error bars; up and to the right is better on both. Drawn with
matplotlib's Agg backend, so it needs no display.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from charter.evals.results import FrontierPoint


def plot_frontier(points: Sequence[FrontierPoint], paths: Sequence[Path], title: str = "") -> None:
    """Write the frontier plot to each path (the suffix picks the format: .png, .svg)."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    try:
        for point in points:
            x, y = point.helpfulness_elo, point.harmlessness_elo
            xerr = _err(x, point.helpfulness_ci)
            yerr = _err(y, point.harmlessness_ci)
            ax.errorbar(x, y, xerr=xerr, yerr=yerr, fmt="o", capsize=3, label=point.model)
            ax.annotate(point.model, (x, y), textcoords="offset points", xytext=(6, 6))
        ax.axhline(0, color="0.85", linewidth=0.8, zorder=0)
        ax.axvline(0, color="0.85", linewidth=0.8, zorder=0)
        ax.set_xlabel("Helpfulness Elo")
        ax.set_ylabel("Harmlessness Elo")
        ax.set_title(title or "Harmlessness vs helpfulness (95% intervals)")
        fig.tight_layout()
        for path in paths:
            path.parent.mkdir(parents=True, exist_ok=True)
            fig.savefig(path)
    finally:
        plt.close(fig)


def _err(value: float, ci: tuple[float, float] | None) -> list[list[float]] | None:
    if ci is None:
        return None
    return [[max(0.0, value - ci[0])], [max(0.0, ci[1] - value)]]
