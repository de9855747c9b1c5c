"""Every documented command and import string works as written.

Docs drift: a renamed option or a moved function leaves a README line that fails
for the next reader. This test reads every Markdown file the project ships
(README.md and docs/) and checks, without running anything slow:

- each ``charter ...`` line in a shell code block, and each inline
  ```charter ...``` span in the prose, names a real command path, and
  every ``--option`` on it is an option of that command (placeholders such as
  ``RUN_DIR`` and bracketed optional parts are allowed);
- each ``from charter... import ...`` / ``import charter...`` line in a Python
  code block imports;
- each ``charter.module:attribute`` import string anywhere in the text resolves.
"""

from __future__ import annotations

import importlib
import re
import shlex
from pathlib import Path

import pytest
import typer

from charter.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
SHELL = {"bash", "sh", "shell", "console", "zsh", ""}
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.S | re.M)
INLINE = re.compile(r"`(charter [^`\n]+)`")
IMPORT_STRING = re.compile(r"\b(charter(?:\.\w+)+):([A-Za-z_]\w*)\b")


def _blocks(path: Path) -> list[tuple[str, str, int]]:
    text = path.read_text(encoding="utf-8")
    return [
        (m.group(1).lower(), m.group(2), text.count("\n", 0, m.start()) + 2)
        for m in FENCE.finditer(text)
    ]


def _commands() -> list[tuple[str, str]]:
    """``(where, command line)`` for every ``charter ...`` line of every shell block."""
    found = []
    for path in DOCS:
        for language, body, first in _blocks(path):
            if language not in SHELL:
                continue
            logical, start = "", first
            for offset, raw in enumerate(body.splitlines()):
                line = raw.strip()
                if not logical:
                    start = first + offset
                logical += " " + line.removesuffix("\\")
                if line.endswith("\\"):
                    continue
                command = logical.strip().removeprefix("$ ").strip()
                logical = ""
                # Only lines that run the CLI; `uv run charter` and `.venv/bin/charter` too.
                command = re.sub(r"^(\S*/)?(uv run |python -m )?charter\b", "charter", command)
                if command.startswith("charter ") or command == "charter":
                    found.append((f"{path.relative_to(ROOT)}:{start}", command))
        # Commands quoted inline in the prose, e.g. `charter ledger verify EXPORT --verifier KEY`.
        text = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), path.read_text(encoding="utf-8"))
        for m in INLINE.finditer(text):
            line = text.count("\n", 0, m.start()) + 1
            found.append((f"{path.relative_to(ROOT)}:{line}", m.group(1)))
    return found


def _imports() -> list[tuple[str, str]]:
    found = []
    for path in DOCS:
        for language, body, first in _blocks(path):
            if language not in {"python", "py", "pycon"}:
                continue
            for offset, raw in enumerate(body.splitlines()):
                line = raw.strip().removeprefix(">>> ")
                if re.match(r"(from charter[\w.]* import |import charter)", line):
                    if line.endswith("("):  # a parenthesised import spans lines: read it whole
                        rest = body.splitlines()[offset + 1 :]
                        closing = next(i for i, r in enumerate(rest) if ")" in r)
                        line += " ".join(r.strip() for r in rest[: closing + 1])
                    found.append((f"{path.relative_to(ROOT)}:{first + offset}", line))
    return found


def _import_strings() -> list[tuple[str, str, str]]:
    found = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        for m in IMPORT_STRING.finditer(text):
            where = f"{path.relative_to(ROOT)}:{text.count(chr(10), 0, m.start()) + 1}"
            found.append((where, m.group(1), m.group(2)))
    return found


def _tokens(command: str) -> list[str]:
    # Drop the trailing comment and the brackets that mark optional parts.
    words = shlex.split(command, comments=True)
    return [w.strip("[]") for w in words[1:] if w.strip("[]") and w not in {"|", "..."}]


def _is_group(node: object) -> bool:
    return hasattr(node, "list_commands")


def _options(node) -> set[str]:
    return {name for p in node.params for name in (*p.opts, *p.secondary_opts)} | {"--help"}


def _check(command: str) -> str | None:
    """None when ``command`` parses against the CLI, else what is wrong."""
    # Typer builds on its own copy of click, so groups are recognised by duck typing.
    node = typer.main.get_command(app)
    words = _tokens(command)
    path = ["charter"]
    while _is_group(node) and words:
        if words[0].startswith("-"):  # a group's own option, e.g. `charter --debug run ...`
            if words[0] not in {*_options(node), "-h"}:
                return f"{' '.join(path)} has no option {words[0]}"
            words.pop(0)
            continue
        child = node.get_command(node.context_class(node), words[0])
        if child is None:
            return f"{' '.join(path)} has no command {words[0]!r}"
        node, path = child, [*path, words.pop(0)]
    if _is_group(node):
        return None  # a group named on its own (or with `...`) shows its commands
    options = _options(node)
    for word in words:
        if word.startswith("--"):
            name = word.split("=", 1)[0]
            if name not in options:
                return f"{' '.join(path)} has no option {name}"
        elif re.fullmatch(r"-[A-Za-z]", word) and word not in options:
            return f"{' '.join(path)} has no option {word}"
    return None


COMMANDS = _commands()
IMPORTS = _imports()
STRINGS = _import_strings()


def test_the_docs_hold_examples():
    assert len(COMMANDS) > 50 and IMPORTS and STRINGS


@pytest.mark.parametrize(("where", "command"), COMMANDS, ids=[w for w, _ in COMMANDS])
def test_a_documented_command_parses(where, command):
    problem = _check(command)
    assert problem is None, f"{where}: `{command}`: {problem}"


@pytest.mark.parametrize(("where", "line"), IMPORTS, ids=[w for w, _ in IMPORTS])
def test_a_documented_import_imports(where, line):
    try:
        exec(compile(line, where, "exec"), {})  # an import statement only
    except ImportError as exc:
        pytest.fail(f"{where}: `{line}`: {exc}")


@pytest.mark.parametrize(
    ("where", "module", "attribute"), STRINGS, ids=[f"{w}:{m}:{a}" for w, m, a in STRINGS]
)
def test_a_documented_import_string_resolves(where, module, attribute):
    target = getattr(importlib.import_module(module), attribute, None)
    assert target is not None, f"{where}: {module}:{attribute} does not exist"


def test_the_checker_catches_a_wrong_option_and_command():
    assert (
        _check("charter run configs/quickstart.yaml --bogus") == "charter run has no option --bogus"
    )
    assert "no command" in (_check("charter ledger nothing x") or "")
    assert _check("charter run configs/quickstart.yaml --restart  # resume") is None
