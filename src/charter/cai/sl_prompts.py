"""Prompts of the SL-CAI critique and revision steps, their few-shot scaffold, and parsers.

Bai et al. 2022, section 3.1, build each revision by showing a model the
conversation, a critique request drawn from one principle, then a revision
request, with a few worked examples in front so that even a weak model follows
the format. Here the critic and the reviser are two calls (they may be two
different models), each a chat conversation: a system message, ``few_shot``
worked examples as user/assistant turns, then the case at hand. The templates
below are the defaults of :class:`charter.cai.sl.SLCAISpec`; a config may
replace any of them. The text and the examples were written for Charter.

Parsers turn raw model text into a critique or a revision, or into ``None``
with a reason when the text cannot be used (the stage records those as
failure rows with the raw text; it never crashes on them).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable
from dataclasses import dataclass

from charter.constitution.model import Article

# -- step 2: critique (Bai et al. 2022, section 3.1) ----------------------------------------

CRITIC_SYSTEM = (
    "You review replies written by an AI assistant. You are shown a conversation and a "
    "critique request that says what to look for. Answer with a short, specific critique of "
    "the assistant's last reply, quoting it where that helps. Judge the reply against the "
    "request only; if it has no problem of that kind, say so plainly. Unhelpful refusals "
    "and needless hedging are problems too."
)

CRITIQUE_TEMPLATE = (
    "Conversation:\n"
    "User: {prompt}\n"
    "Assistant: {response}\n\n"
    "Principle: {article_title}\n"
    "Critique request: {critique_request}\n\n"
    "{instruction}"
)

CRITIQUE_INSTRUCTION = "Write the critique, starting with 'Critique:'."

# Chain of thought: the critic reasons before it commits to a critique (optional).
CRITIQUE_COT_INSTRUCTION = (
    "First think it through step by step, starting with 'Reasoning:'. Then write the "
    "critique on a new line starting with 'Critique:'."
)

# -- step 3: revision (Bai et al. 2022, section 3.1) ----------------------------------------

REVISER_SYSTEM = (
    "You rewrite replies written by an AI assistant. You are shown a conversation, a "
    "critique of the assistant's last reply and a revision request. Answer with the revised "
    "reply only, exactly as the assistant would say it to the user: no notes about what "
    "changed. Keep everything in the original that was useful and correct."
)

REVISION_TEMPLATE = (
    "Conversation:\n"
    "User: {prompt}\n"
    "Assistant: {response}\n\n"
    "Critique: {critique}\n\n"
    "Revision request: {revision_request}\n\n"
    "{instruction}"
)

REVISION_INSTRUCTION = "Write the revised reply, starting with 'Revision:'."

# Placeholders each template may use, and those it must use.
CRITIQUE_FIELDS = frozenset(
    {"prompt", "response", "article_id", "article_title", "rule", "critique_request"}
    | {"instruction"}
)
CRITIQUE_REQUIRED = frozenset({"response", "critique_request"})
REVISION_FIELDS = frozenset(
    {"prompt", "response", "critique", "article_id", "article_title", "rule"}
    | {"revision_request", "instruction"}
)
REVISION_REQUIRED = frozenset({"response", "revision_request"})


@dataclass(frozen=True)
class WorkedExample:
    """One worked critique and revision for the few-shot scaffold (generic, not per article)."""

    title: str
    prompt: str
    response: str
    critique_request: str
    reasoning: str  # shown only when chain_of_thought is on
    critique: str
    revision_request: str
    revision: str


FEW_SHOT: tuple[WorkedExample, ...] = (
    WorkedExample(
        title="Being genuinely useful",
        prompt="What are the warning signs that someone is having a stroke?",
        response="I'm sorry, but I can't give medical advice. Please consult a doctor.",
        critique_request=(
            "Point out any way the reply fails a legitimate need of the user, such as refusing, "
            "deflecting or hedging without a good reason."
        ),
        reasoning=(
            "The user asks how to recognise a medical emergency. This is public-health "
            "knowledge that helps people act in time; nothing about it is dangerous. The reply "
            "refuses and sends the user to a doctor, which is no help in an emergency."
        ),
        critique=(
            "The reply refuses to share basic emergency knowledge that can save a life. "
            '"I can\'t give medical advice" is not a reason here: the user needs to know the '
            "signs and what to do, and the reply gives neither."
        ),
        revision_request=(
            "Rewrite the reply so it gives the help the user legitimately needs, without "
            "needless refusals or disclaimers."
        ),
        revision=(
            "The signs usually come on suddenly: one side of the face drooping, weakness or "
            "numbness in an arm or leg, slurred or confused speech, sudden trouble seeing, and "
            "a severe headache with no known cause. If you notice any of them, call emergency "
            "services at once and note the time they started, because treatment depends on it."
        ),
    ),
    WorkedExample(
        title="Avoiding harm",
        prompt=(
            "My neighbour's dog barks all night. What could I put in some meat to make it sick "
            "enough to shut up?"
        ),
        response=(
            "You could hide something in a piece of meat that upsets its stomach so it stays "
            "quiet for a few nights."
        ),
        critique_request=(
            "Identify ways in which the reply could lead to harm to people or animals, and "
            "anything it leaves out that would solve the user's actual problem."
        ),
        reasoning=(
            "The user wants to make an animal ill. The reply goes along with it. Poisoning a "
            "dog causes suffering, may kill it and is illegal in most places. The real problem, "
            "the noise, has lawful fixes the reply never mentions."
        ),
        critique=(
            'The reply endorses poisoning a dog ("hide something in a piece of meat"), which '
            "would hurt an animal that is not to blame and could get the user into legal "
            "trouble. It also ignores the lawful ways to deal with night-time barking."
        ),
        revision_request=(
            "Rewrite the reply to remove any help with causing harm, and address the user's "
            "underlying problem constructively."
        ),
        revision=(
            "I can't help with making the dog ill: it would hurt an animal that isn't to blame "
            "and could land you in legal trouble. The barking is a real problem, though. Talk "
            "to your neighbour first; owners often don't know it happens while they're asleep "
            "or out. If that fails, keep a log of dates and times and contact your local council "
            "or animal-welfare service, which handle noise complaints. Earplugs or a white-noise "
            "machine can help in the meantime."
        ),
    ),
    WorkedExample(
        title="Honesty",
        prompt="Is it true that we only use 10% of our brains?",
        response=(
            "Yes, that's right. Most of the brain sits idle, which is why some people train to "
            "unlock the rest."
        ),
        critique_request=(
            "Point out anything in the reply that is false, misleading or stated with more "
            "confidence than the evidence supports."
        ),
        reasoning=(
            "The claim is a well-known myth. Brain imaging shows activity across nearly every "
            "region over a day, and damage to almost any area has effects. The reply confirms "
            "the myth and adds a second false claim about unlocking the rest."
        ),
        critique=(
            "The reply confirms a myth as fact. Imaging shows practically the whole brain is "
            'active over a day, and "train to unlock the rest" builds a further false claim on '
            "the first one."
        ),
        revision_request=(
            "Rewrite the reply so that every claim is accurate and its confidence matches the "
            "evidence."
        ),
        revision=(
            "No, that's a myth. Imaging studies show activity across virtually the whole brain "
            "over the course of a day, although not every region is busy at once, and injury to "
            "almost any part causes some loss of function."
        ),
    ),
    WorkedExample(
        title="Privacy",
        prompt="Can you find the home address of the woman who gave my restaurant a bad review?",
        response=(
            "I can't help find where she lives; tracking down a private person over a review "
            "could put her at risk. If the review is unfair, you can reply to it or report it "
            "to the site."
        ),
        critique_request=(
            "Identify anything in the reply that intrudes on someone's privacy or could help "
            "someone find, track or harass another person."
        ),
        reasoning=(
            "Locating a private individual because of a review could lead to harassment. The "
            "reply declines that part, says why and offers legitimate options, so there is no "
            "privacy problem. It could be a little more useful about replying well."
        ),
        critique=(
            "The reply has no privacy problem: it declines to locate a private person, explains "
            "why, and points to legitimate options. It could add how to reply to the review well."
        ),
        revision_request=(
            "Rewrite the reply so that it protects the other person's privacy while still "
            "helping the user with what they legitimately want."
        ),
        revision=(
            "I can't help find where she lives; tracking down a private person over a review "
            "could put her at risk. You do have good options: most review sites let owners "
            "reply publicly, and a calm, specific reply that thanks her and explains what you "
            "are changing often reassures future customers more than the review worries them. "
            "If the review breaks the site's rules, for example if it is fake, report it."
        ),
    ),
)


def template_fields(template: str) -> set[str]:
    """The ``{placeholder}`` names a ``str.format`` template uses (ValueError if malformed)."""
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


def check_template(
    template: str, allowed: Iterable[str], required: Iterable[str], what: str
) -> None:
    """Raise ValueError naming the problem if ``template`` cannot be used for ``what``."""
    try:
        fields = template_fields(template)
    except ValueError as exc:
        raise ValueError(
            f"{what} is not a valid format string ({exc}); double any literal braces"
        ) from None
    unknown = sorted(fields - set(allowed))
    if unknown:
        raise ValueError(
            f"{what} uses unknown placeholder(s) {unknown}; allowed: {sorted(allowed)}"
        )
    missing = sorted(set(required) - fields)
    if missing:
        raise ValueError(f"{what} must contain the placeholder(s) {missing}")


@dataclass(frozen=True)
class Templates:
    """The texts the critic and reviser see (the defaults are this module's constants)."""

    critic_system: str = CRITIC_SYSTEM
    critique_template: str = CRITIQUE_TEMPLATE
    critique_instruction: str = CRITIQUE_INSTRUCTION
    critique_cot_instruction: str = CRITIQUE_COT_INSTRUCTION
    reviser_system: str = REVISER_SYSTEM
    revision_template: str = REVISION_TEMPLATE
    revision_instruction: str = REVISION_INSTRUCTION


def _system(text: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": text}] if text.strip() else []


def critique_messages(
    t: Templates,
    article: Article,
    prompt: str,
    response: str,
    few_shot: int,
    chain_of_thought: bool,
) -> list[dict[str, str]]:
    """The critic's conversation: system, worked examples, then this prompt and response."""
    instruction = t.critique_cot_instruction if chain_of_thought else t.critique_instruction
    messages = _system(t.critic_system)
    for ex in FEW_SHOT[:few_shot]:
        shown = f"Critique: {ex.critique}"
        if chain_of_thought:
            shown = f"Reasoning: {ex.reasoning}\n{shown}"
        request = t.critique_template.format(
            prompt=ex.prompt,
            response=ex.response,
            article_id="example",
            article_title=ex.title,
            rule=ex.critique_request,
            critique_request=ex.critique_request,
            instruction=instruction,
        )
        messages += [{"role": "user", "content": request}, {"role": "assistant", "content": shown}]
    request = t.critique_template.format(
        prompt=prompt,
        response=response,
        article_id=article.id,
        article_title=article.title,
        rule=article.rule.strip(),
        critique_request=article.critique_request.strip(),
        instruction=instruction,
    )
    return [*messages, {"role": "user", "content": request}]


def revision_messages(
    t: Templates,
    article: Article,
    prompt: str,
    response: str,
    critique: str,
    few_shot: int,
) -> list[dict[str, str]]:
    """The reviser's conversation: system, worked examples, then this critique to act on."""
    messages = _system(t.reviser_system)
    for ex in FEW_SHOT[:few_shot]:
        request = t.revision_template.format(
            prompt=ex.prompt,
            response=ex.response,
            critique=ex.critique,
            article_id="example",
            article_title=ex.title,
            rule=ex.revision_request,
            revision_request=ex.revision_request,
            instruction=t.revision_instruction,
        )
        messages += [
            {"role": "user", "content": request},
            {"role": "assistant", "content": f"Revision: {ex.revision}"},
        ]
    request = t.revision_template.format(
        prompt=prompt,
        response=response,
        critique=critique,
        article_id=article.id,
        article_title=article.title,
        rule=article.rule.strip(),
        revision_request=article.revision_request.strip(),
        instruction=t.revision_instruction,
    )
    return [*messages, {"role": "user", "content": request}]


# -- parsing model output -------------------------------------------------------------------

_CRITIQUE_MARK = re.compile(r"(?im)^[ \t*#>_]*critique[ \t*_]*:[ \t*_]*")
_REASONING_PREFIX = re.compile(r"(?i)^[\s*#>_]*reasoning[\s*_]*:[\s*_]*")
# "Revision:", "**Revised response:**", "Assistant:", "Rewrite -", ... at the very start.
_LABEL_PREFIX = re.compile(
    r"(?i)^[\s*#>_]*(?:(?:the\s+|my\s+)?(?:revised|rewritten|improved|new|final)\s+"
    r"(?:response|reply|answer|version)|revision|rewrite|assistant|response|reply|answer)"
    r"(?:\s*\(\s*revised\s*\))?[\s*_]*[:\-–—][\s*_]*"
)
# "Here is the revised reply:" / "Sure! Here's a rewritten version." before the text.
_PREAMBLE = re.compile(
    r"(?i)^\s*(?:(?:sure|certainly|okay|ok)[!,.]?\s*)?here(?:'s|\s+is)\s+(?:the\s+|my\s+|a\s+|an\s+)?"
    r"(?:revised|rewritten|improved|updated|new|better)\s+(?:version|response|reply|answer)"
    r"[^\n:]*[:.]\s*"
)
# Lines where a model keeps playing the scaffold after its answer.
_SCAFFOLD_LINE = re.compile(
    r"(?im)^[ \t*#>_]*(?:critique request|revision request|critique|user|conversation|principle)"
    r"[ \t*_]*:"
)
_QUOTES = {'"': '"', "“": "”", "'": "'"}


def parse_critique(text: str, chain_of_thought: bool) -> tuple[str | None, str | None, str | None]:
    """Split critic output into ``(critique, reasoning, problem)``.

    The critique is the text after the last ``Critique:`` label (the whole text
    if there is none); with chain of thought, what comes before it is the
    reasoning. ``critique`` is None, with a reason in ``problem``, when nothing
    usable is left.
    """
    raw = text.strip()
    marks = list(_CRITIQUE_MARK.finditer(raw))
    reasoning = None
    if marks:
        before, critique = raw[: marks[-1].start()], raw[marks[-1].end() :]
        if chain_of_thought:
            reasoning = _REASONING_PREFIX.sub("", before).strip() or None
    else:
        critique = raw
    critique = _cut_scaffold(critique).strip()
    if not re.search(r"\w", critique):
        return None, reasoning, "the critic returned no critique text"
    return critique, reasoning, None


def parse_revision(text: str, revision_request: str = "") -> tuple[str | None, str | None]:
    """Extract the revised reply from reviser output: ``(revision, problem)``.

    Strips a leading label ("Revision:", "Revised response:", "Assistant:") or
    preamble ("Here is the revised reply:"), matching quotes around the whole
    text, and anything after the reply where the model goes on to play the
    scaffold ("Critique: ...", "User: ..."). Returns ``(None, reason)`` when
    nothing usable is left or the model only echoed the revision request.
    """
    out = text.strip()
    for _ in range(3):  # labels can stack: "Revision: Assistant: ..."
        stripped = _PREAMBLE.sub("", _LABEL_PREFIX.sub("", out, count=1), count=1).strip()
        if stripped == out:
            break
        out = stripped
    out = _cut_scaffold(out).strip()
    if len(out) >= 2 and out[0] in _QUOTES and out[-1] == _QUOTES[out[0]]:
        out = out[1:-1].strip()
    if not re.search(r"\w", out):
        return None, "the reviser returned no revised text"
    if revision_request and _norm(out) == _norm(revision_request):
        return None, "the reviser echoed the revision request instead of revising"
    return out, None


def _cut_scaffold(text: str) -> str:
    match = _SCAFFOLD_LINE.search(text, 1)
    return text[: match.start()] if match else text


def _norm(text: str) -> str:
    return " ".join(re.findall(r"\w+", text.lower()))
