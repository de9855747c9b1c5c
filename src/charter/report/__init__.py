"""One self-contained HTML page per run: ``charter report RUN_DIR``.

:func:`write_report` reads whatever the run folder holds (see
:mod:`charter.report.collect`) and writes ``<run>/report.html``: plots inline
as SVG, styles and the small browsing script inline, no external request.
"""

from charter.report.collect import RunData, collect_run
from charter.report.page import render_report, write_report

__all__ = ["RunData", "collect_run", "render_report", "write_report"]
