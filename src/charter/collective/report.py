# ruff: noqa: E501 - the section template follows the markup, not Python line length.
"""The collective's page, and the collective section of the run report.

Issue 4, point 8. :func:`collective_section` renders one analysis
(:class:`~charter.collective.results.CollectiveResults`) as HTML sections, each
with an ``id``: provenance, influence concentration (Lorenz curves, Gini, top
shares), humanity vs self (h/s scatter, cancellation, top self-serving
wishes), the group map and group summaries, consensus and bridging (when votes
exist), coverage per article and uncovered wishes, reconstruction accuracy,
the drafted constitution and its citations with their Merkle proofs.
:func:`render_report` puts those sections on a page of their own; the run
report (:mod:`charter.report`) embeds the same fragment with its ids prefixed
``collective-``. Both render through :mod:`charter._util.html`: one template
engine, one stylesheet, everything inline, nothing fetched.

Run it: ``charter collective report builtin:sample --out collective.html``.
"""

from __future__ import annotations

from pathlib import Path

from charter._util.html import render, render_page
from charter.collective.citations import CitationView, check_citation
from charter.collective.plots import coverage_plot, group_map, hs_plot, lorenz_plot
from charter.collective.results import CITATIONS, CollectiveResults, DraftCitations

CHANCE = 0.5  # reconstruction picks one of two replies

SECTIONS = r"""
<section id="{{ p }}provenance">
  <h2>Provenance</h2>
  <table>
    <tr><th>ledger origin</th><td>{{ r.ledger.origin or "" }}</td></tr>
    <tr><th>wishes (tree size)</th><td>{{ r.ledger.size }}</td></tr>
    <tr><th>root</th><td class="mono">{{ r.ledger.root }}</td></tr>
    <tr><th>checkpoint verified</th><td>{{ r.ledger.verified }}</td></tr>
    <tr><th>embedder</th><td>{{ r.models.embedder }}</td></tr>
    <tr><th>judge / drafter</th><td>{{ r.models.judge or "none (--no-judge)" }}</td></tr>
    <tr><th>constitution hash</th><td class="mono">{{ r.constitution_hash }}</td></tr>
    <tr><th>influence transform</th><td>{{ r.influence.transform }}</td></tr>
    <tr><th>created</th><td>{{ r.created_at or "" }}</td></tr>
  </table>
  {% if r.ledger.checkpoint %}<details><summary>signed checkpoint</summary><pre class="mono">{{ r.ledger.checkpoint }}</pre></details>{% endif %}
</section>

<section id="{{ p }}concentration">
  <h2>Influence concentration</h2>
  <p class="note">Per author key. Gini 0 = equal; top-1%/10% = share held by the largest 1%/10% of keys;
  effective keys = 1/sum(p²).</p>
  <table><tr><th>per key</th><th>Gini</th><th>top 1%</th><th>top 10%</th><th>effective keys</th><th>keys</th></tr>
  {% for label, c in r.influence.concentration.items() %}<tr class="gini-row"><td>{{ label }}</td><td class="num">{{ c.gini|fmt }}</td>
    <td class="num">{{ c.top1_share|fmt }}</td><td class="num">{{ c.top10_share|fmt }}</td>
    <td class="num">{{ c.effective_keys|fmt(1) }}</td><td class="num">{{ c.keys }}</td></tr>{% endfor %}
  </table>
  <div class="plot">{{ plots.lorenz | safe }}</div>
</section>

<section id="{{ p }}humanity">
  <h2>Humanity vs self (h/s)</h2>
  <div class="grid"><div class="plot">{{ plots.hs | safe }}</div><div>
  <p class="note">Cancellation C = ‖Σ wᵢvᵢ‖ / Σ wᵢ‖vᵢ‖: 1 = the pulls add up, 0 = they cancel.
  The claim under test: C(self) low, C(humanity) high.</p>
  <table><tr><th>scorer</th><th>space</th><th>C self</th><th>C humanity</th></tr>
  {% for name, s in scorers %}
    <tr><td>{{ name }}</td><td>embedding</td><td class="num">{{ s.cancellation.self_embedding|fmt }}</td><td class="num">{{ s.cancellation.humanity_embedding|fmt }}</td></tr>
    <tr><td>{{ name }}</td><td>scalar</td><td class="num">{{ s.cancellation.self_scalar|fmt }}</td><td class="num">{{ s.cancellation.humanity_scalar|fmt }}</td></tr>
    <tr><td>{{ name }}</td><td>by author</td><td class="num">{{ s.cancellation.self_by_author|fmt }}</td><td class="num">–</td></tr>
  {% endfor %}
  </table>
  <p class="note">AUC of s ranking the sample's self-serving wishes above its humanity-serving ones
  (and of h the other way); 0.5 = chance.</p>
  <table><tr><th>scorer</th><th>AUC s</th><th>AUC h</th><th>wishes</th></tr>
  {% for name, s in scorers %}<tr><td>{{ name }}</td><td class="num">{{ s.auc_s|fmt }}</td><td class="num">{{ s.auc_h|fmt }}</td>
    <td class="num">{{ s.n if s.n is not none else r.wishes|length }}</td></tr>{% endfor %}
  </table>
  </div></div>
  <h3 id="{{ p }}self-serving">Wishes pulling hardest toward self ({{ top_self_scorer }}: weight × s)</h3>
  <table><tr><th>pull</th><th>s</th><th>weight</th><th>label</th><th>wish</th></tr>
  {% for t in top_self %}<tr><td class="num">{{ t.pull|fmt }}</td><td class="num">{{ t.s|fmt }}</td><td class="num">{{ t.weight|fmt(1) }}</td>
    <td>{{ t.orientation or "" }}</td><td><div class="wish">{{ t.text|clip(300) }}</div></td></tr>{% endfor %}
  </table>
</section>

<section id="{{ p }}group-map">
  <h2>Opinion groups</h2>
  <p class="note">PCA then k-means; k = {{ r.groups.k }} chosen by silhouette
  ({% for k, v in r.groups.silhouettes.items() %}k={{ k }}: {{ v|fmt }}{% if not loop.last %}, {% endif %}{% endfor %}).
  Point size ~ √influence.</p>
  <div class="plot">{{ plots.groups | safe }}</div>
  <table><tr><th>group</th><th>wishes</th><th>stake share</th><th>top tags</th><th>nearest the centre</th></tr>
  {% for s in r.groups.summaries %}<tr><td>{{ s.group }}</td><td class="num">{{ s.size }}</td><td class="num">{{ s.stake_share|fmt }}</td>
    <td>{% for t, n in s.top_tags %}{{ t }} ({{ n }}){% if not loop.last %}, {% endif %}{% endfor %}</td>
    <td>{% for t in s.representative_texts %}<div class="wish">{{ t|clip(180) }}</div>{% endfor %}</td></tr>{% endfor %}
  </table>
</section>

<section id="{{ p }}consensus">
  <h2>Consensus and bridging</h2>
  {% if r.consensus %}
  <p class="note">{{ r.consensus.voters }} voters in {{ r.consensus.voter_groups }} groups,
  {{ r.consensus.wishes_with_votes }} wishes with votes.</p>
  {% for heading, items in (("Highest group-aware consensus", r.consensus.top_consensus), ("Highest bridging score", r.consensus.top_bridging)) %}
  <h3>{{ heading }}</h3>
  <table><tr><th>consensus</th><th>bridging</th><th>endorse</th><th>oppose</th><th>wish</th></tr>
  {% for i in items %}<tr><td class="num">{{ i.consensus|fmt }}</td><td class="num">{{ i.bridging|fmt }}</td>
    <td class="num">{{ i.endorse }}</td><td class="num">{{ i.oppose }}</td><td><div class="wish">{{ i.text|clip(300) }}</div></td></tr>{% endfor %}
  </table>
  {% endfor %}
  {% else %}<p class="note">No votes were given, so no consensus or bridging scores.</p>{% endif %}
</section>

<section id="{{ p }}coverage">
  <h2>Constitution fidelity</h2>
  {% set f = r.fidelity %}
  <p>Constitution <b>{{ f.constitution }}</b>: cosine between the stake-weighted collective wish embedding and
  the constitution embedding <b>{{ f.collective_similarity|fmt }}</b>; {{ f.coverage.covered_share|pct(1) }} of wishes
  ({{ f.coverage.covered_stake_share|pct(1) }} of influence) have an article with similarity ≥ {{ f.coverage.threshold }}.</p>
  <div class="plot">{{ plots.coverage | safe }}</div>
  <h3 id="{{ p }}uncovered">Uncovered wishes ({{ f.coverage.uncovered_count }}, lowest first)</h3>
  <table><tr><th>best sim.</th><th>best article</th><th>weight</th><th>wish</th></tr>
  {% for u in f.coverage.uncovered %}<tr><td class="num">{{ u.similarity|fmt }}</td><td>{{ u.best_article }}</td>
    <td class="num">{{ u.weight|fmt(1) }}</td><td><div class="wish">{{ u.text|clip(300) }}</div></td></tr>{% endfor %}
  </table>
  {% if f.reconstruction %}
  <h3 id="{{ p }}reconstruction">Reconstruction</h3>
  <p class="note">Can a judge that sees only the constitution pick the reply that fulfils the wish?
  Wilson 95% intervals; chance is {{ chance }}.</p>
  <table><tr><th>article</th><th>n</th><th>correct</th><th>accuracy</th><th>95% CI</th><th>reading</th></tr>
  {% for name, a in accuracies %}<tr><td>{{ name }}</td><td class="num">{{ a.n }}</td><td class="num">{{ a.correct }}</td>
    <td class="num">{{ a.accuracy|fmt }}</td><td class="num">{% if a.ci95 %}{{ "%.2f"|format(a.ci95[0]) }}–{{ "%.2f"|format(a.ci95[1]) }}{% else %}–{% endif %}</td>
    <td class="verdict{% if a.inconclusive %} inconclusive{% endif %}">{{ a.reading }}</td></tr>{% endfor %}
  </table>
  {% endif %}
</section>

<section id="{{ p }}draft">
  <h2>Drafted constitution</h2>
  {% if not r.draft or not r.draft.articles %}
  <p class="note">None: {{ "drafting was off or no judge" if not r.draft else "every draft failed (errors.jsonl)" }}.</p>
  {% else %}
  <p class="note">Written to {{ r.draft.yaml }}; each cited wish's Merkle inclusion proof is in {{ r.draft.citations }}.</p>
  <table><tr><th>id</th><th>title</th><th>rule</th><th>wishes cited</th></tr>
  {% for a in r.draft.articles %}<tr><td>{{ a.id }}</td><td>{{ a.title }}</td><td><div class="wish">{{ a.rule|clip(400) }}</div></td>
    <td class="num">{{ a.cites|length }}</td></tr>{% endfor %}
  </table>
  <h3>Fidelity beside the given constitution</h3>
  <table><tr><th>constitution</th><th>collective similarity</th><th>wishes covered</th><th>influence covered</th></tr>
    <tr><td>{{ r.fidelity.constitution }}</td><td class="num">{{ r.fidelity.collective_similarity|fmt }}</td>
      <td class="num">{{ r.fidelity.coverage.covered_share|fmt }}</td><td class="num">{{ r.fidelity.coverage.covered_stake_share|fmt }}</td></tr>
    {% if r.draft.coverage %}<tr><td>drafted</td><td class="num">{{ r.draft.collective_similarity|fmt }}</td>
      <td class="num">{{ r.draft.coverage.covered_share|fmt }}</td><td class="num">{{ r.draft.coverage.covered_stake_share|fmt }}</td></tr>{% endif %}
  </table>
  <h3 id="{{ p }}citations">Citations and their proofs</h3>
  {% if cited is none %}<p class="warn">{{ r.draft.citations or "draft_citations.json" }} was not found beside this page: the proofs are not shown.</p>
  {% else %}
  <p class="note">Each citation's RFC 6962 inclusion proof is checked here against root
  <span class="mono">{{ cited_root }}</span>; "bound" means the quoted text is tied to its ledger leaf.</p>
  {% for title, checks in cited %}
  <details class="citations"><summary>{{ title }} · {{ checks|length }} citations</summary>
  <table><tr><th>quoted text</th><th>entry</th><th>leaf</th><th>proof</th><th>quote bound to leaf</th></tr>
  {% for c in checks %}<tr class="citation-row"><td><div class="wish">{{ c.quote|clip(300) }}</div></td>
    <td class="mono">{{ c.entry_id[:16] }}…</td><td class="num">{{ c.leaf_index }} of {{ c.tree_size }}</td>
    <td><span class="tag {{ 'good' if c.proof_verifies else 'bad' }}">{{ "verifies" if c.proof_verifies else "fails" }}</span>
      {{ c.proof_length }} hashes</td>
    <td><span class="tag {{ 'good' if c.binding == 'bound' else 'bad' }}">{{ c.binding }}</span><div class="{{ 'note' if c.binding == 'bound' else 'warn' }}">{{ c.reason }}</div></td></tr>{% endfor %}
  </table></details>
  {% endfor %}
  {% endif %}
  {% endif %}
</section>
"""


def _reading(n: int, ci: tuple[float, float] | None) -> tuple[str, bool]:
    """Words for an accuracy against chance: inconclusive when the interval includes it."""
    if not n or ci is None:
        return "no data", True
    if ci[0] <= CHANCE <= ci[1]:
        return f"inconclusive at n={n}: the interval includes chance", True
    return ("above chance" if ci[0] > CHANCE else "below chance") + f" (n={n})", False


def citation_checks(
    citations: DraftCitations | None,
) -> list[tuple[str, list[CitationView]]] | None:
    """Every drafted article's citations, checked (None when the file is absent)."""
    if citations is None:
        return None
    return [
        (f"{a.article_id} {a.title}", [check_citation(c, citations.root) for c in a.cites])
        for a in citations.articles
    ]


def collective_section(
    results: CollectiveResults,
    citations: DraftCitations | None = None,
    prefix: str = "",
) -> str:
    """The analysis as HTML sections; every section id starts with ``prefix``."""
    r = results  # the template's name for the analysis
    scorers = [("projection", r.humanity.projection)]
    if r.humanity.rubric is not None:
        scorers.append(("rubric", r.humanity.rubric))
    top_self_scorer, top_scores = scorers[-1]
    accuracies = []
    if r.fidelity.reconstruction:
        rec = r.fidelity.reconstruction
        for name, acc in [("all", rec.overall), *rec.per_article.items()]:
            reading, inconclusive = _reading(acc.n, acc.ci95)
            accuracies.append(
                (name, {**acc.model_dump(), "reading": reading, "inconclusive": inconclusive})
            )
    inf = r.influence
    plots = {
        "lorenz": lorenz_plot(
            {
                "stake (deposited)": inf.stake_by_key,
                f"influence ({inf.transform})": inf.influence_by_key,
            }
        ),
        "hs": hs_plot(r.wishes),
        "groups": group_map(r.wishes, r.groups.k),
        "coverage": coverage_plot(r.fidelity.coverage.per_article, "coverage per article"),
    }
    return render(
        SECTIONS,
        p=prefix,
        r=r,
        scorers=scorers,
        top_self_scorer=top_self_scorer,
        top_self=top_scores.top_self,
        accuracies=accuracies,
        chance=CHANCE,
        plots=plots,
        cited=citation_checks(citations),
        cited_root=citations.root if citations else "",
    )


def render_report(results: CollectiveResults, citations: DraftCitations | None = None) -> str:
    """The collective's own page as one HTML string."""
    ids = ["provenance", "concentration", "humanity", "group-map", "consensus", "coverage", "draft"]
    labels = ["Provenance", "Influence", "h/s", "Groups", "Consensus", "Fidelity", "Draft"]
    return render_page(
        f"Collective report: {results.ledger.origin or 'wish ledger'}",
        collective_section(results, citations),
        subtitle=f"{results.ledger.size} wishes at checkpoint {results.ledger.checkpoint_id}",
        toc=list(zip(ids, labels, strict=True)),
    )


def load_citations(folder: Path, results: CollectiveResults) -> DraftCitations | None:
    """The draft's ``draft_citations.json`` in ``folder``, when the analysis drafted one."""
    name = (results.draft.citations if results.draft else None) or CITATIONS
    path = folder / name
    return DraftCitations.load(path) if results.draft and path.is_file() else None


def write_report(
    results: CollectiveResults,
    path: str | Path,
    citations: DraftCitations | None = None,
) -> Path:
    """Render and write the page; return its path.

    Args:
        results: the analysis, as :func:`~charter.collective.analysis.analyze` returns it
            or :meth:`CollectiveResults.load` reads it from ``results.json``.
        path: the page to write.
        citations: the draft's citations; by default ``draft_citations.json``
            beside the page or in ``<page stem>_files/`` (``charter collective
            report``'s default work folder), when it is there.
    """
    path = Path(path)
    if citations is None:  # beside the page (the stage), or in the CLI's default work folder
        citations = load_citations(path.parent, results) or load_citations(
            path.with_name(path.stem + "_files"), results
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(results, citations), encoding="utf-8")
    return path


__all__ = ["collective_section", "load_citations", "render_report", "write_report"]
