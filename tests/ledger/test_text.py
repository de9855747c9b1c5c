"""Clean user text (issue 14): what a signed field may hold, and the one-line refusals."""

from __future__ import annotations

import pytest

from charter.errors import EntryError
from charter.ledger.text import clean_text, is_blank, normalise_text, text_problem

# Each refused character, where it sits, and the words the error must use.
REFUSED = [
    ("\x00", "U+0000 (a control character)"),  # NUL
    ("\x07", "U+0007 (a control character)"),  # BEL
    ("\x1b", "U+001B (a control character)"),  # ESC: terminal escape sequences
    ("\t", "U+0009 (a tab)"),
    ("\r", "U+000D (a carriage return)"),
    ("\x7f", "U+007F (a control character)"),  # DEL
    ("\x85", "U+0085 (a C1 control character)"),  # NEL
    ("\x9b", "U+009B (a C1 control character)"),  # CSI: an escape sequence in one byte
    ("\u202a", "U+202A (a bidi embedding, override or isolate, UAX #9)"),
    ("\u202e", "U+202E (a bidi embedding, override or isolate, UAX #9)"),  # RLO
    ("\u2066", "U+2066 (a bidi"),
    ("\u2069", "U+2069 (a bidi"),
    ("\ufeff", "U+FEFF (a byte order mark)"),
    ("\ufdd0", "U+FDD0 (a Unicode non-character)"),
    ("\ufffe", "U+FFFE (a Unicode non-character)"),
    ("\U0001ffff", "U+1FFFF (a Unicode non-character)"),
    ("\U0010ffff", "U+10FFFF (a Unicode non-character)"),
]


@pytest.mark.parametrize(("char", "words"), REFUSED, ids=[hex(ord(c)) for c, _ in REFUSED])
def test_each_unsafe_character_is_refused_naming_the_field_and_position(char, words):
    text = f"Hello {char}world"
    with pytest.raises(EntryError) as caught:
        clean_text(text, "wish.scenario")
    message = str(caught.value)
    assert message.startswith(f"field wish.scenario: contains {words}")
    assert "at position 7;" in message  # 1-based, in code points
    assert "\n" not in message


def test_a_lone_surrogate_is_not_unicode():
    with pytest.raises(EntryError, match=r"wish.behaviour: is not valid Unicode .* position 2"):
        clean_text("a\ud800", "wish.behaviour")


def test_positions_count_code_points_not_utf16_units():
    assert "position 3" in text_problem("\U0001f600x\x00")  # the emoji is one character


def test_line_breaks_are_lf_only_and_only_in_multiline_fields():
    assert clean_text("line one\nline two", "wish.scenario") == "line one\nline two"
    with pytest.raises(EntryError, match=r"U\+000D \(a carriage return\) at position 9; use LF"):
        clean_text("line one\r\nline two", "wish.scenario")
    with pytest.raises(EntryError, match=r"wish.tags\[0\]: contains U\+000A \(a line break\)"):
        clean_text("a\nb", "wish.tags[0]", multiline=False)


def test_harmless_text_passes_and_comes_back_nfc():
    for text in (
        "plain ASCII",
        "emoji \U0001f600, math \u2211, CJK \u4e2d\u6587",
        "\u05e9\u05dc\u05d5\u05dd \u200f(RLM) and \u200e(LRM) and \u061c(ALM) are allowed",
        "zero width joiner in an emoji family \U0001f468\u200d\U0001f469",
        "private use \ue000",
        "Japanese variation sequence \u845b\U000e0100 and emoji \u2764\ufe0f",
    ):
        assert clean_text(text, "wish.scenario") == text
    assert clean_text("cafe\u0301", "wish.scenario") == "caf\u00e9"


@pytest.mark.parametrize(
    "text",
    ["", " ", "\n\n", "\u200b", "\u200b\u200c\u200d\u2060", " \u00a0\u3000 ", "\u3164\u2800"],
)
def test_blank_text_is_refused(text):
    assert is_blank(text)
    with pytest.raises(EntryError, match=r"^field wish.behaviour: empty; write what the AI"):
        clean_text(text, "wish.behaviour", empty_fix="write what the AI should do")


def test_text_with_something_visible_is_not_blank():
    assert not is_blank("\u200bx")
    assert not is_blank(".")


def test_normalise_text_is_what_signers_do():
    assert normalise_text("a\r\nb\rc\nd") == "a\nb\nc\nd"
    assert normalise_text("cafe\u0301\r\n") == "caf\u00e9\n"
    # Normalised text always passes the character checks that concern line endings.
    assert text_problem(normalise_text("x\r\ny\r")) is None


def test_the_fast_pattern_and_the_reasons_agree_on_every_code_point():
    from charter.ledger import text

    for multiline, pattern in ((True, text._REFUSED_MULTILINE), (False, text._REFUSED_LINE)):
        matched = {code for code in range(0x110000) if pattern.match(chr(code))}
        reasoned = {
            code
            for code in range(0x110000)
            if 0xD800 <= code <= 0xDFFF or text._kind(code, multiline) is not None
        }
        assert matched == reasoned


# -- issue 14 review: invisible and line-breaking characters outside the first list ----------

HIDDEN = [
    # Unicode tag characters: invisible copies of ASCII ("ASCII smuggling" of hidden prompts).
    ("see \U000e0069\U000e0067\U000e006e\U000e006f\U000e0072\U000e0065", "U+E0069 (a Unicode tag"),
    ("\U000e0001 language tag", "U+E0001 (a Unicode tag"),
    ("flag \U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", "U+E0067"),
    ("one\u2028two", "U+2028 (a line or paragraph separator)"),
    ("one\u2029two", "U+2029 (a line or paragraph separator)"),
    ("shown\ufff9hidden\ufffaannotation\ufffb", "U+FFF9 (an interlinear annotation"),
    ("a\u206ab", "U+206A (a deprecated format character)"),
]


@pytest.mark.parametrize(("text", "words"), HIDDEN, ids=[w.split()[0] for _, w in HIDDEN])
def test_hidden_characters_and_other_line_breaks_are_refused(text, words):
    for multiline in (True, False):
        with pytest.raises(EntryError, match=r"^field wish.scenario: contains ") as caught:
            clean_text(text, "wish.scenario", multiline=multiline)
        assert words in str(caught.value)
        assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "text", ["\ufe0f", "\u0301", "\u0301\u0308", "\u034f", "\U000e0100", " \u20dd ", "\u180e"]
)
def test_marks_without_a_base_character_are_blank(text):
    assert is_blank(text)
    with pytest.raises(EntryError, match=r"^field wish.behaviour: empty"):
        clean_text(text, "wish.behaviour")


def test_the_cli_shows_line_separators_as_code_points():
    from charter.cli._common import plain, printable

    assert printable("a\u2028b\u2029c\U000e0041") == "a\\u2028b\\u2029c\\U000e0041"
    assert "\u2028" not in plain("a\u2028b", one_line=True)
