/**
 * Byte-level BPE training (docs/method.md §2 "Tokenizer"): the 256 bytes are tokens 0..255, then each
 * merge adds the most frequent adjacent pair of tokens over the pre-token counts as a new token.
 *
 * Classic BPE with an incremental update: each pair remembers the words it occurs in, so a merge
 * only rewrites those words and re-counts their pairs; a lazy max-heap (stale entries skipped on
 * pop) finds the next pair. Ties go to the lexicographically smallest pair of byte strings, so the
 * result depends only on the multiset of pre-tokens. A pair whose bytes already form a token (the
 * same string reached by another split) is merged into that token without using a new rank, so
 * every rank holds distinct bytes and the table is a valid tiktoken rank table.
 *
 * Encoding is not done here: js-tiktoken encodes with the learned ranks (src/data/tokenizer.ts).
 */

/** The pre-split regex of docs/method.md §2 (JS syntax, used with the `u` flag). */
export const PAT_STR = String
  .raw`[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+`;

/** Adds the pre-tokens of `text` to `counts` (pre-token → occurrences). */
export function countPretokens(text: string, counts: Map<string, number>, pat = PAT_STR): void {
  const re = new RegExp(pat, "gu");
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    const w = m[0];
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
}

/** -1, 0, 1 as byte string x sorts before, with, after y. */
function compareBytes(x: Uint8Array, y: Uint8Array): number {
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  return x.length === y.length ? 0 : x.length < y.length ? -1 : 1;
}

/** Key of a token's bytes in the bytes → id map (one char per byte). */
function bytesKey(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

/**
 * Learns up to `nMerges` merges from pre-token counts. Returns the byte strings of the new tokens
 * in rank order (rank 256 + i); fewer than `nMerges` when every pre-token became one token.
 */
export function learnMerges(counts: Map<string, number>, nMerges: number): Uint8Array[] {
  const vocab = 256 + nMerges;
  const tok: Uint8Array[] = [];
  const idOf = new Map<string, number>();
  for (let b = 0; b < 256; b++) {
    tok.push(Uint8Array.of(b));
    idOf.set(String.fromCharCode(b), b);
  }

  // Words as token id arrays, merged in place; len[] is the live length.
  const enc = new TextEncoder();
  const words: Int32Array[] = [];
  const len: number[] = [];
  const cnt: number[] = [];
  for (const [w, c] of counts) {
    const b = enc.encode(w);
    if (b.length < 2) continue;
    words.push(Int32Array.from(b));
    len.push(b.length);
    cnt.push(c);
  }
  const visited = new Int32Array(words.length).fill(-1);

  const pairCount = new Map<number, number>();
  const pairWords = new Map<number, number[]>();
  const key = (a: number, b: number) => a * vocab + b;
  const addWord = (key: number, w: number) => {
    const list = pairWords.get(key);
    if (list === undefined) pairWords.set(key, [w]);
    else if (list[list.length - 1] !== w) list.push(w);
  };
  for (let w = 0; w < words.length; w++) {
    const s = words[w];
    for (let i = 0; i + 1 < len[w]; i++) {
      const k = key(s[i], s[i + 1]);
      pairCount.set(k, (pairCount.get(k) ?? 0) + cnt[w]);
      addWord(k, w);
    }
  }

  // Max-heap of (count, pair key); an entry is live while its count equals pairCount's.
  const hc: number[] = [];
  const hk: number[] = [];
  const before = (i: number, j: number): boolean => {
    if (hc[i] !== hc[j]) return hc[i] > hc[j];
    const a1 = Math.floor(hk[i] / vocab), a2 = Math.floor(hk[j] / vocab);
    const c = compareBytes(tok[a1], tok[a2]);
    if (c !== 0) return c < 0;
    return compareBytes(tok[hk[i] - a1 * vocab], tok[hk[j] - a2 * vocab]) < 0;
  };
  const swap = (i: number, j: number) => {
    [hc[i], hc[j]] = [hc[j], hc[i]];
    [hk[i], hk[j]] = [hk[j], hk[i]];
  };
  const push = (c: number, k: number) => {
    hc.push(c);
    hk.push(k);
    for (let i = hc.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!before(i, p)) break;
      swap(i, p);
      i = p;
    }
  };
  const pop = () => {
    const last = hc.length - 1;
    swap(0, last);
    hc.pop();
    hk.pop();
    for (let i = 0;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < hc.length && before(l, m)) m = l;
      if (r < hc.length && before(r, m)) m = r;
      if (m === i) break;
      swap(i, m);
      i = m;
    }
  };
  for (const [k, c] of pairCount) push(c, k);

  const changed = new Set<number>();
  const bump = (k: number, d: number) => {
    const c = (pairCount.get(k) ?? 0) + d;
    if (c === 0) pairCount.delete(k);
    else pairCount.set(k, c);
    changed.add(k);
  };

  let step = 0;
  while (tok.length < vocab && hc.length > 0) {
    const k = hk[0], c = hc[0];
    pop();
    if (pairCount.get(k) !== c) continue;
    const a = Math.floor(k / vocab), b = k - a * vocab;
    const bytes = new Uint8Array(tok[a].length + tok[b].length);
    bytes.set(tok[a]);
    bytes.set(tok[b], tok[a].length);
    const bkey = bytesKey(bytes);
    let t = idOf.get(bkey);
    if (t === undefined) {
      t = tok.length;
      tok.push(bytes);
      idOf.set(bkey, t);
    }
    step++;
    changed.clear();
    for (const w of pairWords.get(k) ?? []) {
      if (visited[w] === step) continue;
      visited[w] = step;
      const s = words[w], n = len[w];
      let found = false;
      for (let i = 0; i + 1 < n && !found; i++) found = s[i] === a && s[i + 1] === b;
      if (!found) continue;
      for (let i = 0; i + 1 < n; i++) bump(key(s[i], s[i + 1]), -cnt[w]);
      let j = 0;
      for (let i = 0; i < n;) {
        if (i + 1 < n && s[i] === a && s[i + 1] === b) {
          s[j++] = t;
          i += 2;
        } else s[j++] = s[i++];
      }
      len[w] = j;
      for (let i = 0; i + 1 < j; i++) {
        const k2 = key(s[i], s[i + 1]);
        bump(k2, cnt[w]);
        if (s[i] === t || s[i + 1] === t) addWord(k2, w);
      }
    }
    pairWords.delete(k);
    for (const k2 of changed) {
      const c2 = pairCount.get(k2);
      if (c2 !== undefined) push(c2, k2);
    }
  }
  return tok.slice(256);
}

/**
 * Checks that `tokens` (index = rank) is a valid byte-level rank table: ranks 0..255 are the 256
 * single bytes, all byte strings are distinct, and every longer token is the concatenation of two
 * lower-rank tokens. Returns null when valid, else a one-line reason.
 */
export function rankTableProblem(tokens: readonly Uint8Array[]): string | null {
  if (tokens.length < 256) return `only ${tokens.length} tokens, need at least the 256 bytes`;
  const rank = new Map<string, number>();
  for (let r = 0; r < tokens.length; r++) {
    const t = tokens[r];
    if (r < 256 && t.length !== 1) return `rank ${r} must be a single byte`;
    if (r >= 256 && t.length < 2) return `rank ${r} is a single byte, but bytes are ranks 0..255`;
    const k = bytesKey(t);
    if (rank.has(k)) return `ranks ${rank.get(k)} and ${r} hold the same bytes`;
    if (r >= 256) {
      let ok = false;
      for (let i = 1; i < t.length && !ok; i++) {
        const p = rank.get(bytesKey(t.subarray(0, i))), s = rank.get(bytesKey(t.subarray(i)));
        ok = p !== undefined && s !== undefined;
      }
      if (!ok) return `rank ${r} is not the concatenation of two lower-rank tokens`;
    }
    rank.set(k, r);
  }
  return null;
}
