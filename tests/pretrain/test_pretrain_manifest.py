from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from charter.errors import ProofError, RootMismatchError, VerificationError
from charter.merkle import leaf_hash, root_hash
from charter.pretrain.manifest import build_manifest, doc_sha256, prove, verify_proof

TEXTS = [f"document number {i}" for i in range(11)]


@pytest.fixture
def manifest():
    return build_manifest(doc_sha256(t) for t in TEXTS + TEXTS[:2])  # duplicates collapse


def test_manifest_is_sorted_distinct_rfc6962(manifest):
    digests = sorted({hashlib.sha256(t.encode()).hexdigest() for t in TEXTS})
    assert manifest["documents"] == digests and manifest["size"] == 11
    assert manifest["root"] == root_hash([leaf_hash(bytes.fromhex(d)) for d in digests]).hex()


@pytest.mark.parametrize("text", TEXTS)
def test_every_member_has_an_inclusion_proof(manifest, text):
    proof = prove(manifest, doc_sha256(text))
    assert proof["type"] == "inclusion"
    verify_proof(proof, manifest["root"])


@pytest.mark.parametrize("text", ["not in the mix", "another outsider", "z" * 40, "", "a"])
def test_outsiders_get_non_membership_proofs(manifest, text):
    proof = prove(manifest, doc_sha256(text))
    assert proof["type"] == "non-membership"
    verify_proof(proof, manifest["root"])


def test_non_membership_at_both_ends(manifest):
    low = prove(manifest, "0" * 64)
    high = prove(manifest, "f" * 64)
    assert low["left"] is None and low["right"]["index"] == 0
    assert high["right"] is None and high["left"]["index"] == manifest["size"] - 1
    verify_proof(low)
    verify_proof(high)


def test_forged_proofs_fail(manifest):
    member = doc_sha256(TEXTS[3])
    proof = prove(manifest, member)
    with pytest.raises(RootMismatchError):
        verify_proof(proof, "00" * 32)
    forged = {**proof, "path": list(reversed(proof["path"]))}
    with pytest.raises(RootMismatchError):
        verify_proof(forged)
    # claim a member is absent: its true neighbours are not adjacent to each other
    lower = prove(manifest, doc_sha256("not in the mix"))
    i = manifest["documents"].index(member)
    fake = {
        **lower,
        "document": member,
        "left": prove(manifest, manifest["documents"][i - 1]) if i else None,
        "right": prove(manifest, manifest["documents"][i + 1]),
    }
    for side in ("left", "right"):
        if fake[side]:
            fake[side] = {k: fake[side][k] for k in ("index", "document", "path")}
    with pytest.raises(ProofError, match=r"not adjacent|sort"):
        verify_proof(fake)
    with pytest.raises(ProofError, match="hex SHA-256"):
        prove(manifest, "xyz")


def _charter(*args):
    return subprocess.run(
        [sys.executable, "-m", "charter.cli.main", "pretrain", *args],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def test_cli_verify_prove_and_check(tmp_path):
    mix = tmp_path / "mix"
    mix.mkdir()
    rows = [{"key": str(i), "id": f"d{i}", "text": t, "sha256": doc_sha256(t)}
            for i, t in enumerate(TEXTS)]  # fmt: skip
    (mix / "docs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = build_manifest(r["sha256"] for r in rows)
    (mix / "manifest.json").write_text(json.dumps(manifest))
    ok = _charter("verify", str(mix), "--json")
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["root"] == manifest["root"]

    inside = _charter("prove", str(mix), "d4", "--out", str(tmp_path / "p.json"))
    assert inside.returncode == 0 and "IN the mix" in inside.stdout
    outsider = tmp_path / "outsider.txt"
    outsider.write_text("a text that was never in the mix\n")
    absent = _charter("prove", str(mix), str(outsider), "--json")
    assert json.loads(absent.stdout)["type"] == "non-membership"
    assert _charter("check-proof", str(tmp_path / "p.json")).returncode == 0
    wrong = _charter("check-proof", str(tmp_path / "p.json"), "--root", "11" * 32)
    assert wrong.returncode == VerificationError.exit_code
    assert wrong.stderr.startswith("error:") and "Traceback" not in wrong.stderr
    held = tmp_path / "d4.txt"
    held.write_text(TEXTS[4])
    proof = str(tmp_path / "p.json")
    assert _charter("check-proof", proof, "--document", str(held)).returncode == 0
    held.write_text(TEXTS[4] + " (edited)")
    edited = _charter("check-proof", proof, "--document", str(held))
    assert edited.returncode == VerificationError.exit_code and "Traceback" not in edited.stderr

    manifest["documents"][0], manifest["documents"][1] = (
        manifest["documents"][1], manifest["documents"][0],
    )  # fmt: skip
    (mix / "manifest.json").write_text(json.dumps(manifest))
    bad = _charter("verify", str(mix))
    assert bad.returncode == VerificationError.exit_code and "ascending" in bad.stderr
    unknown = _charter("prove", str(mix), "nope")
    assert unknown.returncode == 2 and "not a file" in unknown.stderr


def test_a_tampered_document_is_caught_against_its_proof(manifest):
    # The check compares the document the verifier holds with the proven leaf,
    # not the proof's own field with itself (which could never fail).
    stored = TEXTS[5]
    proof = prove(manifest, doc_sha256(stored))
    verify_proof(proof, manifest["root"], document=stored)
    with pytest.raises(ProofError, match="was changed"):
        verify_proof(proof, manifest["root"], document=stored + " (edited)")


def test_an_inclusion_proof_whose_leaf_is_another_document_fails(manifest):
    # The path is valid for leaf 4, but the proof claims it includes another document.
    other = doc_sha256(TEXTS[7])
    proof = prove(manifest, manifest["documents"][4])
    assert proof["leaf"] == proof["document"] == manifest["documents"][4]
    forged = {**proof, "document": other}
    with pytest.raises(ProofError, match="holds document"):
        verify_proof(forged, manifest["root"])
    with pytest.raises(ProofError):
        verify_proof(forged, manifest["root"], document=TEXTS[7])
