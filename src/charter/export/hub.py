"""Upload exported datasets to the Hugging Face Hub (``charter export --push-to-hub``).

Each exported folder is uploaded whole with ``huggingface_hub.HfApi.upload_folder``
into a dataset repository: ``REPO`` itself when one dataset is pushed, else
``REPO-<name>`` per dataset (one repository per dataset, so each keeps its own
card). The token is huggingface_hub's usual one (``HF_TOKEN`` or ``hf auth
login``). Offline (``HF_HUB_OFFLINE=1``) nothing is attempted; a failed upload
is one line naming the repository, and the export on disk stays as written.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from charter.errors import BackendError, missing_extra

TRUE = {"1", "ON", "YES", "TRUE"}  # how huggingface_hub reads its boolean variables


def hub_offline() -> bool:
    """Whether ``HF_HUB_OFFLINE`` forbids calls to the Hub."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in TRUE


def repo_names(repo: str, names: Sequence[str]) -> dict[str, str]:
    """Dataset name -> Hub repository id: ``repo`` for one dataset, ``repo-<name>`` for more."""
    if len(names) == 1:
        return {names[0]: repo}
    return {name: f"{repo}-{name}" for name in names}


def check_pushable(repo: str) -> None:
    """Refuse early, before any export work, a repository id or a setting that cannot push.

    Raises:
        BackendError: ``repo`` is not ``OWNER/NAME``, or ``HF_HUB_OFFLINE`` is set.
    """
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise BackendError(
            f"--push-to-hub {repo}: give a dataset repository id as OWNER/NAME, e.g. me/my-data."
        )
    if hub_offline():
        raise BackendError(
            f"--push-to-hub {repo}: HF_HUB_OFFLINE is set, so nothing can be uploaded; "
            "unset it where a network exists, or export without --push-to-hub."
        )


def push_folders(folders: dict[str, Path], repo: str, private: bool = False) -> dict[str, str]:
    """Upload each folder (name -> path) to its dataset repository; name -> repo URL.

    Raises:
        BackendError: offline, huggingface_hub missing, or the Hub refused or could
            not be reached.
    """
    check_pushable(repo)
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise missing_extra("huggingface_hub", "train") from None
    api = HfApi()
    urls = {}
    for name, repo_id in repo_names(repo, list(folders)).items():
        try:
            api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
            api.upload_folder(
                repo_id=repo_id,
                repo_type="dataset",
                folder_path=str(folders[name]),
                commit_message=f"charter export: {name}",
            )
        except Exception as exc:  # the Hub's HTTP, auth and network errors, translated here
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise BackendError(
                f"--push-to-hub {repo_id}: upload of {folders[name]} failed ({first}); check the "
                "network and your token (HF_TOKEN or `hf auth login`), then rerun with --force."
            ) from None
        urls[name] = f"https://huggingface.co/datasets/{repo_id}"
    return urls
