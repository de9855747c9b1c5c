"""The collective page's plots, as inline SVG (matplotlib, Agg backend).

- :func:`lorenz_plot`: Lorenz curves of stake and influence per author key;
- :func:`hs_plot`: h (benefit to people broadly) against s (benefit to the
  depositor) for every wish, rubric scores ringed where a judge scored them;
- :func:`group_map`: the wishes on their first two principal components,
  coloured by opinion group, sized by influence;
- :func:`coverage_plot`: the share of influence each article covers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from charter._util.html import figure_svg, pyplot
from charter.collective.results import ArticleCoverage, WishPoint

COLOURS: dict[str | None, str] = {
    "humanity": "#2b8a3e",
    "self": "#c92a2a",
    "mixed": "#e67700",
    None: "#868e96",
}


def lorenz_plot(series: Mapping[str, Sequence[float]]) -> str:
    """Lorenz curves of per-key totals (one line per series) against equality."""
    fig, ax = pyplot().subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], color="#aaa", linestyle="--", label="equal")
    for label, values in series.items():
        x = np.sort(np.asarray(values, dtype=float))
        if x.size == 0 or x.sum() == 0:
            continue
        cum = np.concatenate([[0], np.cumsum(x) / x.sum()])
        ax.plot(np.linspace(0, 1, len(cum)), cum, label=label)
    ax.set_xlabel("share of keys (smallest first)")
    ax.set_ylabel("share of the total")
    ax.legend(loc="upper left")
    return figure_svg(fig)


def hs_plot(wishes: Sequence[WishPoint]) -> str:
    """h against s: projections for every wish, rubric scores ringed where judged."""
    fig, ax = pyplot().subplots(figsize=(5.5, 4.5))
    for label, colour in COLOURS.items():
        pts = [w for w in wishes if w.orientation == label]
        if pts:
            ax.scatter(
                [w.s_projection for w in pts],
                [w.h_projection for w in pts],
                s=14,
                alpha=0.6,
                color=colour,
                label=f"{label or 'unlabelled'} (projection)",
            )
    judged = [w for w in wishes if w.h_rubric is not None and w.s_rubric is not None]
    if judged:
        ax.scatter(
            [w.s_rubric for w in judged],
            [w.h_rubric for w in judged],
            s=40,
            facecolors="none",
            edgecolors=[COLOURS.get(w.orientation, COLOURS[None]) for w in judged],
            label="rubric (judge)",
        )
    ax.set_xlabel("s: benefit to the depositor")
    ax.set_ylabel("h: benefit to people broadly")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7, loc="best")
    return figure_svg(fig)


def group_map(wishes: Sequence[WishPoint], k: int) -> str:
    """The wishes on their first two principal components, coloured by group."""
    plt = pyplot()
    cmap = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(6, 4.5))
    weights = np.array([w.weight for w in wishes], dtype=float)
    top = weights.max() if weights.size else 0.0
    sizes = 8 + 60 * np.sqrt(weights / top) if top > 0 else np.full(weights.shape, 10.0)
    groups = np.array([w.group for w in wishes])
    xs, ys = np.array([w.x for w in wishes]), np.array([w.y for w in wishes])
    for g in range(k):
        mask = groups == g
        ax.scatter(
            xs[mask], ys[mask], s=sizes[mask], alpha=0.6, color=cmap(g % 10), label=f"group {g}"
        )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7, loc="best")
    return figure_svg(fig)


def coverage_plot(per_article: Sequence[ArticleCoverage], title: str) -> str:
    """Stake share covered by each article (bars) with the wish count written on each."""
    fig, ax = pyplot().subplots(figsize=(7, max(2.5, 0.28 * len(per_article) + 1)))
    labels = [f"{a.article_id} {a.title[:32]}" for a in per_article]
    shares = [a.stake_share for a in per_article]
    ax.barh(range(len(labels)), shares, color="#4263eb")
    for i, a in enumerate(per_article):
        ax.text(shares[i], i, f" {a.wishes}", va="center", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share of influence covered (number of wishes at bar end)")
    ax.set_title(title, fontsize=9)
    return figure_svg(fig)
