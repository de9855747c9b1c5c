"""Alignment pretraining data: classify a corpus, reflect on it, build mixes with data cards.

Pipeline (each step a resumable run stage, see ``docs/pretraining.md``)::

    corpus -> pretrain_classify -> pretrain_reflect -> pretrain_mix -> charter pretrain ablate

Background: conditional training with control tokens (Korbak et al. 2023),
alignment pretraining (Tice et al. 2026), safety pretraining (Maini et al. 2025).
"""

from __future__ import annotations

from charter.pretrain.corpus import Document, iter_documents
from charter.pretrain.judge import Classification, DocumentJudge

__all__ = ["Classification", "Document", "DocumentJudge", "iter_documents"]
