"""Exports: a run's datasets as folders ``datasets.load_dataset`` reads, with dataset cards.

``export_run(RUN, OUT)`` writes one folder per dataset (SFT data, preference
pairs, eval judgements, pretraining mixes) with a README.md card naming the
constitution hash, the config, the models, the judges' calibration cards and
the Merkle root of the rows; ``push_folders`` uploads them to the Hub.
This package sits beside :mod:`charter.report`: it reads the outputs of
several stage kinds, so it is above the domain packages.
"""

from charter.export.hub import check_pushable, push_folders, repo_names
from charter.export.write import ExportedDataset, canonical_row, export_run, rows_root

__all__ = [
    "ExportedDataset",
    "canonical_row",
    "check_pushable",
    "export_run",
    "push_folders",
    "repo_names",
    "rows_root",
]
