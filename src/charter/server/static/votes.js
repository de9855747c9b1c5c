/*
 * Charter wish service: endorse/oppose buttons. Uses CharterLedger (ledger.js) and
 * Charter.loadOrCreateKey (charter.js): the same local Ed25519 key the submit page uses.
 *
 * A vote is built exactly as charter.ledger.votes.Vote: {version, origin, entry_id,
 * value (1 endorse, -1 oppose, 0 withdraw), timestamp (toISOString: milliseconds, Z),
 * voter_key, nonce}, signed with WebCrypto Ed25519 over "charter-vote-v1\n" + its
 * canonical JSON (a prefix distinct from wishes', so one signature never serves both),
 * and POSTed to /api/v1/votes. The reply's tally updates the counts.
 */
"use strict";

const CharterVotes = (() => {
  const VOTE_PREFIX = "charter-vote-v1\n";
  const utf8 = new TextEncoder();
  const { canonicalJSON, toBase64, fromBase64, toHex, randomBytes } = CharterLedger;

  function signingBytes(vote) {
    const copy = Object.assign({}, vote);
    delete copy.signature;
    return utf8.encode(VOTE_PREFIX + canonicalJSON(copy));
  }

  async function signVote(key, origin, entryId, value) {
    const vote = {
      version: 1,
      origin,
      entry_id: entryId,
      value,
      timestamp: new Date().toISOString(),
      voter_key: toBase64(key.publicRaw),
      nonce: toHex(randomBytes(16)),
    };
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, signingBytes(vote));
    vote.signature = toBase64(new Uint8Array(signature));
    return vote;
  }

  async function verifyVoteSignature(vote) {
    const key = await crypto.subtle.importKey(
      "raw", fromBase64(vote.voter_key), { name: "Ed25519" }, false, ["verify"]);
    const ok = await crypto.subtle.verify(
      { name: "Ed25519" }, key, fromBase64(vote.signature), signingBytes(vote));
    if (!ok) throw new Error("the voter's signature on this vote does not verify");
  }

  function show(box, state, text) {
    const status = box.querySelector(".vote-status");
    status.dataset.state = state;
    status.className = "vote-status " + state;
    status.textContent = text;
  }

  function setMine(box, value) {
    box.dataset.mine = String(value);
    for (const button of box.querySelectorAll("button.vote")) {
      button.setAttribute("aria-pressed", String(Number(button.dataset.value) === value));
    }
  }

  function setTally(box, tally) {
    box.querySelector("[data-count=endorse]").textContent = String(tally.endorse);
    box.querySelector("[data-count=oppose]").textContent = String(tally.oppose);
  }

  const WORDS = { "1": "Endorsed", "-1": "Opposed", "0": "Vote withdrawn" };

  async function cast(box, key, clicked) {
    // Clicking the vote already in force withdraws it (value 0).
    const value = Number(box.dataset.mine || 0) === clicked ? 0 : clicked;
    const buttons = box.querySelectorAll("button.vote");
    buttons.forEach((b) => { b.disabled = true; });
    show(box, "pending", "Signing…");
    try {
      const vote = await signVote(key, box.dataset.origin, box.dataset.entryId, value);
      const reply = await fetch(box.dataset.api + "/votes", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(vote),
      });
      const body = await reply.json().catch(() => ({}));
      if (!reply.ok) throw new Error(body.error || `the server answered ${reply.status}`);
      setTally(box, body.tally);
      setMine(box, value);
      show(box, "done", `${WORDS[String(value)]} (vote ${body.index} in the vote log).`);
    } catch (err) {
      show(box, "failed", "Not recorded: " + (err && err.message ? err.message : String(err)));
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // On a wish's own page, light up the button of the vote this browser's key has in force.
  async function markMine(box, voterKey) {
    const reply = await fetch(`${box.dataset.api}/wishes/${box.dataset.entryId}/votes?limit=1000`);
    if (!reply.ok) return;
    const body = await reply.json();
    const mine = body.votes.find((item) => item.vote.voter_key === voterKey);
    if (mine) setMine(box, mine.vote.value);
  }

  async function start() {
    const boxes = Array.from(document.querySelectorAll(".votes[data-entry-id]"));
    if (!boxes.length) return;
    if (!(window.isSecureContext && window.crypto && crypto.subtle)) {
      boxes.forEach((box) => show(box, "failed", "Voting needs HTTPS (or localhost) for WebCrypto."));
      return;
    }
    let key;
    try {
      key = await Charter.loadOrCreateKey();
    } catch (err) {
      boxes.forEach((box) => show(box, "failed", "This browser cannot make Ed25519 keys: " + err.message));
      return;
    }
    const voterKey = toBase64(key.publicRaw);
    for (const box of boxes) {
      for (const button of box.querySelectorAll("button.vote")) {
        button.addEventListener("click", () => cast(box, key, Number(button.dataset.value)));
        button.disabled = false;
      }
      box.dataset.ready = "true";
    }
    if (boxes.length === 1) await markMine(boxes[0], voterKey).catch(() => {});
  }

  return { signingBytes, signVote, verifyVoteSignature, start };
})();

document.addEventListener("DOMContentLoaded", CharterVotes.start);
