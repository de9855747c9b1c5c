"""The collective report: one self-contained HTML page from an analysis's ``results.json``.

Issue 4, point 8. Plots are drawn with matplotlib's Agg backend and inlined as
SVG; the CSS is inline; the page loads nothing from anywhere, so it can be
mailed, archived or opened offline. Sections (each with an ``id``): provenance,
influence concentration (Lorenz curves, Gini, top shares), humanity vs self
(h/s scatter, cancellation, top self-serving wishes), the group map and group
summaries, consensus and bridging (when votes exist), coverage per article and
uncovered wishes, reconstruction accuracy, and the drafted constitution.
"""

from __future__ import annotations

import html
import io
from pathlib import Path
from typing import Any

import numpy as np

CSS = """
body{font:15px/1.5 system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.6em}h2{border-bottom:2px solid #ddd;padding-bottom:.2em;margin-top:2em}
table{border-collapse:collapse;margin:.8em 0;font-size:.92em}
td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f4f4f4}.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#555;font-size:.92em}.plot svg{max-width:100%;height:auto}
.wish{max-width:620px}.mono{font-family:ui-monospace,monospace;font-size:.85em}
.grid{display:grid;grid-template-columns:1fr 1fr;gap:1em}
"""

COLOURS = {"humanity": "#2b8a3e", "self": "#c92a2a", "mixed": "#e67700", None: "#868e96"}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _f(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and np.isnan(value):
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else _e(value)


def _svg(fig) -> str:
    """A matplotlib figure as inline SVG (closed afterwards)."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return '<div class="plot">' + text[text.find("<svg") :] + "</div>"


def _figure(width: float = 5.5, height: float = 4.0):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(width, height))


def _table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _wish(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    short = text if len(text) <= limit else text[:limit] + "…"
    return f'<div class="wish">{_e(short)}</div>'


# -- plots ---------------------------------------------------------------------------------


def lorenz_plot(series: dict[str, list[float]]) -> str:
    """Lorenz curves of per-key totals (one line per series) against equality."""
    fig, ax = _figure(5, 4)
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
    return _svg(fig)


def hs_plot(wishes: list[dict[str, Any]]) -> str:
    """h against s: projections for every wish, rubric scores ringed where judged."""
    fig, ax = _figure(5.5, 4.5)
    for label, colour in COLOURS.items():
        pts = [w for w in wishes if w.get("orientation") == label]
        if pts:
            ax.scatter(
                [w["s_projection"] for w in pts],
                [w["h_projection"] for w in pts],
                s=14,
                alpha=0.6,
                color=colour,
                label=f"{label or 'unlabelled'} (projection)",
            )
    judged = [w for w in wishes if w.get("h_rubric") is not None]
    if judged:
        ax.scatter(
            [w["s_rubric"] for w in judged],
            [w["h_rubric"] for w in judged],
            s=40,
            facecolors="none",
            edgecolors=[COLOURS.get(w.get("orientation"), "#868e96") for w in judged],
            label="rubric (judge)",
        )
    ax.set_xlabel("s: benefit to the depositor")
    ax.set_ylabel("h: benefit to people broadly")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-0.03, 1.03)
    ax.legend(fontsize=7, loc="best")
    return _svg(fig)


def group_map(wishes: list[dict[str, Any]], k: int) -> str:
    """The wishes on their first two principal components, coloured by group."""
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    fig, ax = _figure(6, 4.5)
    weights = np.array([w["weight"] for w in wishes], dtype=float)
    sizes = 8 + 60 * np.sqrt(weights / weights.max()) if weights.max() > 0 else 10
    groups = np.array([w["group"] for w in wishes])
    xs, ys = np.array([w["x"] for w in wishes]), np.array([w["y"] for w in wishes])
    for g in range(k):
        mask = groups == g
        ax.scatter(
            xs[mask],
            ys[mask],
            s=np.asarray(sizes)[mask] if np.ndim(sizes) else sizes,
            alpha=0.6,
            color=cmap(g % 10),
            label=f"group {g}",
        )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.legend(fontsize=7, loc="best")
    return _svg(fig)


def coverage_plot(per_article: list[dict[str, Any]], title: str) -> str:
    """Stake share covered by each article (bars) with the wish count written on each."""
    fig, ax = _figure(7, max(2.5, 0.28 * len(per_article) + 1))
    labels = [f"{a['article_id']} {a['title'][:32]}" for a in per_article]
    shares = [a["stake_share"] for a in per_article]
    ax.barh(range(len(labels)), shares, color="#4263eb")
    for i, a in enumerate(per_article):
        ax.text(shares[i], i, f" {a['wishes']}", va="center", fontsize=7)
    ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("share of influence covered (number of wishes at bar end)")
    ax.set_title(title, fontsize=9)
    return _svg(fig)


# -- sections --------------------------------------------------------------------------------


def _provenance(r: dict[str, Any]) -> str:
    ledger = r["ledger"]
    rows = [
        ["ledger origin", _e(ledger["origin"])],
        ["wishes (tree size)", _e(ledger["size"])],
        ["root", f'<span class="mono">{_e(ledger["root"])}</span>'],
        ["checkpoint verified", _e(ledger["verified"])],
        ["embedder", _e(r["models"]["embedder"])],
        ["judge / drafter", _e(r["models"]["judge"] or "none (--no-judge)")],
        ["constitution hash", f'<span class="mono">{_e(r["constitution_hash"])}</span>'],
        ["influence transform", _e(r["options"]["transform"])],
        ["created", _e(r["created_at"])],
    ]
    note = ""
    if ledger.get("checkpoint"):
        note = (
            f'<details><summary>signed checkpoint</summary><pre class="mono">'
            f"{_e(ledger['checkpoint'])}</pre></details>"
        )
    return '<h2 id="provenance">Provenance</h2>' + _table(["", ""], rows) + note


def _concentration(r: dict[str, Any]) -> str:
    inf = r["influence"]
    rows = [
        [
            _e(label),
            _f(c["gini"]),
            _f(c["top1_share"]),
            _f(c["top10_share"]),
            _f(c["effective_keys"], 1),
            _e(c["keys"]),
        ]
        for label, c in inf["concentration"].items()
    ]
    plot = lorenz_plot(
        {
            "stake (deposited)": inf["stake_by_key"],
            f"influence ({inf['transform']})": inf["influence_by_key"],
        }
    )
    return (
        '<h2 id="concentration">Influence concentration</h2>'
        '<p class="note">Per author key. Gini 0 = equal; top-1%/10% = share held by the '
        "largest 1%/10% of keys; effective keys = 1/sum(p²).</p>"
        + _table(["per key", "Gini", "top 1%", "top 10%", "effective keys", "keys"], rows)
        + plot
    )


def _humanity(r: dict[str, Any]) -> str:
    hum = r["humanity"]
    rows = []
    for scorer in ("projection", "rubric"):
        if scorer not in hum:
            continue
        c = hum[scorer]["cancellation"]
        for kind in ("embedding", "scalar"):
            rows.append(
                [
                    _e(scorer),
                    _e(kind),
                    _f(c[f"self_{kind}"]),
                    _f(c[f"humanity_{kind}"]),
                ]
            )
        rows.append([_e(scorer), "by author", _f(c.get("self_by_author")), "–"])
    auc_rows = [
        [_e(s), _f(hum[s]["auc_s"]), _f(hum[s]["auc_h"]), _e(hum[s].get("n", len(r["wishes"])))]
        for s in ("projection", "rubric")
        if s in hum
    ]
    top = hum.get("rubric", hum["projection"])["top_self"]
    which = "rubric" if "rubric" in hum else "projection"
    top_rows = [
        [
            _f(t["pull"]),
            _f(t["s"]),
            _f(t["weight"], 1),
            _e(t["orientation"] or ""),
            _wish(t["text"]),
        ]
        for t in top
    ]
    return (
        '<h2 id="humanity">Humanity vs self</h2>'
        + '<div class="grid"><div>'
        + hs_plot(r["wishes"])
        + "</div><div>"
        + '<p class="note">Cancellation C = ‖Σ wᵢvᵢ‖ / Σ wᵢ‖vᵢ‖: 1 = the pulls add up, 0 = '
        "they cancel. The claim under test: C(self) low, C(humanity) high.</p>"
        + _table(["scorer", "space", "C self", "C humanity"], rows)
        + '<p class="note">AUC of s ranking the sample\'s self-serving wishes above its '
        "humanity-serving ones (and of h the other way); 0.5 = chance.</p>"
        + _table(["scorer", "AUC s", "AUC h", "wishes"], auc_rows)
        + "</div></div>"
        + f'<h3 id="self-serving">Wishes pulling hardest toward self ({which}: weight × s)</h3>'
        + _table(["pull", "s", "weight", "label", "wish"], top_rows)
    )


def _groups(r: dict[str, Any]) -> str:
    g = r["groups"]
    rows = [
        [
            _e(s["group"]),
            _e(s["size"]),
            _f(s["stake_share"]),
            _e(", ".join(f"{t} ({n})" for t, n in s["top_tags"])),
            "".join(_wish(t, 180) for t in s["representative_texts"]),
        ]
        for s in g["summaries"]
    ]
    sil = ", ".join(f"k={k}: {v:.3f}" for k, v in g["silhouettes"].items())
    return (
        '<h2 id="group-map">Opinion groups</h2>'
        f'<p class="note">PCA then k-means; k = {g["k"]} chosen by silhouette ({_e(sil)}). '
        "Point size ~ √influence.</p>"
        + group_map(r["wishes"], g["k"])
        + _table(["group", "wishes", "stake share", "top tags", "nearest the centre"], rows)
    )


def _consensus(r: dict[str, Any]) -> str:
    c = r.get("consensus")
    if not c:
        return (
            '<h2 id="consensus">Consensus and bridging</h2><p class="note">No votes were '
            "given, so no consensus or bridging scores.</p>"
        )

    def rows(items):
        return [
            [
                _f(i["consensus"]),
                _f(i["bridging"]),
                _e(i["endorse"]),
                _e(i["oppose"]),
                _wish(i["text"]),
            ]
            for i in items
        ]

    header = ["consensus", "bridging", "endorse", "oppose", "wish"]
    return (
        '<h2 id="consensus">Consensus and bridging</h2>'
        f'<p class="note">{c["voters"]} voters in {c["voter_groups"]} groups, '
        f"{c['wishes_with_votes']} wishes with votes.</p>"
        "<h3>Highest group-aware consensus</h3>"
        + _table(header, rows(c["top_consensus"]))
        + "<h3>Highest bridging score</h3>"
        + _table(header, rows(c["top_bridging"]))
    )


def _fidelity(r: dict[str, Any]) -> str:
    f = r["fidelity"]
    cov = f["coverage"]
    out = (
        '<h2 id="coverage">Constitution fidelity</h2>'
        f"<p>Constitution <b>{_e(f['constitution'])}</b>: cosine between the stake-weighted "
        f"collective wish embedding and the constitution embedding "
        f"<b>{_f(f['collective_similarity'])}</b>; "
        f"{_f(100 * cov['covered_share'], 1)}% of wishes "
        f"({_f(100 * cov['covered_stake_share'], 1)}% of influence) have an article with "
        f"similarity ≥ {cov['threshold']}.</p>"
        + coverage_plot(cov["per_article"], "coverage per article")
    )
    uncovered = [
        [_f(u["similarity"]), _e(u["best_article"]), _f(u["weight"], 1), _wish(u["text"])]
        for u in cov["uncovered"]
    ]
    out += (
        f'<h3 id="uncovered">Uncovered wishes ({cov["uncovered_count"]}, lowest first)</h3>'
        + _table(["best sim.", "best article", "weight", "wish"], uncovered)
    )
    rec = f.get("reconstruction")
    if rec:
        rows = [["all", *_acc(rec["overall"])]] + [
            [_e(a), *_acc(s)] for a, s in rec["per_article"].items()
        ]
        out += (
            '<h3 id="reconstruction">Reconstruction</h3><p class="note">Can a judge that sees '
            "only the constitution pick the reply that fulfils the wish? (Wilson 95% CI.)</p>"
            + _table(["article", "n", "correct", "accuracy", "95% CI"], rows)
        )
    return out


def _acc(s: dict[str, Any]) -> list[str]:
    ci = s["ci95"]
    return [
        _e(s["n"]),
        _e(s["correct"]),
        _f(s["accuracy"]),
        f"{ci[0]:.2f}–{ci[1]:.2f}" if ci else "–",
    ]


def _draft(r: dict[str, Any]) -> str:
    d = r.get("draft")
    if not d or not d.get("articles"):
        why = "drafting was off or no judge" if not d else "every draft failed (errors.jsonl)"
        return f'<h2 id="draft">Drafted constitution</h2><p class="note">None: {why}.</p>'
    rows = [
        [_e(a["id"]), _e(a["title"]), _wish(a["rule"], 400), _e(len(a["cites"]))]
        for a in d["articles"]
    ]
    given = r["fidelity"]
    compare = _table(
        ["constitution", "collective similarity", "wishes covered", "influence covered"],
        [
            [
                _e(given["constitution"]),
                _f(given["collective_similarity"]),
                _f(given["coverage"]["covered_share"]),
                _f(given["coverage"]["covered_stake_share"]),
            ],
            [
                "drafted",
                _f(d["collective_similarity"]),
                _f(d["coverage"]["covered_share"]),
                _f(d["coverage"]["covered_stake_share"]),
            ],
        ],
    )
    return (
        '<h2 id="draft">Drafted constitution</h2>'
        f'<p class="note">Written to {_e(d["yaml"])}; each cited wish\'s Merkle inclusion '
        f"proof is in {_e(d['citations'])}.</p>"
        + _table(["id", "title", "rule", "wishes cited"], rows)
        + "<h3>Fidelity beside the given constitution</h3>"
        + compare
    )


def render_report(results: dict[str, Any]) -> str:
    """The whole page as one HTML string."""
    title = f"Collective report: {results['ledger']['origin'] or 'wish ledger'}"
    parts = [
        _provenance(results),
        _concentration(results),
        _humanity(results),
        _groups(results),
        _consensus(results),
        _fidelity(results),
        _draft(results),
    ]
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{CSS}</style></head><body><h1>{_e(title)}</h1>"
        f'<p class="note">{results["ledger"]["size"]} wishes at checkpoint '
        f'<span class="mono">{_e(results["ledger"]["checkpoint_id"])}</span>.</p>'
        + "".join(parts)
        + "</body></html>\n"
    )


def write_report(results: dict[str, Any], path: str | Path) -> Path:
    """Render and write the page; return its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results), encoding="utf-8")
    return path
