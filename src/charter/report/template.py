# ruff: noqa: E501 - HTML template lines follow the markup, not Python line length.
"""The report's Jinja2 template: one page, inline CSS and JS, sections for what exists."""

from __future__ import annotations

PAGE = r"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Charter report · {{ title }}</title>
<style>
  :root { --ink:#1d232a; --muted:#5b6673; --line:#d9dee4; --bg:#f7f8fa; --accent:#2457a6; }
  body { font: 15px/1.5 system-ui, sans-serif; color: var(--ink); background: #fff; margin: 0; }
  header { background: var(--accent); color: #fff; padding: 18px 28px; }
  header h1 { margin: 0; font-size: 22px; }
  header p { margin: 4px 0 0; opacity: .85; }
  nav { background: var(--bg); border-bottom: 1px solid var(--line); padding: 8px 28px; }
  nav a { margin-right: 14px; color: var(--accent); text-decoration: none; }
  main { padding: 8px 28px 40px; max-width: 1100px; }
  section { margin-top: 26px; }
  h2 { border-bottom: 2px solid var(--line); padding-bottom: 4px; }
  table { border-collapse: collapse; margin: 8px 0 16px; font-size: 14px; }
  th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
  th { background: var(--bg); }
  td.num { text-align: right; font-variant-numeric: tabular-nums; }
  code, .mono { font-family: ui-monospace, monospace; font-size: 13px; }
  details { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 6px 10px; }
  details[open] { background: var(--bg); }
  summary { cursor: pointer; }
  .tag { display: inline-block; padding: 0 6px; border-radius: 4px; background: #e6ecf5;
         font-size: 12px; margin-left: 6px; }
  .bad { background: #f8dcd6; } .good { background: #d8f0e0; }
  pre { white-space: pre-wrap; word-wrap: break-word; margin: 4px 0; }
  .plot svg { max-width: 100%; height: auto; }
  .warn { color: #8a4b00; }
  input[type=search] { padding: 4px 8px; width: 320px; margin: 6px 0; }
</style>
</head>
<body>
<header>
  <h1>Charter report: {{ title }}</h1>
  <p>{{ run_dir }} · written {{ written_at }}</p>
</header>
<nav>{% for id, label in toc %}<a href="#{{ id }}">{{ label }}</a>{% endfor %}</nav>
<main>
<section id="overview">
  <h2>Overview</h2>
  {% for w in warnings %}<p class="warn">{{ w }}</p>{% endfor %}
  <table>
    <tr><th>stage</th><th>kind</th><th>files (rows)</th></tr>
    {% for s in stages %}
    <tr><td>{{ s.name }}</td><td>{{ s.kind or "" }}</td>
      <td class="mono">{% for f in s.files %}{{ f }}{% if s.counts.get(f) is not none %} ({{ s.counts[f] }}){% endif %}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
    {% endfor %}
  </table>
</section>

<section id="provenance">
  <h2>Provenance</h2>
  <table>
    {% for k, v in run_facts %}<tr><th>{{ k }}</th><td class="mono">{{ v }}</td></tr>{% endfor %}
  </table>
  {% if models %}
  <h3>Models</h3>
  <table><tr><th>key</th><th>model id</th><th>spec</th></tr>
  {% for key, m in models %}<tr><td>{{ key }}</td><td class="mono">{{ m.model_id or "" }}</td>
    <td class="mono">{{ m.spec }}</td></tr>{% endfor %}
  </table>
  {% endif %}
  {% if row_provenance %}
  <h3>Provenance recorded on rows</h3>
  <table><tr><th>model id</th><th>constitution hash</th><th>config hash</th>
    <th>ledger checkpoint</th><th>rows</th><th>seeds</th></tr>
  {% for p in row_provenance %}<tr><td class="mono">{{ p.model_id }}</td>
    <td class="mono">{{ (p.constitution_hash or "")[:16] }}</td>
    <td class="mono">{{ (p.config_hash or "")[:16] }}</td>
    <td class="mono">{{ p.ledger_checkpoint or "" }}</td><td class="num">{{ p.rows }}</td>
    <td class="mono">{{ p.seeds }}</td></tr>{% endfor %}
  </table>
  {% endif %}
</section>

{% if frontier_svg %}
<section id="frontier">
  <h2>Harmlessness vs helpfulness</h2>
  <p>Elo from Bradley-Terry fits of pairwise judgements (both orders), with bootstrap
  intervals. Up is more harmless, right is more helpful.</p>
  <div class="plot">{{ frontier_svg | safe }}</div>
</section>
{% endif %}

{% if rates_svg %}
<section id="rates">
  <h2>Rates with intervals</h2>
  <div class="plot">{{ rates_svg | safe }}</div>
</section>
{% endif %}

{% if results %}
<section id="tables">
  <h2>Results</h2>
  {% for r in results %}
  <h3 id="result-{{ r.name }}">{{ r.name }} <span class="tag">{{ r.suite }}</span>
    <span class="tag">{{ "higher is better" if r.higher_is_better else "lower is better" }}</span></h3>
  <p>{{ r.description }}</p>
  {% if r.value is not none %}<p>Overall: <b>{{ "%.3f"|format(r.value) }}</b>
    {% if r.ci_low is not none %}[{{ "%.3f"|format(r.ci_low) }}, {{ "%.3f"|format(r.ci_high) }}]{% endif %}
    (n={{ r.n }})</p>{% endif %}
  {% if r.per_model %}
  <table class="result-table"><tr><th>model</th><th>value</th><th>95% interval</th><th>corrected for the judge</th><th>n</th><th>counts</th></tr>
  {% for key, s in r.per_model.items() %}<tr><td>{{ key }}{% if key == r.baseline %}<span class="tag">baseline</span>{% endif %}</td>
    <td class="num">{{ "%.3f"|format(s.value) }}</td>
    <td class="num">{% if s.ci_low is not none %}[{{ "%.3f"|format(s.ci_low) }}, {{ "%.3f"|format(s.ci_high) }}]{% endif %}</td>
    <td class="num">{% if s.corrected is not none %}{{ "%.3f"|format(s.corrected) }} [{{ "%.3f"|format(s.corrected_ci_low) }}, {{ "%.3f"|format(s.corrected_ci_high) }}]{% else %}-{% endif %}</td>
    <td class="num">{{ s.n }}</td><td class="mono">{{ s.counts }}</td></tr>{% endfor %}
  </table>
  {% if r.details.get("corrected_by") %}<p>Corrected by the card of {{ r.details["corrected_by"] }} (Rogan-Gladen; the interval includes the card's uncertainty).</p>{% endif %}
  {% endif %}
  {% if r.details.get("reduction") %}
  <table><tr><th>model</th><th>reduction factor vs {{ r.baseline }}</th><th>95% bootstrap interval</th></tr>
  {% for key, f in r.details["reduction"].items() %}<tr><td>{{ key }}</td><td class="num">{{ f.factor }}</td>
    <td class="num">[{{ f.ci_low }}, {{ f.ci_high }}]</td></tr>{% endfor %}
  </table>
  {% endif %}
  {% endfor %}
</section>
{% endif %}

{% if cards %}
<section id="judges">
  <h2>Judges: calibration cards</h2>
  <p>Each judge this run relied on, measured on the test split of its gold set before anything
  it says is believed. Rates marked "corrected" above are adjusted for this error.</p>
  <table><tr><th>judge</th><th>method</th><th>model</th><th>gold (sha256)</th><th>accuracy</th>
    <th>95% interval</th><th>n</th><th>macro-F1</th><th>ECE</th><th>flip rate</th></tr>
  {% for c in cards %}<tr class="card-row"><td>{{ c.judge }}</td><td>{{ c.method }}</td><td class="mono">{{ c.model_id }}</td>
    <td class="mono">{{ c.gold }} ({{ c.gold_sha256[:12] }})</td><td class="num">{{ "%.3f"|format(c.accuracy) }}</td>
    <td class="num">[{{ "%.3f"|format(c.ci_low) }}, {{ "%.3f"|format(c.ci_high) }}]</td><td class="num">{{ c.n }}</td>
    <td class="num">{{ "%.3f"|format(c.macro_f1) }}</td><td class="num">{{ "%.3f"|format(c.ece) }}</td>
    <td class="num">{{ "%.3f"|format(c.flip_rate) if c.flip_rate is not none else "-" }}</td></tr>{% endfor %}
  </table>
</section>
{% endif %}

{% if examples %}
<section id="examples">
  <h2>Examples</h2>
  <input type="search" id="example-filter" placeholder="filter examples (text, model, label)">
  {% for e in examples %}
  <details class="example" data-text="{{ (e.result ~ ' ' ~ (e.model or '') ~ ' ' ~ (e.label or '') ~ ' ' ~ e.prompt)|lower }}">
    <summary><b>{{ e.result }}</b> · {{ e.model or "" }} · {{ e.prompt_id }}
      {% if e.label %}<span class="tag">{{ e.label }}</span>{% endif %}
      {% if e.score is not none %}<span class="tag">{{ "%.2f"|format(e.score) }}</span>{% endif %}</summary>
    <p><b>Prompt</b></p><pre>{{ e.prompt }}</pre>
    {% if e.response is not none %}<p><b>Response</b></p><pre>{{ e.response }}</pre>{% endif %}
    {% if e.other_response %}<p><b>Versus {{ e.other_model }}</b></p><pre>{{ e.other_response }}</pre>{% endif %}
    {% if e.detail %}<p class="mono">{{ e.detail }}</p>{% endif %}
  </details>
  {% endfor %}
</section>
{% endif %}

{% if revisions %}
<section id="revisions">
  <h2>Critiques and revisions</h2>
  {% for q in quality %}
  <p class="quality-summary">{{ q.stage }}: the quality gate judged {{ q.judged }} final revisions
    ({% for k, n in q.outcomes.items() %}{{ k }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}).
    {% if q.bare_refusal_share is not none %}Bare refusals in the SFT data:
    <b>{{ "%.0f"|format(100 * q.bare_refusal_share) }}%</b>
    [{{ "%.0f"|format(100 * q.bare_refusal_ci[0]) }}%, {{ "%.0f"|format(100 * q.bare_refusal_ci[1]) }}%]
    of {{ q.sft_labels.values()|sum }}.{% endif %}</p>
  {% endfor %}
  {% for r in revisions %}
  <details class="revision">
    <summary>{{ r.stage }} · {{ r.id }} <span class="tag {{ 'good' if r.status == 'ok' else 'bad' }}">{{ r.status }}</span>
      {% if r.quality.get("label") %}<span class="tag">{{ r.quality["label"] }}</span>{% endif %}
      {% if r.quality.get("outcome") %}<span class="tag">{{ r.quality["outcome"] }}</span>{% endif %}</summary>
    <p><b>Prompt</b></p><pre>{{ r.prompt }}</pre>
    <p><b>Initial response</b></p><pre>{{ r.initial }}</pre>
    {% for step in r.chain %}
    <p><b>Round {{ step.round }} · {{ step.article }}</b></p>
    <p>Critique:</p><pre>{{ step.critique }}</pre>
    <p>Revision:</p><pre>{{ step.revision }}</pre>
    {% endfor %}
  </details>
  {% endfor %}
</section>
{% endif %}

{% if labels %}
<section id="labels">
  <h2>AI-feedback labels</h2>
  {% for st in label_stats %}{% if st.margin %}
  <p class="label-stats">{{ st.stage }}: {{ st.pairs }} pairs; label margin |p - 0.5| median
    <b>{{ "%.3f"|format(st.margin.median) }}</b> (p10 {{ "%.3f"|format(st.margin.p10) }}, p90 {{ "%.3f"|format(st.margin.p90) }});
    {{ st.low_margin }} below {{ st.min_margin }}{% if st.dropped_low_margin %}, {{ st.dropped_low_margin }} dropped{% endif %};
    position bias median {{ "%+.3f"|format(st.position_bias.median) }}{% if st.article_flip_rate is not none %};
    per-article flip rate {{ "%.2f"|format(st.article_flip_rate) }}{% endif %}.</p>
  {% endif %}{% endfor %}
  <table><tr><th>prompt</th><th>chosen</th><th>rejected</th><th>P(chosen better)</th><th>margin</th><th>position bias</th><th>principles</th></tr>
  {% for l in labels %}<tr class="label-row"><td>{{ l.prompt }}</td><td>{{ l.chosen }}</td><td>{{ l.rejected }}</td>
    <td class="num">{{ l.prob }}</td><td class="num">{{ l.margin }}</td><td class="num">{{ l.bias }}</td><td>{{ l.articles }}</td></tr>{% endfor %}
  </table>
</section>
{% endif %}

{% if reflections %}
<section id="reflections">
  <h2>Reflections</h2>
  {% for r in reflections %}
  <details class="reflection"><summary>{{ r.stage }} · {{ r.id }}</summary>
    <pre>{{ r.document }}</pre><p><b>Reflection</b></p><pre>{{ r.reflection }}</pre></details>
  {% endfor %}
</section>
{% endif %}

{% if ledger %}
<section id="ledger">
  <h2>Wish ledger</h2>
  <table>{% for k, v in ledger %}<tr><th>{{ k }}</th><td class="mono">{{ v }}</td></tr>{% endfor %}</table>
</section>
{% endif %}
</main>
<script>
  (function () {
    var box = document.getElementById("example-filter");
    if (!box) return;
    box.addEventListener("input", function () {
      var q = box.value.toLowerCase();
      document.querySelectorAll("details.example").forEach(function (d) {
        d.style.display = d.dataset.text.indexOf(q) >= 0 ? "" : "none";
      });
    });
  })();
</script>
</body>
</html>
"""
