"""Constitutions: articles with a rule, why it holds, and how to weigh conflicts."""

from charter.constitution.diff import ConstitutionDiff, diff_constitutions
from charter.constitution.load import default_path, load_constitution, parse_constitution
from charter.constitution.model import Article, Conflict, Constitution, Example

__all__ = [
    "Article",
    "Conflict",
    "Constitution",
    "ConstitutionDiff",
    "Example",
    "default_path",
    "diff_constitutions",
    "load_constitution",
    "parse_constitution",
]
