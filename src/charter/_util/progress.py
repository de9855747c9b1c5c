"""Progress bars with ETA for long steps (rich), silent when asked to be.

:func:`quiet_libraries` keeps the ML libraries' own bars off the console, so
progress shows only as Charter's bars.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)


class _Bar:
    def __init__(self, progress: Progress | None, task: int | None) -> None:
        self._progress, self._task = progress, task

    def advance(self, n: int = 1) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, n)

    def update(self, *, completed: int | None = None, description: str | None = None) -> None:
        """Set the count done (a resumed job) or the text beside the bar (e.g. the loss)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, completed=completed, description=description)


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[_Bar]:
    """A bar on stderr: description, bar, done/total, elapsed, ETA."""
    if not enabled:
        yield _Bar(None, None)
        return
    progress = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    )
    with progress:
        yield _Bar(progress, progress.add_task(description, total=total))


@contextmanager
def quiet_libraries() -> Iterator[None]:
    """Silence transformers', datasets' and the hub's own bars and deprecation chatter.

    They print tqdm bars (loading and de-quantizing weights, tokenizing, writing
    shards) and FutureWarnings between Charter's bars. Each library that is
    installed is silenced, and its setting restored afterwards.
    """
    with ExitStack() as stack:
        for quiet in (_quiet_transformers, _quiet_datasets, _quiet_hub):
            stack.enter_context(quiet())
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"transformers\.")
            yield


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


@contextmanager
def _quiet_datasets() -> Iterator[None]:
    try:
        import datasets
    except ImportError:
        yield
        return
    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()


@contextmanager
def _quiet_hub() -> Iterator[None]:
    try:
        import huggingface_hub.utils as hub_utils
    except ImportError:
        yield
        return
    was_disabled = hub_utils.are_progress_bars_disabled()
    hub_utils.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            hub_utils.enable_progress_bars()
