"""Helpers shared by the CLI commands: JSON output and the console."""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape

console = Console()

# The pinned log key of `ledger verify` and `ledger votes verify`: never the bundle's own.
VERIFIER = typer.Option(
    None,
    "--verifier",
    help="The log's verifier key (or a file holding it), obtained from the operator out of band.",
)
TRUSTED_LOGS = typer.Option(
    None,
    "--trusted-logs",
    help="A file of pinned logs, one '[ORIGIN] VERIFIER' per line; the key is chosen by origin.",
)


_HIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def _visible(char: str) -> str:
    # Controls (C0, C1, ESC sequences, OSC 8 hyperlinks) and format characters
    # (bidi overrides, zero-width, BOM, tag characters) could rewrite or hide what
    # the operator sees, and the separators U+2028/U+2029 (Zl, Zp) could fake a
    # line; show their code point instead.
    if char in "\n\t" or unicodedata.category(char) not in _HIDDEN_CATEGORIES:
        return char
    return f"\\u{ord(char):04x}" if ord(char) <= 0xFFFF else f"\\U{ord(char):08x}"


def plain(text: object, *, one_line: bool = False) -> str:
    """``text`` made safe to print: rich markup escaped, control and format characters shown
    as ``\\uXXXX`` (newlines too when ``one_line``, so text cannot fake a row).

    Use it for every value that came from outside (wishes, votes, files, errors quoting them).
    """
    return escape(printable(text, one_line=one_line))


def printable(text: object, *, one_line: bool = False) -> str:
    """``text`` with control and format characters shown as ``\\uXXXX`` (for plain print)."""
    text = str(text)
    if one_line:
        text = text.replace("\n", "\\n").replace("\t", " ")
    return "".join(_visible(c) for c in text)


def emit_json(data: Any) -> None:
    """Print machine-readable output on stdout (one JSON document)."""
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
