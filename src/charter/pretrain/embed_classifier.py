"""A cheap classifier for scale: logistic regression on embeddings, trained on the judge.

The feedback model labels a sample of the corpus; a logistic regression
(scikit-learn) on sentence embeddings learns those labels and labels the rest
at embedding cost. Its agreement with the judge is measured on held-out judged
documents (a deterministic hash split, so reruns agree), and recorded in the
data card next to the threshold. This is the "classifier trained on a stronger
model's labels" recipe used for safety-pretraining filters (Maini et al.
2025).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from charter.backends.base import Embedder
from charter.errors import RunError

# Targets learned from the judge's rows, when the training split has two classes or more.
TARGETS = ("label", "severity", "article")


def held_out(doc_id: str, fraction: float) -> bool:
    """Whether a document belongs to the held-out split (stable: a hash of its id)."""
    bucket = int.from_bytes(hashlib.sha256(doc_id.encode()).digest()[:4], "big") / 2**32
    return bucket < fraction


def _target(row: dict, name: str) -> str:
    if name == "article":
        return row["articles"][0]["id"] if row.get("articles") else ""
    return str(row[name])


@dataclass
class EmbeddingClassifier:
    """Logistic regressions from embeddings to the judge's label, severity and top article.

    Args:
        embedder: turns texts into unit vectors.
        threshold: P(harmful) at or above which a document is ``harmful``.
        c: inverse regularisation strength of the logistic regression.
    """

    embedder: Embedder
    threshold: float = 0.5
    c: float = 1.0
    models: dict[str, Any] = field(default_factory=dict)
    constant: dict[str, str] = field(default_factory=dict)

    def fit(self, texts: Sequence[str], rows: Sequence[dict]) -> EmbeddingClassifier:
        """Fit on judged rows (``label``, ``severity``, ``articles``) and their texts."""
        if not rows:
            raise RunError("the embedding classifier needs judged documents to learn from.")
        from sklearn.linear_model import LogisticRegression

        x = self.embedder.embed(list(texts))
        for name in TARGETS:
            y = [_target(r, name) for r in rows]
            if len(set(y)) < 2:
                self.constant[name] = y[0]  # one class: nothing to learn, predict it
                continue
            model = LogisticRegression(C=self.c, max_iter=1000, class_weight="balanced")
            self.models[name] = model.fit(x, y)
        return self

    def predict(self, texts: Sequence[str]) -> list[dict]:
        """Per text: ``label``, ``p_harmful``, ``severity``, ``articles`` (like a judge row)."""
        x = self.embedder.embed(list(texts))
        out: list[dict] = [{} for _ in texts]
        if "label" in self.models:
            model = self.models["label"]
            column = list(model.classes_).index("harmful") if "harmful" in model.classes_ else None
            probs = model.predict_proba(x)
            for row, p in zip(out, probs, strict=True):
                row["p_harmful"] = float(p[column]) if column is not None else 0.0
        else:
            for row in out:
                row["p_harmful"] = 1.0 if self.constant.get("label") == "harmful" else 0.0
        for row in out:
            row["label"] = "harmful" if row["p_harmful"] >= self.threshold else "benign"
        for name in ("severity", "article"):
            if name in self.models:
                values = [str(v) for v in self.models[name].predict(x)]
            else:
                values = [self.constant.get(name, "")] * len(texts)
            for row, value in zip(out, values, strict=True):
                if name == "severity":
                    row["severity"] = int(value) if value.isdigit() else 0
                else:
                    row["articles"] = [{"id": value, "p": None}] if value else []
        return out


def agreement(predicted: Sequence[dict], judged: Sequence[dict]) -> dict[str, Any]:
    """How often the embedding classifier agrees with the judge (held-out rows).

    Returns label accuracy, Cohen's kappa, the confusion counts and top-article
    agreement; ``None`` values when there are no held-out rows.
    """
    n = len(judged)
    if n == 0:
        return {"n": 0, "accuracy": None, "kappa": None, "article_accuracy": None}
    pairs = [(p["label"], j["label"]) for p, j in zip(predicted, judged, strict=True)]
    accuracy = sum(a == b for a, b in pairs) / n
    p_h = sum(a == "harmful" for a, _ in pairs) / n
    j_h = sum(b == "harmful" for _, b in pairs) / n
    chance = p_h * j_h + (1 - p_h) * (1 - j_h)
    kappa = (accuracy - chance) / (1 - chance) if chance < 1 else 1.0
    articles = [
        (p["articles"][0]["id"] if p.get("articles") else "") == _target(j, "article")
        for p, j in zip(predicted, judged, strict=True)
    ]
    confusion = {
        f"{b}->{a}": sum(1 for x in pairs if x == (a, b))
        for a in ("benign", "harmful")
        for b in ("benign", "harmful")
    }
    return {
        "n": n,
        "accuracy": accuracy,
        "kappa": kappa,
        "article_accuracy": float(np.mean(articles)),
        "confusion_judge_to_embedding": confusion,
    }
