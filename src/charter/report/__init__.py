"""One self-contained HTML page per run: ``charter report RUN_DIR``.

:func:`write_report` reads whatever the run folder holds (:mod:`charter.report.collect`,
one reader per stage kind in :mod:`charter.report.stages`, typed by
:mod:`charter.report.models`) and writes ``<run>/report.html``: every stage a
run can hold as a section with an id, comparisons put into words
(:mod:`charter.report.compare`), plots inline as SVG, rendered with the one
template engine and stylesheet of :mod:`charter._util.html`.
"""

from charter.report.collect import RunData, collect_run
from charter.report.page import render_report, write_report

__all__ = ["RunData", "collect_run", "render_report", "write_report"]
