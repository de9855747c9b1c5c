# ruff: noqa: E501 - the stylesheet and the page skeleton follow CSS/HTML, not Python line length.
"""The one way Charter writes an HTML page: a Jinja2 engine, a stylesheet, a skeleton.

Both the run report (:mod:`charter.report`) and the collective's own page
(:mod:`charter.collective.report`) render through :func:`render_page`, so
they share a look and the escaping rules: every value is HTML-escaped
(``autoescape``) unless the template marks it ``| safe`` - only SVG plots made
by Charter and fragments rendered here are. Pages are self-contained: the
stylesheet and any script are inline, nothing is fetched.

It lives below the domain packages so that a domain package can render its
own page without importing :mod:`charter.report` (see ARCHITECTURE.md, layers).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

STYLESHEET = """
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
td.num, .num { text-align: right; font-variant-numeric: tabular-nums; }
code, .mono { font-family: ui-monospace, monospace; font-size: 13px; word-break: break-all; }
details { border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; padding: 6px 10px; }
details[open] { background: var(--bg); }
summary { cursor: pointer; }
.tag { display: inline-block; padding: 0 6px; border-radius: 4px; background: #e6ecf5; font-size: 12px; margin-left: 6px; }
.bad { background: #f8dcd6; } .good { background: #d8f0e0; }
.verdict { font-size: 13px; color: var(--muted); }
.verdict.inconclusive { color: #8a4b00; font-weight: 600; }
pre { white-space: pre-wrap; word-wrap: break-word; margin: 4px 0; }
.plot svg { max-width: 100%; height: auto; }
.warn { color: #8a4b00; }
.note { color: var(--muted); font-size: 14px; }
.wish { max-width: 620px; }
.grid { display: grid; grid-template-columns: 1fr 1fr; gap: 1em; }
input[type=search] { padding: 4px 8px; width: 320px; margin: 6px 0; }
"""

SKELETON = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>{{ stylesheet | safe }}</style>
</head>
<body>
<header>
  <h1>{{ title }}</h1>
  {% if subtitle %}<p>{{ subtitle }}</p>{% endif %}
</header>
{% if toc %}<nav>{% for id, label in toc %}<a href="#{{ id }}">{{ label }}</a>{% endfor %}</nav>{% endif %}
<main>
{{ body | safe }}
</main>
{% if script %}<script>{{ script | safe }}</script>{% endif %}
</body>
</html>
"""


def fmt(value: Any, digits: int = 3) -> str:
    """A number for a table cell: fixed digits, ``–`` for none, ``n/a`` for NaN."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "n/a" if math.isnan(value) else f"{value:.{digits}f}"
    return str(value)


def pct(value: float | None, digits: int = 0) -> str:
    """A share in [0, 1] as a percentage."""
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def clip(text: Any, limit: int = 1200) -> str:
    """Run text shortened for inline display (the files keep it whole)."""
    text = "" if text is None else str(text)
    return text if len(text) <= limit else text[:limit] + " […]"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters.update(fmt=fmt, pct=pct, clip=clip)
    return env


ENV = _environment()


def render(template: str, **context: Any) -> str:
    """Render a template string with the shared environment (escaping, filters)."""
    return ENV.from_string(template).render(**context)


def render_page(
    title: str,
    body: str,
    *,
    subtitle: str = "",
    toc: Sequence[tuple[str, str]] = (),
    script: str = "",
) -> str:
    """A whole self-contained page around ``body`` (already rendered HTML).

    Args:
        title: the page title and heading (escaped).
        body: the sections, rendered by :func:`render`.
        subtitle: one line under the heading (escaped).
        toc: ``(section id, label)`` links in the navigation bar.
        script: inline JavaScript, if the page needs any.
    """
    return render(
        SKELETON,
        title=title,
        subtitle=subtitle,
        toc=list(toc),
        body=body,
        script=script,
        stylesheet=STYLESHEET,
    )


def figure_svg(fig: Any) -> str:
    """A matplotlib figure as inline SVG, without the XML prolog; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend (pages are written without a display).

    Raises:
        ImportError: matplotlib is missing; it comes with ``pip install 'charter[collective]'``.
    """
    try:
        import matplotlib
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError("plots need matplotlib: pip install 'charter[collective]'") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["svg.fonttype"] = "none"  # text stays text: smaller, searchable
    return plt


def mapping_rows(data: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The scalar items of a mapping as ``(key, value)`` rows for a two-column table."""
    return [(k, v) for k, v in data.items() if not isinstance(v, dict | list)]


__all__ = [
    "ENV",
    "STYLESHEET",
    "clip",
    "figure_svg",
    "fmt",
    "mapping_rows",
    "pct",
    "pyplot",
    "render",
    "render_page",
]
