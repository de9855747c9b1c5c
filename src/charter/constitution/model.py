"""The typed model of a constitution: articles with rule, rationale and conflicts.

An article carries what Constitutional AI needs (a critique request and a
revision request, Bai et al. 2022, section 3.1) and what it usually lacks: a
rationale that explains *why* the rule holds, and guidance for weighing it
against the articles it can collide with. A constitution's version id is the
SHA-256 of its canonical JSON form, so two files that say the same thing have
the same id whatever their formatting.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ARTICLE_ID = re.compile(r"^\d+(\.\d+)*$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Example(_Frozen):
    """A short illustration: a user message, a better and a worse response."""

    prompt: str = Field(min_length=1)
    better: str = Field(min_length=1)
    worse: str = Field(min_length=1)


class Conflict(_Frozen):
    """How to weigh this article against another one when they collide."""

    with_: str = Field(alias="with", min_length=1)
    guidance: str = Field(min_length=1)

    model_config = ConfigDict(
        frozen=True, extra="forbid", populate_by_name=True, str_strip_whitespace=True
    )


class Article(_Frozen):
    """One article of a constitution."""

    id: str
    title: str = Field(min_length=1)
    rule: str = Field(min_length=1)
    rationale: str = Field(min_length=1, description="Why the rule matters (normative depth).")
    critique_request: str = Field(min_length=1)
    revision_request: str = Field(min_length=1)
    examples: tuple[Example, ...] = ()
    conflicts: tuple[Conflict, ...] = ()

    @field_validator("id", mode="before")
    @classmethod
    def _id_format(cls, value: object) -> str:
        text = str(value).strip()
        if not ARTICLE_ID.match(text):
            raise ValueError(f"article id {text!r} must look like '2' or '2.1' (digits and dots)")
        return text


class Constitution(_Frozen):
    """An ordered set of articles with a content hash as its version id."""

    name: str = Field(min_length=1)
    description: str = ""
    articles: tuple[Article, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> Constitution:
        seen: set[str] = set()
        for article in self.articles:
            if article.id in seen:
                raise ValueError(f"article id {article.id!r} appears twice; ids must be unique")
            seen.add(article.id)
        for article in self.articles:
            for conflict in article.conflicts:
                if conflict.with_ not in seen:
                    raise ValueError(
                        f"article {article.id} names a conflict with {conflict.with_!r}, "
                        "which is not an article id in this constitution"
                    )
                if conflict.with_ == article.id:
                    raise ValueError(f"article {article.id} lists a conflict with itself")
        return self

    def canonical_json(self) -> str:
        """Stable JSON of the content: sorted keys, no whitespace, aliases as in YAML."""
        return json.dumps(
            self.model_dump(mode="json", by_alias=True),
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @property
    def hash(self) -> str:
        """SHA-256 (hex) of the canonical JSON: the constitution's version id."""
        return hashlib.sha256(self.canonical_json().encode("utf-8")).hexdigest()

    @property
    def short_hash(self) -> str:
        """The first 12 hex digits of :attr:`hash`, for display."""
        return self.hash[:12]

    def article(self, article_id: str) -> Article:
        """The article with this id; raises ``KeyError`` naming the known ids."""
        for article in self.articles:
            if article.id == article_id:
                return article
        known = ", ".join(a.id for a in self.articles)
        raise KeyError(f"no article {article_id!r}; known ids: {known}")

    def __iter__(self) -> Iterator[Article]:  # type: ignore[override]
        return iter(self.articles)

    def __len__(self) -> int:
        return len(self.articles)
