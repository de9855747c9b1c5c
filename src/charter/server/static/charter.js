/*
 * Charter wish service, the pages' behaviour. Uses CharterLedger (ledger.js).
 *
 * - The submit page (#wish-form) keeps an Ed25519 key, a salt and a private
 *   identity in localStorage, builds the entry exactly as the server's
 *   charter.ledger.entry.Entry (LF line ends, NFC text; canonical JSON), signs it with
 *   WebCrypto and POSTs the signed entry.
 * - The entry page (#proof-status) checks, trusting only the log's verifier key:
 *   the entry's leaf hash equals its id, the author's signature, that the page
 *   shows the verified text, the checkpoint note's signature, and the inclusion
 *   proof against the checkpoint's root.
 *
 * User text is only ever placed with textContent, never as HTML.
 */
"use strict";

const Charter = (() => {
  const {
    concat, toBase64, fromBase64Url, toHex, fromHex, randomBytes, sha256, canonicalBytes,
    signingBytes, leafHash, verifyInclusion, verifyCheckpoint, verifyEntrySignature,
  } = CharterLedger;
  const utf8 = new TextEncoder();
  const STORE = { key: "charter.key", salt: "charter.salt", identity: "charter.identity" };

  async function getJSON(url) {
    const reply = await fetch(url, { headers: { Accept: "application/json" } });
    const body = await reply.json().catch(() => ({}));
    if (!reply.ok) throw new Error(body.error || `${url} answered ${reply.status}`);
    return body;
  }

  // ---- the entry page --------------------------------------------------------------
  // The server renders the page and serves the JSON; make sure they tell the same story.
  function checkShownText(found) {
    const shown = (id) => {
      const el = document.getElementById(id);
      return el ? el.textContent : null;
    };
    const wish = found.entry.wish;
    if (shown("scenario") !== wish.scenario || shown("behaviour") !== wish.behaviour ||
        shown("rationale") !== (wish.rationale ?? null) || shown("entry-index") !== String(found.index)) {
      throw new Error("the page shows other text than the entry that was verified");
    }
  }

  async function checkEntryPage(box) {
    const status = document.getElementById("proof-status");
    const detail = document.getElementById("proof-detail");
    const api = box.dataset.api;
    const id = box.dataset.entryId;
    const show = (state, text) => {
      status.dataset.state = state;
      status.className = "status " + state;
      status.textContent = text;
    };
    try {
      const found = await getJSON(`${api}/wishes/${encodeURIComponent(id)}`);
      const leaf = await leafHash(canonicalBytes(found.entry));
      if (toHex(leaf) !== id) throw new Error("the entry's content does not hash to its id");
      await verifyEntrySignature(found.entry);
      checkShownText(found);
      const cp = await getJSON(`${api}/checkpoint`);
      const checkpoint = await verifyCheckpoint(cp.note, box.dataset.verifier);
      if (checkpoint.origin !== box.dataset.origin) {
        throw new Error(`the checkpoint is for log ${checkpoint.origin}, not ${box.dataset.origin}`);
      }
      const proof = await getJSON(`${api}/proof/inclusion?index=${found.index}&size=${checkpoint.size}`);
      await verifyInclusion(found.index, checkpoint.size, leaf, proof.proof.map(fromHex), checkpoint.root);
      show("verified", `verified: entry ${found.index} is in the log at tree size ${checkpoint.size}`);
      detail.textContent =
        `Checked in this browser: the content hashes to the id, the author's Ed25519 signature, ` +
        `the checkpoint's signature by ${box.dataset.verifier.split("+")[0]}, and an inclusion ` +
        `proof of ${proof.proof.length} hashes to root ${toHex(checkpoint.root)}.`;
    } catch (err) {
      show("failed", "NOT verified: " + (err && err.message ? err.message : String(err)));
    }
  }

  // ---- the submit page -------------------------------------------------------------
  async function loadOrCreateKey() {
    const saved = localStorage.getItem(STORE.key);
    if (saved) {
      const jwk = JSON.parse(saved);
      const privateKey = await crypto.subtle.importKey("jwk", jwk, { name: "Ed25519" }, true, ["sign"]);
      return { privateKey, publicRaw: fromBase64Url(jwk.x) };
    }
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const jwk = await crypto.subtle.exportKey("jwk", pair.privateKey);
    localStorage.setItem(STORE.key, JSON.stringify(jwk));
    return { privateKey: pair.privateKey, publicRaw: new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)) };
  }

  function salt() {
    let value = localStorage.getItem(STORE.salt);
    if (!value) {
      value = toHex(randomBytes(32));
      localStorage.setItem(STORE.salt, value);
    }
    return fromHex(value);
  }

  // The identity never leaves the browser; without one, a random secret stands in
  // so the commitment still hides (and later proves) who wrote the wish.
  function identity(typed) {
    if (typed) {
      localStorage.setItem(STORE.identity, typed);
      return typed;
    }
    let value = localStorage.getItem(STORE.identity);
    if (!value) {
      value = toHex(randomBytes(32));
      localStorage.setItem(STORE.identity, value);
    }
    return value;
  }

  async function commitAuthor(who, saltBytes) {
    return toHex(await sha256(concat(saltBytes, utf8.encode(who.normalize("NFC")))));
  }

  // As charter.ledger.text.normalise_text does before the CLI signs: CRLF and lone CR to
  // LF, then NFC (Unicode UAX #15). Signatures cover the bytes, so the ledger refuses text
  // that is not normalised instead of changing it; normalising here keeps both sides equal.
  function normaliseText(value) {
    return value.replace(/\r\n?/g, "\n").normalize("NFC");
  }

  function text(form, name) {
    return normaliseText(form.elements[name].value.trim());
  }

  function amount(form, name) {
    const raw = form.elements[name].value.trim();
    if (!/^[0-9]+$/.test(raw)) throw new Error(`${name} must be a whole number of credits`);
    return Number(raw);
  }

  async function buildEntry(form, key) {
    const tags = text(form, "tags").split(",").map((t) => t.trim()).filter((t) => t.length > 0);
    const wish = {
      scenario: text(form, "scenario"),
      behaviour: text(form, "behaviour"),
      rationale: text(form, "rationale") || null,
      tags,
      language: text(form, "language") || "en",
      parent: text(form, "parent").toLowerCase() || null,
    };
    const entry = {
      version: 1,
      wish,
      fee: amount(form, "fee"),
      burn: amount(form, "burn"),
      timestamp: new Date().toISOString(),
      author_commitment: await commitAuthor(identity(text(form, "identity")), salt()),
      author_key: toBase64(key.publicRaw),
      nonce: toHex(randomBytes(16)),
    };
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, key.privateKey, signingBytes(entry));
    entry.signature = toBase64(new Uint8Array(signature));
    return entry;
  }

  // The same JSON as `charter ledger author-key` writes, so the pseudonym also works
  // from the command line and the identity and salt can later open the commitment.
  function backup() {
    const jwk = JSON.parse(localStorage.getItem(STORE.key));
    return { seed: toBase64(fromBase64Url(jwk.d)), salt: toBase64(salt()), identity: identity("") };
  }

  function saveBackup() {
    const blob = new Blob([JSON.stringify(backup())], { type: "application/json" });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = "charter-author-key.json";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 1000);
  }

  async function setUpSubmitPage(form) {
    const status = document.getElementById("submit-status");
    const keyText = document.getElementById("author-key");
    const show = (state, message, link) => {
      status.dataset.state = state;
      status.className = "status " + state;
      status.textContent = message;
      if (link) {
        const a = document.createElement("a");
        a.href = link.href;
        a.id = "submitted-link";
        a.textContent = link.text;
        status.append(" ", a);
      }
    };
    let key;
    try {
      key = await loadOrCreateKey();
      keyText.textContent = toBase64(key.publicRaw);
      const savedIdentity = localStorage.getItem(STORE.identity);
      if (savedIdentity && !/^[0-9a-f]{64}$/.test(savedIdentity)) form.elements.identity.value = savedIdentity;
      form.querySelector("button[type=submit]").disabled = false;
    } catch (err) {
      show("failed", "This browser cannot make Ed25519 keys (WebCrypto): " + err.message);
      return;
    }
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      show("pending", "Signing and submitting…");
      try {
        const entry = await buildEntry(form, key);
        const reply = await fetch(form.dataset.api + "/wishes", {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(entry),
        });
        const body = await reply.json().catch(() => ({}));
        if (!reply.ok) throw new Error(body.error || `the server answered ${reply.status}`);
        show("done", `Recorded as entry ${body.index}.`, { href: `${form.dataset.pages}/${body.id}`, text: "See it and its proof" });
      } catch (err) {
        show("failed", "Not recorded: " + (err && err.message ? err.message : String(err)));
      } finally {
        button.disabled = false;
      }
    });
    document.getElementById("save-key").addEventListener("click", () => saveBackup());
    document.getElementById("new-key").addEventListener("click", async () => {
      // A new pseudonym gets a new salt, and a new random identity unless the person
      // typed one: with the old salt, the same identity would publish the same
      // author_commitment under both keys and link them (save a backup first).
      localStorage.removeItem(STORE.key);
      localStorage.removeItem(STORE.salt);
      const typed = localStorage.getItem(STORE.identity);
      if (!typed || /^[0-9a-f]{64}$/.test(typed)) localStorage.removeItem(STORE.identity);
      key = await loadOrCreateKey();
      keyText.textContent = toBase64(key.publicRaw);
    });
  }

  // Browsers expose WebCrypto only to secure contexts (HTTPS, or http://localhost).
  function insecureReason() {
    if (window.isSecureContext && window.crypto && crypto.subtle) return null;
    return "this page is not served over HTTPS, so the browser offers no WebCrypto; " +
      "open it over HTTPS (or on localhost)";
  }

  function start() {
    const reason = insecureReason();
    const form = document.getElementById("wish-form");
    const box = document.getElementById("proof");
    if (reason) {
      const status = document.getElementById(form ? "submit-status" : "proof-status");
      if (status) {
        status.dataset.state = "failed";
        status.className = "status failed";
        status.textContent = (form ? "Cannot sign here: " : "NOT verified: ") + reason;
      }
      return;
    }
    if (form) setUpSubmitPage(form);
    if (box) checkEntryPage(box);
  }

  // The ledger functions too, so one name reaches everything (handy in the console).
  return { ...CharterLedger, start, commitAuthor, backup, loadOrCreateKey, normaliseText };
})();

document.addEventListener("DOMContentLoaded", Charter.start);
