/*
 * Charter's log formats in the browser: canonical entry JSON and verification.
 * No dependencies: WebCrypto (SHA-256, Ed25519) only. Loaded before charter.js.
 *
 * - Canonical JSON exactly as charter.ledger.entry writes it (sorted keys, no
 *   whitespace, null fields omitted) and the signed bytes "charter-wish-v1\n" + JSON.
 * - RFC 6962 section 2.1 hashing: leaf SHA-256(0x00 || data), node SHA-256(0x01 || l || r).
 * - RFC 9162 section 2.1.3.2 inclusion proof verification.
 * - C2SP signed-note (Ed25519) and tlog-checkpoint: verify a checkpoint note
 *   against the log's verifier key and read its origin, size and root.
 *
 * Every verifier throws an Error naming what failed; none returns false.
 */
"use strict";

const CharterLedger = (() => {
  const utf8 = new TextEncoder();
  const SIGNING_PREFIX = "charter-wish-v1\n";

  // ---- bytes ---------------------------------------------------------------------
  function concat(...parts) {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  function toBase64(bytes) {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s);
  }

  function fromBase64(text) {
    // Strict standard base64 (RFC 4648 section 4), as the server writes it.
    if (!/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text)) {
      throw new Error("not valid base64: " + text.slice(0, 24));
    }
    const s = atob(text);
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  }

  function fromBase64Url(text) {
    const std = text.replace(/-/g, "+").replace(/_/g, "/");
    return fromBase64(std + "=".repeat((4 - (std.length % 4)) % 4));
  }

  function toHex(bytes) {
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function fromHex(text) {
    if (!/^(?:[0-9a-f]{2})*$/.test(text)) throw new Error("not lowercase hex: " + text.slice(0, 24));
    const out = new Uint8Array(text.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(text.substr(i * 2, 2), 16);
    return out;
  }

  function randomBytes(n) {
    return crypto.getRandomValues(new Uint8Array(n));
  }

  function sameBytes(a, b) {
    return a.length === b.length && a.every((x, i) => x === b[i]);
  }

  async function sha256(bytes) {
    return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  }

  // ---- canonical JSON --------------------------------------------------------------
  // Byte for byte what Python writes with json.dumps(obj, sort_keys=True,
  // separators=(",", ":"), ensure_ascii=False): both escape only '"', '\\' and
  // U+0000..U+001F (with the same short forms and lowercase \u00xx), so
  // JSON.stringify on a well-formed string matches. Keys sort by code point,
  // as Python's str ordering does.
  function byCodePoint(a, b) {
    const x = Array.from(a, (c) => c.codePointAt(0));
    const y = Array.from(b, (c) => c.codePointAt(0));
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      if (x[i] !== y[i]) return x[i] - y[i];
    }
    return x.length - y.length;
  }

  function canonicalJSON(value) {
    if (value === null) return "null";
    switch (typeof value) {
      case "boolean":
        return value ? "true" : "false";
      case "number":
        if (!Number.isSafeInteger(value)) throw new Error("only integers are allowed, got " + value);
        return String(value);
      case "string":
        // A lone surrogate cannot be encoded as UTF-8; Python would refuse it too.
        if (/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(value)) {
          throw new Error("text holds an unpaired surrogate; it is not valid Unicode");
        }
        return JSON.stringify(value);
      case "object": {
        if (Array.isArray(value)) return "[" + value.map(canonicalJSON).join(",") + "]";
        const keys = Object.keys(value)
          .filter((k) => value[k] !== null && value[k] !== undefined)
          .sort(byCodePoint);
        return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonicalJSON(value[k])).join(",") + "}";
      }
      default:
        throw new Error("cannot encode a " + typeof value + " as canonical JSON");
    }
  }

  function withoutSignature(entry) {
    const copy = Object.assign({}, entry);
    delete copy.signature;
    return copy;
  }

  function signingBytes(entry) {
    return utf8.encode(SIGNING_PREFIX + canonicalJSON(withoutSignature(entry)));
  }

  function canonicalBytes(entry) {
    return utf8.encode(canonicalJSON(entry));
  }

  // ---- RFC 6962 / RFC 9162 ---------------------------------------------------------
  async function leafHash(data) {
    return sha256(concat(Uint8Array.of(0), data)); // RFC 6962 section 2.1: leaf prefix 0x00
  }

  async function nodeHash(left, right) {
    return sha256(concat(Uint8Array.of(1), left, right)); // interior prefix 0x01
  }

  // RFC 9162 section 2.1.3.2, step by step. Throws with the reason on failure.
  // Sizes stay below 2**53, so plain numbers with floor division replace shifts.
  async function verifyInclusion(index, size, leaf, proof, root) {
    if (!(Number.isSafeInteger(index) && Number.isSafeInteger(size) && index >= 0 && index < size)) {
      throw new Error(`index ${index} is not inside a tree of size ${size}`);
    }
    let fn = index;
    let sn = size - 1;
    let r = leaf;
    for (const p of proof) {
      if (p.length !== 32) throw new Error("a proof hash is not 32 bytes");
      if (sn === 0) throw new Error("the proof is longer than the tree is deep");
      if (fn % 2 === 1 || fn === sn) {
        r = await nodeHash(p, r);
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      } else {
        r = await nodeHash(r, p);
      }
      fn = Math.floor(fn / 2);
      sn = Math.floor(sn / 2);
    }
    if (sn !== 0) throw new Error("the proof is shorter than the tree is deep");
    if (!sameBytes(r, root)) {
      throw new Error(`the proof leads to root ${toHex(r).slice(0, 16)}…, not the checkpoint's ${toHex(root).slice(0, 16)}…`);
    }
  }

  // ---- C2SP signed-note and tlog-checkpoint ----------------------------------------
  // Verifier key: <name>+<hex key hash>+<base64(0x01 || 32-byte Ed25519 key)>;
  // key hash = first 4 bytes of SHA-256(name || "\n" || 0x01 || key).
  async function parseVerifier(text) {
    const first = text.indexOf("+");
    const second = text.indexOf("+", first + 1);
    if (first <= 0 || second < 0) throw new Error("the verifier key is not name+hash+key");
    const name = text.slice(0, first);
    const hash = text.slice(first + 1, second);
    const keyData = fromBase64(text.slice(second + 1));
    if (!/^[0-9a-f]{8}$/.test(hash)) throw new Error("the verifier key hash is not 8 hex digits");
    if (keyData.length !== 33 || keyData[0] !== 1) {
      throw new Error("the verifier key is not an Ed25519 key (type 0x01, 32 bytes)");
    }
    const computed = (await sha256(concat(utf8.encode(name + "\n"), keyData))).slice(0, 4);
    if (toHex(computed) !== hash) throw new Error("the verifier key hash does not match its key");
    const key = await crypto.subtle.importKey("raw", keyData.slice(1), { name: "Ed25519" }, false, ["verify"]);
    return { name, keyHash: computed, key };
  }

  // Returns {origin, size, root} from a note signed by the verifier's key.
  async function verifyCheckpoint(note, verifierText) {
    const verifier = await parseVerifier(verifierText);
    const split = note.lastIndexOf("\n\n");
    if (split < 0 || !note.endsWith("\n")) throw new Error("the checkpoint is not a signed note");
    const text = note.slice(0, split + 1);
    const lines = note.slice(split + 2, -1).split("\n");
    let verified = false;
    for (const line of lines) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (!m) throw new Error("a signature line of the checkpoint is malformed");
      if (m[1] !== verifier.name) continue;
      const blob = fromBase64(m[2]);
      if (blob.length !== 68 || !sameBytes(blob.slice(0, 4), verifier.keyHash)) continue;
      const ok = await crypto.subtle.verify({ name: "Ed25519" }, verifier.key, blob.slice(4), utf8.encode(text));
      if (!ok) throw new Error("the checkpoint signature does not verify with the log's key");
      verified = true;
    }
    if (!verified) throw new Error(`the checkpoint carries no signature by ${verifier.name}`);
    const body = text.slice(0, -1).split("\n");
    if (body.length < 3) throw new Error("the checkpoint lacks origin, size or root");
    if (!/^(0|[1-9][0-9]*)$/.test(body[1])) throw new Error("the checkpoint size is not a decimal number");
    const root = fromBase64(body[2]);
    if (root.length !== 32) throw new Error("the checkpoint root is not 32 bytes");
    return { origin: body[0], size: Number(body[1]), root };
  }

  // ---- entries ---------------------------------------------------------------------
  async function verifyEntrySignature(entry) {
    const key = await crypto.subtle.importKey(
      "raw", fromBase64(entry.author_key), { name: "Ed25519" }, false, ["verify"]);
    const ok = await crypto.subtle.verify(
      { name: "Ed25519" }, key, fromBase64(entry.signature), signingBytes(entry));
    if (!ok) throw new Error("the author's signature on this entry does not verify");
  }

  return {
    concat, toBase64, fromBase64, fromBase64Url, toHex, fromHex, randomBytes, sha256,
    canonicalJSON, signingBytes, canonicalBytes, leafHash, nodeHash, verifyInclusion,
    parseVerifier, verifyCheckpoint, verifyEntrySignature,
  };
})();
