"""Constitutional AI (Bai et al. 2022): critique-and-revise SFT data and AI-feedback labels.

Two run stages:

- ``sl_cai`` (:mod:`charter.cai.sl`, section 3): the policy answers red-team
  prompts; a critic critiques each answer against an article sampled per round
  and a reviser rewrites it, for N rounds; the final revisions, mixed with
  helpfulness samples, become an SFT dataset (``messages`` rows).
- ``rl_cai_labels`` (:mod:`charter.cai.labels`, section 4): the policy samples
  several responses; a feedback model compares pairs as multiple-choice
  questions per sampled article, both orders, and the normalised choice
  probabilities, ensembled over articles, become soft preference labels
  (``prompt/chosen/rejected/label_prob`` rows, the format TRL's DPO reads).
"""

from charter.cai.labelers import ConstitutionalLabeler, Labeler
from charter.cai.labels import LabelSpec, run_labels
from charter.cai.sl import SLCAISpec, run_sl_cai

__all__ = [
    "ConstitutionalLabeler",
    "LabelSpec",
    "Labeler",
    "SLCAISpec",
    "run_labels",
    "run_sl_cai",
]
