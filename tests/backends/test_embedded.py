"""Embedded model files: joined once, verified by SHA-256, refused on mismatch."""

from __future__ import annotations

import hashlib

import pytest

from charter.backends import embedded as emb
from charter.errors import ModelIntegrityError, ModelNotFoundError


@pytest.fixture
def fake_parts(tmp_path, monkeypatch):
    blobs = [bytes([i]) * (1000 + i) for i in range(3)]
    paths = []
    for i, blob in enumerate(blobs):
        path = tmp_path / f"part{i}.bin"
        path.write_bytes(blob)
        paths.append(path)
    monkeypatch.setenv("CHARTER_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(emb, "feedback_part_paths", lambda: paths)
    return b"".join(blobs)


def test_join_verifies_and_caches(fake_parts, monkeypatch):
    monkeypatch.setattr(emb, "FEEDBACK_SHA256", hashlib.sha256(fake_parts).hexdigest())
    path = emb.feedback_model_path()
    assert path.read_bytes() == fake_parts
    assert not list(path.parent.glob(".join-*"))  # no temporary left behind
    assert emb.feedback_model_path() == path  # second call reuses the cached file


def test_join_refuses_a_wrong_hash_and_leaves_nothing(fake_parts):
    with pytest.raises(ModelIntegrityError, match="reinstall the parts"):
        emb.feedback_model_path()
    assert not any((emb.cache_dir()).iterdir())


def test_tampered_cache_is_refused(fake_parts, monkeypatch):
    monkeypatch.setattr(emb, "FEEDBACK_SHA256", hashlib.sha256(fake_parts).hexdigest())
    path = emb.feedback_model_path()
    path.write_bytes(b"tampered" + fake_parts[8:])
    with pytest.raises(ModelIntegrityError, match=r"corrupt or not the pinned version"):
        emb.feedback_model_path()


def test_missing_package_says_how_to_install():
    with pytest.raises(ModelNotFoundError, match=r"not installed; run `make install`"):
        emb.package_dir("charter_no_such_package", "no-such==1")
    with pytest.raises(ModelNotFoundError, match="choose one of"):
        emb.embedded_path("gpt-7")


@pytest.mark.model
def test_installed_embedded_files_match_their_pins():
    for name in emb.EMBEDDED:
        assert emb.embedded_path(name, verify=True).exists()
