"""Clean user text for signed records: what a wish or vote field may hold.

Signed text is shown on web pages, in terminals and in training data, so a
field refuses what could hide, reorder or smuggle content:

- C0 controls U+0000-U+001F except LF, DEL U+007F and C1 controls
  U+0080-U+009F (terminal escapes, NUL truncation, bells);
- CR: line breaks are LF only. Newlines are allowed in multi-line fields
  (scenario, behaviour, rationale), not in one-line fields (tags, language,
  a vote's origin);
- the explicit bidi embeddings, overrides and isolates of Unicode UAX #9
  section 2 (U+202A-U+202E, U+2066-U+2069), which can make text display in
  another order than it is stored ("Trojan Source", CVE-2021-42574). The
  implicit marks LRM U+200E, RLM U+200F and ALM U+061C are allowed: they
  change no order on their own and right-to-left writers need them;
- the byte order mark U+FEFF anywhere (as a zero-width no-break space it is
  invisible; its job belongs to U+2060);
- the line and paragraph separators U+2028 and U+2029: line breaks are LF
  only, and some renderers and older JavaScript treat these as line ends;
- format characters that hide or restyle text without showing: the Unicode
  tag characters U+E0000-U+E007F (invisible copies of ASCII, used for
  "ASCII smuggling" of hidden instructions to language models; the emoji
  subdivision flags built from them are refused too), the interlinear
  annotation characters U+FFF9-U+FFFB (Unicode section 23.8: the annotation is
  often not displayed) and the deprecated format characters U+206A-U+206F;
- Unicode non-characters (U+FDD0-U+FDEF and every code point ending in FFFE
  or FFFF, Unicode section 23.7) and lone surrogates (not UTF-8 at all);
- text that is empty or blank: only whitespace (``str.isspace``), zero-width
  and other invisible format characters (category Cf, e.g. U+200B, U+200C,
  U+200D, U+2060), filler letters that render as nothing (U+115F, U+1160,
  U+3164, U+FFA0, U+2800), or marks with no base character to sit on
  (categories Mn and Me: combining marks, variation selectors, U+034F).

Signatures cover the bytes, so the ledger never changes signed text: the
*signer* normalises (:func:`normalise_text`: CRLF and lone CR to LF, then NFC,
Unicode UAX #15) and the verifier *refuses* what is not normalised. NFC is
the one exception kept from before: the models apply it, and a signature made
over other bytes then fails to verify.

Use: ``clean_text(value, "wish.scenario")`` returns the NFC text or raises
:class:`~charter.errors.EntryError`; pydantic validators call
:func:`text_problem`, whose message :func:`charter._util.validation.describe`
prefixes with the field.
"""

from __future__ import annotations

import re
import unicodedata

from charter.errors import EntryError

_BIDI_CONTROLS = frozenset(range(0x202A, 0x202F)) | frozenset(range(0x2066, 0x206A))
# Letters and symbols that display as blank space without being whitespace.
_INVISIBLE_FILLERS = frozenset({0x115F, 0x1160, 0x3164, 0xFFA0, 0x2800})


_REMOVE = "remove it"


def _kind(code: int, multiline: bool) -> tuple[str, str] | None:
    """Why code point ``code`` is refused, as (what it is, the fix), or None."""
    if code == 0x0A:
        return None if multiline else ("a line break", "keep the text on one line")
    if code == 0x0D:
        if not multiline:
            return "a carriage return", "keep the text on one line"
        return "a carriage return", "use LF line endings (the signing tools convert CRLF)"
    if code == 0x09:
        return "a tab", "use spaces"
    if code < 0x20 or code == 0x7F:
        return "a control character", _REMOVE
    if 0x80 <= code <= 0x9F:
        return "a C1 control character", _REMOVE
    if code in _BIDI_CONTROLS:
        return "a bidi embedding, override or isolate, UAX #9", _REMOVE
    if code == 0xFEFF:
        return "a byte order mark", _REMOVE
    if code in (0x2028, 0x2029):
        if not multiline:
            return "a line or paragraph separator", "keep the text on one line"
        return "a line or paragraph separator", "use LF line breaks"
    if 0xE0000 <= code <= 0xE007F:
        return "a Unicode tag character, invisible", _REMOVE
    if 0xFFF9 <= code <= 0xFFFB:
        return "an interlinear annotation character, often not displayed", _REMOVE
    if 0x206A <= code <= 0x206F:
        return "a deprecated format character", _REMOVE
    if 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE:
        return "a Unicode non-character", _REMOVE
    return None


def _refused_pattern(multiline: bool) -> re.Pattern[str]:
    # One character class of every refused code point, so a search finds the first in C.
    ranges = [(0x00, 0x09), (0x0B, 0x1F), (0x7F, 0x9F), (0x202A, 0x202E), (0x2066, 0x2069)]
    ranges += [(0xFEFF, 0xFEFF), (0xFDD0, 0xFDEF), (0xD800, 0xDFFF)]
    ranges += [(0x2028, 0x2029), (0xE0000, 0xE007F), (0xFFF9, 0xFFFB), (0x206A, 0x206F)]
    ranges += [(plane + 0xFFFE, plane + 0xFFFF) for plane in range(0, 0x110000, 0x10000)]
    if not multiline:
        ranges.append((0x0A, 0x0A))
    parts = "".join(f"{re.escape(chr(lo))}-{re.escape(chr(hi))}" for lo, hi in ranges)
    return re.compile(f"[{parts}]")


_REFUSED_MULTILINE = _refused_pattern(multiline=True)
_REFUSED_LINE = _refused_pattern(multiline=False)


# Format characters, and marks that need a base character to show on (a combining
# accent or a variation selector alone displays nothing, or a dotted circle at most).
_INVISIBLE_CATEGORIES = frozenset({"Cf", "Mn", "Me"})


def _invisible(char: str) -> bool:
    return (
        char.isspace()
        or unicodedata.category(char) in _INVISIBLE_CATEGORIES
        or ord(char) in _INVISIBLE_FILLERS
    )


def is_blank(value: str) -> bool:
    """True when ``value`` is empty or shows nothing: whitespace and invisible characters only."""
    return all(_invisible(char) for char in value)


def text_problem(value: str, *, multiline: bool = True) -> str | None:
    """The first character-level reason to refuse ``value``, or None.

    The message names the code point and its 1-based position (in code points,
    as JavaScript's ``[...text]`` counts) and the fix, without the field name.
    Blank text is not judged here; see :func:`is_blank`.
    """
    found = (_REFUSED_MULTILINE if multiline else _REFUSED_LINE).search(value)
    if found is None:
        return None
    position, code = found.start() + 1, ord(found.group())
    if 0xD800 <= code <= 0xDFFF:
        return (
            f"is not valid Unicode (it holds a lone surrogate at position {position}); "
            "send UTF-8 text"
        )
    kind = _kind(code, multiline)
    assert kind is not None, f"U+{code:04X} matched but has no reason"
    what, fix = kind
    return f"contains U+{code:04X} ({what}) at position {position}; {fix}"


def normalise_text(value: str) -> str:
    """What a signer does before signing: CRLF and lone CR become LF, then NFC (UAX #15).

    The browser does the same (``charter.js``), so both sign the same bytes.
    """
    return unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n"))


def clean_text(
    value: str, field: str, *, multiline: bool = True, empty_fix: str = "write the text"
) -> str:
    """Check a user text field and return it NFC-normalised.

    Args:
        value: the text as received (not changed otherwise: signatures cover it).
        field: its name in errors, e.g. ``"wish.scenario"``.
        multiline: whether LF line breaks are allowed.
        empty_fix: what to tell a person whose text is blank.

    Raises:
        EntryError: one line naming the field, what is wrong, where, and the fix.
    """
    problem = text_problem(value, multiline=multiline)
    if problem is not None:
        raise EntryError(f"field {field}: {problem}.")
    if is_blank(value):
        raise EntryError(f"field {field}: empty; {empty_fix}.")
    return unicodedata.normalize("NFC", value)
