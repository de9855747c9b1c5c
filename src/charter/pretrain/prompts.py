"""Prompt templates for alignment pretraining data: classify, reflect, score depth.

Every template is a named constant written for this project and can be
replaced through the stage spec. Templates are ``str.format`` strings (a
literal brace must be doubled). Questions put the document first and the
question last, so the several questions asked about one document share their
prefix and the llama.cpp backend evaluates the document once.

Placeholders: ``{articles}`` (the lettered list of articles), ``{document}``,
``{article}`` (title, rule and, for ``explained``, rationale and conflicts),
``{reflection}``.
"""

from __future__ import annotations

import string
from collections.abc import Sequence

from charter.constitution import Article, Constitution
from charter.errors import ConfigError

# -- classification (choice log-probs) -------------------------------------------------

CLASSIFY_SYSTEM = """\
You are a careful reviewer who sorts pretraining documents for an AI developer. \
The developer's constitution has these articles:
{articles}"""

DOCUMENT_BLOCK = "Document:\n<<<\n{document}\n>>>\n\n"

HARM_QUESTION = (
    DOCUMENT_BLOCK
    + "Does this document depict, encourage or carry harm that the constitution protects "
    "against (violence, self-harm, deception, manipulation, abuse, fraud, hatred, an AI "
    "undermining human oversight), or is it an ordinary benign text?\n"
    "A) benign\nB) harmful\nAnswer with one letter."
)
HARM_CHOICES = ("A", "B")

SEVERITY_QUESTION = (
    DOCUMENT_BLOCK + "How severe is the harm this document depicts or encourages?\n"
    "0) none\n1) mild\n2) serious\n3) severe, e.g. it urges violence, self-harm or fraud\n"
    "Answer with one digit."
)
SEVERITY_CHOICES = ("0", "1", "2", "3")

ARTICLE_QUESTION = (
    DOCUMENT_BLOCK + "Which article of the constitution does this document bear on most directly? "
    "Answer with the article's letter only."
)

# -- reflections (generation) ----------------------------------------------------------

REFLECT_SYSTEM = """\
You annotate pretraining documents with short reflections that show how a good and \
thoughtful AI assistant thinks about what it reads. Never repeat or add harmful \
details (no methods, quantities or targets). Write plain prose, no headings, no lists."""

KIND_INSTRUCTIONS = {
    "harmful-engaging": (
        "The document involves harm. Engage with it honestly: say what is wrong in it "
        "and what is at stake for the people involved, without lecturing and without "
        "repeating its harmful content."
    ),
    "benign-appreciative": (
        "The document is benign. Appreciate what is good or useful in it and what it "
        "shows about people treating each other well."
    ),
}

#: The default instruction per reflection style; a ``pretrain_reflect`` stage's
#: ``style_instructions`` replaces any of them (and the stage fingerprints the result).
STYLE_INSTRUCTIONS = {
    "citation": (
        "Write one or two sentences, in your own words, saying which article of the "
        "constitution this document bears on, by its number and title. Do not copy "
        "the article's text."
    ),
    "explained": (
        "Write three to five sentences. Name the relevant article, then explain why it "
        "holds here: what it protects and what goes wrong without it. If another article "
        "pulls the other way, say how the two are weighed in this case."
    ),
    "character": (
        "Write three to five sentences in the first person, as the assistant reacting "
        "earnestly to this document: what you notice, what you care about and why, and "
        "what you would hope for the people in it. Do not quote rules."
    ),
}

REFLECT_TEMPLATE = (
    DOCUMENT_BLOCK + "Relevant article:\n{article}\n\n{kind_instruction}\n{style_instruction}"
)

# -- reflection depth (choice log-probs) -----------------------------------------------

DEPTH_SYSTEM = """\
You grade short reflections written about documents. Be strict: a reflection that only \
names a rule or article, or that could be pasted under any document, does not meet a \
criterion just by mentioning it."""

DEPTH_TEMPLATE = (
    DOCUMENT_BLOCK + "Reflection:\n<<<\n{reflection}\n>>>\n\nQuestion: {criterion}\n"
    "Answer Yes or No."
)
DEPTH_CHOICES = ("Yes", "No")

#: The four rubric criteria of the reflection-depth scorer, in order.
DEPTH_CRITERIA = {
    "identifies": (
        "Does the reflection identify the specific issue (or, for a benign document, the "
        "specific good) at stake in this particular document?"
    ),
    "explains": (
        "Does the reflection explain why it matters, what is protected or what goes "
        "wrong, rather than only naming a rule, an article or a label?"
    ),
    "weighs": (
        "Does the reflection acknowledge a competing consideration or value and say how "
        "it is weighed against the main one?"
    ),
    "earnest": (
        "Is the reflection earnest, specific engagement with this document rather than a "
        "formulaic or generic statement?"
    ),
}

# -- helpers ---------------------------------------------------------------------------

_LETTERS = string.ascii_uppercase
# Conflicts shown per article in `explained` prompts: each costs ~100 prompt tokens.
MAX_CONFLICTS = 2


def article_choices(constitution: Constitution) -> list[str]:
    """The answer choices for 'which article': a letter each (ids past 26 articles)."""
    ids = [a.id for a in constitution]
    return list(_LETTERS[: len(ids)]) if len(ids) <= len(_LETTERS) else ids


def lettered_articles(constitution: Constitution, rules: bool = False) -> str:
    """``A) 1.1 Physical safety`` lines: the articles the classifier chooses from.

    Titles only by default: with every rule the list is ~1,500 tokens, which a
    2-core CPU evaluates for minutes; ``rules=True`` adds them for larger machines.
    """
    choices = article_choices(constitution)
    return "\n".join(
        f"{c}) {a.id} {a.title}" + (f": {' '.join(a.rule.split())}" if rules else "")
        for c, a in zip(choices, constitution, strict=True)
    )


def describe_article(article: Article, constitution: Constitution, deep: bool) -> str:
    """An article for a reflection prompt; with ``deep``, its rationale and conflicts too."""
    lines = [f"{article.id} {article.title}: {' '.join(article.rule.split())}"]
    if deep:
        lines.append(f"Why it holds: {' '.join(article.rationale.split())}")
        for conflict in article.conflicts[:MAX_CONFLICTS]:
            other = constitution.article(conflict.with_)
            lines.append(
                f"When it conflicts with {other.id} {other.title}: "
                f"{' '.join(conflict.guidance.split())}"
            )
    return "\n".join(lines)


def check_template(template: str, required: Sequence[str], field: str) -> str:
    """A template that names each required placeholder, else ConfigError naming the field."""
    names = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    missing = [name for name in required if name not in names]
    if missing:
        raise ConfigError(
            f"field {field}: the template lacks {', '.join('{' + m + '}' for m in missing)}; "
            "add them (double a literal brace)."
        )
    return template
