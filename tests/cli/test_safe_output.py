"""The CLI never lets outside text restyle or rewrite the operator's terminal (issue 14):
rich markup is escaped, control and format characters are shown as code points, and usage
errors are one line with exit code 2 (issue 15)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from charter.cli._common import plain, printable

HOSTILE = [
    "\x1b[31mred\x1b[0m",  # a colour escape
    "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\",  # an OSC 8 hyperlink
    "abc\u202edcba",  # a bidi override
    "zero\u200bwidth\ufeff",  # zero-width space, BOM
    "bell\x07del\x7fnul\x00c1\x9b",  # BEL, DEL, NUL, a C1 CSI
]


@pytest.mark.parametrize("text", HOSTILE)
def test_control_and_format_characters_are_shown_not_obeyed(text):
    shown = printable(text)
    assert all(c.isprintable() for c in shown)
    assert "\\u" in shown


def test_markup_is_escaped_and_newlines_can_be_kept_or_shown():
    assert plain("[/bold] [red]x[/red]") == "\\[/bold] \\[red]x\\[/red]"
    assert printable("two\nlines") == "two\nlines"
    assert printable("two\nlines", one_line=True) == "two\\nlines"
    assert printable("café 😀 中文") == "café 😀 中文"  # ordinary text is untouched


def charter(*args):
    return subprocess.run(
        [sys.executable, "-m", "charter.cli.main", *args], capture_output=True, text=True
    )


def test_show_prints_markup_in_a_wish_literally(tmp_path):
    db, key, me = str(tmp_path / "l.db"), tmp_path / "log.key", tmp_path / "me.json"
    assert (
        charter("ledger", "init", db, "--origin", "t.example/w", "--key-file", str(key)).returncode
        == 0
    )
    made = json.loads(charter("ledger", "author-key", str(me), "--json").stdout)
    charter("ledger", "grant", db, made["author_key"], "5")
    wish = charter("ledger", "wish", db, "--author", str(me), "--scenario", "[/bold] [link=x]hi",
                   "--behaviour", "b")  # fmt: skip
    assert wish.returncode == 0, wish.stderr
    shown = charter("ledger", "show", db)
    assert shown.returncode == 0, shown.stderr
    assert "[/bold] [link=x]hi" in shown.stdout


def test_author_keys_with_one_identity_publish_different_commitments(tmp_path):
    """Two pseudonyms made with the same --identity cannot be linked by their commitment."""
    from charter.cli.ledger import _read_author
    from charter.ledger.entry import commit_author

    commitments = set()
    for name in ("a.json", "b.json"):
        assert (
            charter(
                "ledger", "author-key", str(tmp_path / name), "--identity", "me@x.org"
            ).returncode
            == 0
        )
        _, salt, identity = _read_author(tmp_path / name)
        commitments.add(commit_author(identity, salt))
    assert len(commitments) == 2


@pytest.mark.parametrize(
    "args",
    [["run"], ["ledger", "verify"], ["run", "--bogus"], ["nosuch"], ["ledger", "show"]],
)
def test_usage_errors_are_one_line_with_exit_code_2(args):
    result = charter(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr and "--help" in result.stderr
