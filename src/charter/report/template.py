# ruff: noqa: E501 - HTML template lines follow the markup, not Python line length.
"""The run report's sections: one Jinja2 template, rendered by :mod:`charter._util.html`.

The page skeleton and the stylesheet are the shared ones
(:func:`charter._util.html.render_page`); this module holds only what is
particular to the run report: its sections and the example-filter script.
"""

from __future__ import annotations

SECTIONS = r"""
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
  {% for p in row_provenance %}<tr><td class="mono">{{ p.model_id or "" }}</td>
    <td class="mono">{{ (p.constitution_hash or "")[:16] }}</td>
    <td class="mono">{{ (p.config_hash or "")[:16] }}</td>
    <td class="mono">{{ p.ledger_checkpoint or "" }}</td><td class="num">{{ p.rows }}</td>
    <td class="mono">{{ seeds(p.seeds) }}</td></tr>{% endfor %}
  </table>
  {% endif %}
</section>

{% if frontier_svg %}
<section id="frontier">
  <h2>Harmlessness vs helpfulness</h2>
  <p>Elo from Bradley-Terry fits of pairwise judgements (both orders), with bootstrap
  intervals. Up is more harmless, right is more helpful.</p>
  <div class="plot">{{ frontier_svg | safe }}</div>
  {% for name, verdicts in elo_verdicts %}{% for v in verdicts %}
  <p class="verdict{% if not v.conclusive %} inconclusive{% endif %}">{{ name }}: {{ v.subject }} vs {{ v.baseline }}: {{ v.words }}</p>
  {% endfor %}{% endfor %}
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
  <h2>Eval results: raw and judge-corrected</h2>
  <p class="note">"Raw" is what the judge said; "corrected" adjusts a rate for the judge's measured
  error (Rogan-Gladen, with the calibration card's uncertainty in the interval). A comparison whose
  95% interval includes no difference reads "inconclusive".</p>
  {% for t in results %}{% set r = t.result %}
  <h3 id="result-{{ r.name }}">{{ r.name }} <span class="tag">{{ r.suite }}</span>
    <span class="tag">{{ "higher is better" if r.higher_is_better else "lower is better" }}</span></h3>
  <p>{{ r.description }}</p>
  {% for w in t.judge_warnings %}<p class="verdict inconclusive judge-warning">Caution: {{ w }}.</p>{% endfor %}
  {% if r.value is not none %}<p>Overall: <b>{{ r.value|fmt }}</b>
    {% if r.ci_low is not none %}[{{ r.ci_low|fmt }}, {{ r.ci_high|fmt }}]{% endif %}
    (n={{ r.n }})</p>{% endif %}
  {% if r.per_model %}
  <table class="result-table"><tr><th>model</th><th>raw</th><th>95% interval</th><th>corrected for the judge</th><th>n</th><th>counts</th><th>vs baseline</th></tr>
  {% for key, s in r.per_model.items() %}<tr><td>{{ key }}{% if key == t.baseline %}<span class="tag">baseline</span>{% endif %}</td>
    <td class="num">{{ s.value|fmt }}</td>
    <td class="num">{% if s.ci_low is not none %}[{{ s.ci_low|fmt }}, {{ s.ci_high|fmt }}]{% endif %}</td>
    <td class="num">{% if s.corrected is not none %}{{ s.corrected|fmt }} [{{ s.corrected_ci_low|fmt }}, {{ s.corrected_ci_high|fmt }}]{% else %}–{% endif %}</td>
    <td class="num">{{ s.n }}</td><td class="mono">{% for c, k in s.counts.items() %}{{ c }}: {{ k }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
    <td>{% if key in t.verdicts %}{% set v = t.verdicts[key] %}<span class="verdict{% if not v.conclusive %} inconclusive{% endif %}">{{ v.words }}</span>{% endif %}
      {% if key in t.cautions %}<div class="verdict inconclusive">{{ t.cautions[key] }}</div>{% endif %}</td></tr>{% endfor %}
  </table>
  {% if r.details.get("corrected_by") %}<p>Corrected by the card of {{ r.details["corrected_by"] }}.</p>{% endif %}
  {% endif %}
  {% if t.reduction %}
  <table><tr><th>model</th><th>reduction factor vs {{ r.baseline }}</th><th>95% bootstrap interval</th><th>reading</th></tr>
  {% for f in t.reduction %}<tr><td>{{ f.model }}</td><td class="num">{{ f.factor }}</td>
    <td class="num">[{{ f.ci_low }}, {{ f.ci_high }}]</td><td class="verdict{% if not f.conclusive %} inconclusive{% endif %}">{{ f.words }}</td></tr>{% endfor %}
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
    <th>95% interval</th><th>n</th><th>macro-F1</th><th>ECE</th><th>sensitivity</th><th>specificity</th><th>flip rate</th></tr>
  {% for c in cards %}<tr class="card-row"><td>{{ c.judge }}</td><td>{{ c.method }}</td><td class="mono">{{ c.model_id }}</td>
    <td class="mono">{{ c.gold }} ({{ c.gold_sha256[:12] }})</td><td class="num">{{ c.accuracy|fmt }}</td>
    <td class="num">[{{ c.ci_low|fmt }}, {{ c.ci_high|fmt }}]</td><td class="num">{{ c.n }}{% if c.n < tiny_n %}<div class="verdict inconclusive">too few to trust</div>{% endif %}</td>
    <td class="num">{{ c.macro_f1|fmt }}</td><td class="num">{{ c.ece|fmt }}</td>
    <td class="num">{{ c.sensitivity|fmt }}</td><td class="num">{{ c.specificity|fmt }}</td>
    <td class="num">{{ c.flip_rate|fmt }}</td></tr>{% endfor %}
  </table>
</section>
{% endif %}

{% if training %}
<section id="training">
  <h2>Training curves</h2>
  {% for t in training %}
  <h3>{{ t.curve.stage }} <span class="tag">{{ t.curve.kind or "train" }}</span>
    <span class="tag {{ 'good' if t.curve.finished else 'bad' }}">{{ "finished" if t.curve.finished else "not finished" }}</span></h3>
  <p>{{ t.curve.points|length }} logged steps; final loss {{ t.curve.final_loss|fmt }}{% if t.last_margin is not none %};
    last reward margin {{ t.last_margin|fmt }}{% endif %}{% if t.last_reward is not none %}; last mean reward {{ t.last_reward|fmt }}{% endif %}.</p>
  <div class="plot">{{ t.svg | safe }}</div>
  {% endfor %}
</section>
{% endif %}

{% if revisions or quality %}
<section id="revisions">
  <h2>Critiques and revisions (SL-CAI)</h2>
  {% for q in quality %}
  <p class="quality-summary">{{ q.stage }}: the quality gate judged {{ q.judged }} final revisions
    ({% for k, n in q.outcomes.items() %}{{ k }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}).
    {% if q.bare_refusal_share is not none %}Bare refusals in the SFT data:
    <b>{{ q.bare_refusal_share|pct }}</b>{% if q.bare_refusal_ci %} [{{ q.bare_refusal_ci[0]|pct }}, {{ q.bare_refusal_ci[1]|pct }}]{% endif %}
    of {{ q.sft_labels.values()|sum }}{% if q.sft_labels.values()|sum < tiny_n %}
    <span class="verdict inconclusive">(n={{ q.sft_labels.values()|sum }}: too few items to read as a conclusion)</span>{% endif %}.{% endif %}
    {% if q.harmful_share is not none %}Harmful: {{ q.harmful_share|pct }}.{% endif %}</p>
  {% endfor %}
  {% for r in revisions %}
  <details class="revision">
    <summary>{{ r.stage }} · {{ r.id }} <span class="tag {{ 'good' if r.status == 'ok' else 'bad' }}">{{ r.status }}</span>
      {% if r.quality and r.quality.label %}<span class="tag">{{ r.quality.label }}</span>{% endif %}
      {% if r.quality and r.quality.outcome %}<span class="tag">{{ r.quality.outcome }}</span>{% endif %}</summary>
    <p><b>Prompt</b></p><pre>{{ r.prompt|clip }}</pre>
    <p><b>Initial response</b></p><pre>{{ r.initial_response|clip }}</pre>
    {% for step in r.chain %}
    <p><b>Round {{ step.round }} · {{ step.article_title or step.article_id or "" }}</b></p>
    <p>Critique:</p><pre>{{ step.critique|clip }}</pre>
    <p>Revision:</p><pre>{{ step.revision|clip }}</pre>
    {% endfor %}
  </details>
  {% endfor %}
</section>
{% endif %}

{% if labels or label_stats %}
<section id="labels">
  <h2>AI-feedback labels (RL-CAI)</h2>
  {% for st in label_stats %}{% if st.margin %}
  <p class="label-stats">{{ st.stage }}: {{ st.pairs }} pairs; label margin |p - 0.5| median
    <b>{{ st.margin.median|fmt }}</b> (p10 {{ st.margin.p10|fmt }}, p90 {{ st.margin.p90|fmt }});
    {{ st.low_margin }} below {{ st.min_margin }}{% if st.dropped_low_margin %}, {{ st.dropped_low_margin }} dropped{% endif %}{% if st.position_bias %};
    position bias median {{ "%+.3f"|format(st.position_bias.median) }}{% endif %}{% if st.article_flip_rate is not none %};
    per-article flip rate {{ st.article_flip_rate|fmt(2) }}{% endif %}.</p>
  {% if st.consistency_words %}<p class="label-chance{% if st.labels_beat_chance is false %} verdict inconclusive{% endif %}">{{ st.stage }}: {{ st.consistency_words }}.</p>{% endif %}
  {% endif %}{% endfor %}
  <table><tr><th>prompt</th><th>chosen</th><th>rejected</th><th>P(chosen better)</th><th>margin</th><th>position bias</th><th>principles</th></tr>
  {% for l in labels %}<tr class="label-row"><td>{{ l.prompt|clip(300) }}</td><td>{{ l.chosen|clip(400) }}</td><td>{{ l.rejected|clip(400) }}</td>
    <td class="num">{{ l.label_prob|fmt }}</td><td class="num">{{ l.margin|fmt }}</td><td class="num">{% if l.position_bias is not none %}{{ "%+.3f"|format(l.position_bias) }}{% endif %}</td><td>{{ l.articles|join(", ") }}</td></tr>{% endfor %}
  </table>
</section>
{% endif %}

{% if reflections %}
<section id="reflections">
  <h2>Reflections</h2>
  {% for r in reflections %}
  <details class="reflection"><summary>{{ r.stage }} · {{ r.id }}</summary>
    <pre>{{ r.document|clip(600) }}</pre><p><b>Reflection</b></p><pre>{{ r.reflection|clip }}</pre></details>
  {% endfor %}
</section>
{% endif %}

{% if mixes %}
<section id="mixes">
  <h2>Pretraining mixes: cards and manifests</h2>
  <table><tr><th>stage / mix</th><th>strategy</th><th>placement</th><th>documents</th><th>words</th><th>by class</th><th>by mode</th>
    <th>mean reflection depth</th><th>manifest root (size)</th><th>card matches manifest</th></tr>
  {% for m in mixes %}<tr class="mix-row"><td>{{ m.stage }} / {{ m.card.mix }}</td><td>{{ m.card.strategy }}</td><td>{{ m.card.placement or "–" }}</td>
    <td class="num">{{ m.card.counts.documents }}</td><td class="num">{{ m.card.counts.words }}</td>
    <td>{% for k, n in m.card.counts.by_class.items() %}{{ k }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
    <td>{% for k, n in m.card.counts.by_mode.items() %}{{ k }} {{ n }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
    <td class="num">{{ m.card.counts.mean_reflection_depth|fmt(2) }}</td>
    <td class="mono">{{ m.card.manifest.root[:16] }}… ({{ m.card.manifest.size }})</td>
    <td><span class="tag {{ 'good' if m.manifest_matches else 'bad' }}">{{ "yes" if m.manifest_matches else ("no manifest" if m.manifest is none else "no") }}</span></td></tr>{% endfor %}
  </table>
  {% for m in mixes %}{% if m.card.description %}<p class="note"><b>{{ m.card.mix }}</b>: {{ m.card.description }}</p>{% endif %}
  {% for w in m.card.warnings %}<p class="warn">{{ m.card.mix }}: {{ w }}{% if m.card.identical_to %} (identical to {{ m.card.identical_to|join(", ") }}){% endif %}.</p>{% endfor %}{% endfor %}
</section>
{% endif %}

{% if ablations %}
<section id="ablation">
  <h2>Ablation: misaligned propensity by mix</h2>
  {% for a in ablations %}
  <p class="note">{{ a.stage }}: a tiny model per mix and seed; propensity = share of probes whose misaligned
  continuation is likelier (mean ± 95% t half-width over seeds){% if a.baseline %}; each mix is compared with <b>{{ a.baseline }}</b>{% endif %}.</p>
  <table><tr><th>mix</th><th>framing</th><th>seeds</th><th>propensity</th><th>margin</th><th>final loss</th><th>vs {{ a.baseline or "baseline" }}</th></tr>
  {% for row in a.rows %}{% set v = ablation_verdict(a, row) %}<tr class="ablation-row"><td>{{ row.mix }}</td><td>{{ row.framing }}</td><td class="num">{{ row.seeds }}</td>
    <td class="num">{{ row.propensity|fmt }} ± {{ row.propensity_ci95|fmt }}</td><td class="num">{{ "%+.4f"|format(row.margin) }} ± {{ row.margin_ci95|fmt(4) }}</td>
    <td class="num">{{ row.final_loss|fmt }}</td>
    <td>{% if v %}<span class="verdict{% if not v.conclusive %} inconclusive{% endif %}">{{ v.words }}</span>{% endif %}</td></tr>{% endfor %}
  </table>
  {% endfor %}
</section>
{% endif %}

{% if collective %}
<section id="collective">
  <h2>Collective analysis</h2>
  {% for c in collective %}
  <p class="note">Stage <b>{{ c.stage }}</b>: {{ c.wishes }} wishes at <span class="mono">{{ c.checkpoint_id }}</span>.</p>
  {{ c.html | safe }}
  {% endfor %}
</section>
{% endif %}

{% if ledger %}
<section id="ledger">
  <h2>Wish ledger</h2>
  <table>{% for k, v in ledger.facts %}<tr><th>{{ k }}</th><td class="mono">{{ v }}</td></tr>{% endfor %}</table>
  <details><summary>signed checkpoint</summary><pre class="mono">{{ ledger.checkpoint }}</pre></details>
</section>
{% endif %}

{% if examples %}
<section id="examples">
  <h2>Examples</h2>
  <input type="search" id="example-filter" placeholder="filter examples (text, model, label)">
  {% for r, e in examples %}
  <details class="example" data-text="{{ (r.name ~ ' ' ~ (e.model or '') ~ ' ' ~ (e.label or '') ~ ' ' ~ e.prompt)|lower }}">
    <summary><b>{{ r.name }}</b> · {{ e.model or "" }} · {{ e.prompt_id }}
      {% if e.label %}<span class="tag">{{ e.label }}</span>{% endif %}
      {% if e.score is not none %}<span class="tag">{{ e.score|fmt(2) }}</span>{% endif %}</summary>
    <p><b>Prompt</b></p><pre>{{ e.prompt|clip }}</pre>
    {% if e.response is not none %}<p><b>Response</b></p><pre>{{ e.response|clip }}</pre>{% endif %}
    {% if e.other_response %}<p><b>Versus {{ e.other_model }}</b></p><pre>{{ e.other_response|clip }}</pre>{% endif %}
    {% if e.detail %}<p class="mono">{{ e.detail }}</p>{% endif %}
  </details>
  {% endfor %}
</section>
{% endif %}
"""

FILTER_SCRIPT = r"""
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
"""
