"""Eval suites by name: each one module, each also an Inspect AI task.

A suite satisfies :class:`~charter.evals.suites.base.Suite` (plan -> jobs ->
results, and ``inspect()`` for its Inspect task). The built-in ones live in
this package, one module each exposing ``SUITE``; another suite is added with
:func:`register`, after which the ``eval`` stage accepts its name under
``suites`` and ``limits`` and :mod:`charter.evals.inspect_tasks` offers its task.
``charter eval suites`` lists them.
"""

from __future__ import annotations

import importlib

from pydantic import BaseModel, ConfigDict, Field

from charter.errors import ConfigError
from charter.evals.suites.base import (
    Answers,
    InspectSpec,
    Job,
    Judged,
    Plan,
    SampleInput,
    SampleView,
    Suite,
    Verdict,
)

# In the order the stage runs and reports them.
BUILTIN = ("pairwise", "evasive", "refusal", "conflicts", "agentic")

_REGISTERED: dict[str, Suite] = {}


def register(suite: Suite) -> Suite:
    """Make ``suite`` available by its name (to the stage, Inspect and the CLI); return it.

    Raises:
        ConfigError: another suite already has its name or its Inspect task's name.
    """
    for other in all_suites():
        if other is suite:
            return suite
        if suite.name == other.name or suite.inspect_task == other.inspect_task:
            raise ConfigError(
                f"suite {suite.name!r} (Inspect task {suite.inspect_task!r}) clashes with the "
                f"registered suite {other.name!r} (task {other.inspect_task!r}); rename it."
            )
    _REGISTERED[suite.name] = suite
    return suite


def all_suites() -> list[Suite]:
    """Every suite: the built-in ones in their order, then those registered."""
    if not _REGISTERED:  # register() loads the built-in ones first, so they lead
        _REGISTERED.update(
            {name: importlib.import_module(f"{__name__}.{name}").SUITE for name in BUILTIN}
        )
    return list(_REGISTERED.values())


def get_suite(name: str) -> Suite:
    """The suite called ``name``.

    Raises:
        ConfigError: naming the suites there are.
    """
    for suite in all_suites():
        if suite.name == name:
            return suite
    raise ConfigError(f"no eval suite {name!r}; choose from {', '.join(suite_names())}.")


def suite_names() -> list[str]:
    """Every suite's name, in order."""
    return [suite.name for suite in all_suites()]


class SuiteInfo(BaseModel):
    """What ``charter eval suites`` shows of one suite."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="the name under the eval stage's `suites` and `limits`")
    inspect_task: str = Field(description="the Inspect task: inspect_tasks.py@<inspect_task>")
    default: bool = Field(description="run when a stage lists no suites (else opt-in)")
    default_limit: int = Field(description="the stage's `limits.<name>` default")
    description: str = Field(description="what it measures")


def suite_infos() -> list[SuiteInfo]:
    """Every suite's name, Inspect task and defaults, in order."""
    return [
        SuiteInfo(
            name=s.name,
            inspect_task=s.inspect_task,
            default=not s.opt_in,
            default_limit=s.default_limit,
            description=s.description,
        )
        for s in all_suites()
    ]


__all__ = [
    "BUILTIN",
    "Answers",
    "InspectSpec",
    "Job",
    "Judged",
    "Plan",
    "SampleInput",
    "SampleView",
    "Suite",
    "SuiteInfo",
    "Verdict",
    "all_suites",
    "get_suite",
    "register",
    "suite_infos",
    "suite_names",
]
