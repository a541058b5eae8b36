/**
 * The byte-level BPE tokenizer (docs/method.md §2 "Tokenizer"): ids 0..255 are bytes, then our learned
 * merges (src/data/bpe_train.ts), and `<|endoftext|>` is the last id (2047 by default).
 *
 * Encoding and decoding are js-tiktoken's, fed our rank table; this module trains, validates,
 * saves and loads that table. A tokenizer's name is derived from its contents (`bpe2048-1a2b3c4d`),
 * so a checkpoint can tell whether it was trained with the same tokenizer.
 */
import { Tiktoken } from "js-tiktoken/lite";
import { UserError } from "../errors.ts";
import { countPretokens, learnMerges, PAT_STR, rankTableProblem } from "./bpe_train.ts";
import { corpusStream, TRAIN_SEED } from "./corpus/index.ts";
import { takeChars } from "./take_chars.ts";
import defaultJson from "./tokenizer_default.json" with { type: "json" };

/** The end-of-text special token (joins documents; always the last id). */
export const EOT_TOKEN = "<|endoftext|>";
/** Vocabulary size of the default tokenizer. */
export const DEFAULT_VOCAB = 2048;
/** Characters of corpusStream(TRAIN_SEED) the default tokenizer is trained on. */
export const DEFAULT_TRAIN_CHARS = 4_000_000;
const MAX_VOCAB = 1 << 20;
/** Pre-tokens memoised by encode() before the memo is cleared (bounds its memory). */
const MEMO_SIZE = 1 << 18;
/**
 * Pre-tokens longer than this (in bytes) are merged by bytePairMerge below, in O(n log n):
 * js-tiktoken's merge is quadratic, and a run of 5,000 spaces (one pre-token) took seconds.
 */
const LONG_PIECE = 256;

/** A binary min-heap of [rank, start, version] by rank, then start (the leftmost pair first). */
class PairHeap {
  #a: [number, number, number][] = [];
  get size(): number {
    return this.#a.length;
  }
  #less(i: number, j: number): boolean {
    const x = this.#a[i], y = this.#a[j];
    return x[0] < y[0] || (x[0] === y[0] && x[1] < y[1]);
  }
  push(e: [number, number, number]): void {
    const a = this.#a;
    a.push(e);
    for (let i = a.length - 1; i > 0;) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      [a[i], a[p]] = [a[p], a[i]];
      i = p;
    }
  }
  pop(): [number, number, number] {
    const a = this.#a, top = a[0], last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      for (let i = 0;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < a.length && this.#less(l, m)) m = l;
        if (r < a.length && this.#less(r, m)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}

function toBase64(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return btoa(s);
}

function fromBase64(s: string): Uint8Array | null {
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    return null;
  }
  const b = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return toBase64(b) === s ? b : null;
}

/** FNV-1a 32-bit of the pre-split pattern and the length-prefixed tokens, as 8 hex digits. */
function contentHash(tokens: readonly Uint8Array[], pat: string): string {
  let h = 0x811C9DC5;
  const mix = (x: number) => h = Math.imul(h ^ (x & 0xFF), 0x01000193);
  for (let i = 0; i < pat.length; i++) {
    mix(pat.charCodeAt(i));
    mix(pat.charCodeAt(i) >> 8);
  }
  for (const t of tokens) {
    mix(t.length);
    for (const x of t) mix(x);
  }
  return (h >>> 0).toString(16).padStart(8, "0");
}

export class Tokenizer {
  /** Number of ids: the byte and merge tokens, then `<|endoftext|>`. */
  readonly vocabSize: number;
  /** Id of `<|endoftext|>` (= vocabSize - 1). */
  readonly eot: number;
  /** `bpe<vocab>-<hash of contents>`. */
  readonly name: string;
  readonly patStr: string;
  #tokens: readonly Uint8Array[];
  #tik: Tiktoken;
  #split: RegExp;
  #whole: RegExp;
  /** Pre-token → ids memo: BPE of a pre-token does not depend on its context. */
  #memo = new Map<string, number[]>();
  /** Token bytes (as a latin-1 string) → rank, for bytePairMerge; built on first use. */
  #rankOf: Map<string, number> | null = null;
  #maxTokenBytes = 0;

  /** `tokens[id]` = bytes of id, for ids below the eot; must already be a valid rank table. */
  private constructor(tokens: Uint8Array[], patStr: string) {
    this.#tokens = tokens;
    this.patStr = patStr;
    this.#split = new RegExp(patStr, "gu");
    this.#whole = new RegExp(patStr, "u");
    this.eot = tokens.length;
    this.vocabSize = tokens.length + 1;
    this.name = `bpe${this.vocabSize}-${contentHash(tokens, patStr)}`;
    // js-tiktoken's rank format: lines "<ignored> <first rank> <base64 token> <base64 token> ...".
    this.#tik = new Tiktoken({
      pat_str: patStr,
      special_tokens: { [EOT_TOKEN]: this.eot },
      bpe_ranks: `! 0 ${tokens.map(toBase64).join(" ")}`,
    });
  }

  /**
   * Trains a tokenizer of `vocabSize` ids (256 bytes, vocabSize - 257 merges, eot) on `texts`.
   * Deterministic: the same texts give the same tokenizer.
   */
  static train(texts: Iterable<string>, vocabSize: number): Tokenizer {
    if (!Number.isInteger(vocabSize) || vocabSize < 257 || vocabSize > MAX_VOCAB) {
      throw new UserError(`tokenizer: vocab size must be an integer in 257..${MAX_VOCAB}`);
    }
    const counts = new Map<string, number>();
    for (const t of texts) countPretokens(t, counts, PAT_STR);
    const merged = learnMerges(counts, vocabSize - 257);
    if (merged.length < vocabSize - 257) {
      throw new UserError(
        `tokenizer: the training text allows only ${merged.length} merges, ` +
          `${vocabSize - 257} needed for vocab ${vocabSize}; train on more text`,
      );
    }
    const bytes = Array.from({ length: 256 }, (_, b) => Uint8Array.of(b));
    return new Tokenizer([...bytes, ...merged], PAT_STR);
  }

  /**
   * A tokenizer from another program's rank table: `tokens[rank]` = that token's bytes (256
   * single bytes in any order, then merges of lower ranks), `<|endoftext|>` after them, pre-split
   * by `patStr` (default: ours, which is also circuit_sparsity's tinypython_2k pattern).
   * Throws UserError naming the first problem.
   */
  static fromRanks(tokens: Uint8Array[], patStr: string = PAT_STR): Tokenizer {
    if (tokens.length + 1 > MAX_VOCAB) throw new UserError(`tokenizer: over ${MAX_VOCAB} tokens`);
    if (patStr !== PAT_STR) {
      throw new UserError("tokenizer: only thinwire's pre-split pattern (tinypython_2k's) is run");
    }
    const problem = rankTableProblem(tokens);
    if (problem !== null) throw new UserError(`tokenizer: ${problem}`);
    return new Tokenizer(tokens.slice(), patStr);
  }

  /** Loads a tokenizer saved by toJSON(); throws UserError naming the first problem found. */
  static fromJSON(json: unknown): Tokenizer {
    const bad = (what: string): never => {
      throw new UserError(`tokenizer file: ${what}`);
    };
    if (typeof json !== "object" || json === null || Array.isArray(json)) bad("not a JSON object");
    const j = json as Record<string, unknown>;
    const vocab = j.vocab_size;
    if (typeof vocab !== "number" || !Number.isInteger(vocab) || vocab < 257 || vocab > MAX_VOCAB) {
      bad(`vocab_size must be an integer in 257..${MAX_VOCAB}, got ${JSON.stringify(vocab)}`);
    }
    const V = vocab as number;
    if (j.eot !== V - 1) bad(`eot must be vocab_size - 1 = ${V - 1}, got ${JSON.stringify(j.eot)}`);
    if (j.eot_token !== EOT_TOKEN) bad(`eot_token must be "${EOT_TOKEN}"`);
    if (typeof j.pat_str !== "string") bad("pat_str missing");
    // Another pattern could take exponential time on some text (and hang every command that
    // encodes): only the pre-split this project trains with is run.
    if (j.pat_str !== PAT_STR) {
      bad("pat_str is not thinwire's pre-split pattern (the paper's tinypython_2k regex)");
    }
    const ranks = j.ranks;
    if (typeof ranks !== "object" || ranks === null || Array.isArray(ranks)) {
      bad("ranks must be an object {base64 bytes: rank}");
    }
    const entries = Object.entries(ranks as Record<string, unknown>);
    if (entries.length !== V - 1) bad(`ranks has ${entries.length} entries, need ${V - 1}`);
    const tokens: Uint8Array[] = new Array(V - 1);
    for (const [b64, r] of entries) {
      if (typeof r !== "number" || !Number.isInteger(r) || r < 0 || r >= V - 1) {
        bad(`rank of "${b64}" must be an integer in 0..${V - 2}, got ${JSON.stringify(r)}`);
      }
      const b = fromBase64(b64);
      if (b === null || b.length === 0) bad(`"${b64}" is not non-empty base64`);
      if (tokens[r as number] !== undefined) bad(`rank ${r} appears twice`);
      tokens[r as number] = b as Uint8Array;
    }
    const problem = rankTableProblem(tokens);
    if (problem !== null) bad(problem);
    const tok = new Tokenizer(tokens, j.pat_str as string);
    if (j.name !== tok.name) {
      bad(`name ${JSON.stringify(j.name)} does not match its contents (${tok.name}): edited file?`);
    }
    return tok;
  }

  /** Plain JSON: name, vocab_size, eot, eot_token, pat_str, ranks (base64 bytes → rank). */
  toJSON(): object {
    const ranks: Record<string, number> = {};
    this.#tokens.forEach((t, r) => ranks[toBase64(t)] = r);
    return {
      name: this.name,
      vocab_size: this.vocabSize,
      eot: this.eot,
      eot_token: EOT_TOKEN,
      pat_str: this.patStr,
      ranks,
    };
  }

  /** Token ids of `text`; a literal "<|endoftext|>" in the text is encoded as plain text. */
  encode(text: string): number[] {
    // js-tiktoken splits with the same regex, then BPEs each piece alone; memoising pieces makes
    // it ~9x faster on code. A piece that the regex would split differently on its own (never seen
    // so far) sends the whole text to js-tiktoken, so the result is always js-tiktoken's.
    const ids: number[] = [];
    this.#split.lastIndex = 0;
    for (let m = this.#split.exec(text); m !== null; m = this.#split.exec(text)) {
      const piece = m[0];
      let p = this.#memo.get(piece);
      if (p === undefined) {
        const alone = this.#whole.exec(piece);
        if (alone?.index !== 0 || alone[0].length !== piece.length) {
          return this.#tik.encode(text, [], []);
        }
        p = piece.length > LONG_PIECE / 4 && new TextEncoder().encode(piece).length > LONG_PIECE
          ? this.bytePairMerge(new TextEncoder().encode(piece))
          : this.#tik.encode(piece, [], []);
        if (this.#memo.size >= MEMO_SIZE) this.#memo.clear();
        this.#memo.set(piece, p);
      }
      for (let i = 0; i < p.length; i++) ids.push(p[i]);
    }
    return ids;
  }

  /**
   * The BPE of one pre-token's bytes, as tiktoken computes it (repeatedly merge the adjacent pair
   * whose merged bytes have the lowest rank, the leftmost on ties) with a heap instead of a scan,
   * so its cost grows as n log n rather than n².
   */
  bytePairMerge(bytes: Uint8Array): number[] {
    if (!this.#rankOf) {
      this.#rankOf = new Map();
      this.#tokens.forEach((t, r) => {
        this.#rankOf!.set(String.fromCharCode(...t), r);
        this.#maxTokenBytes = Math.max(this.#maxTokenBytes, t.length);
      });
    }
    const ranks = this.#rankOf, n = bytes.length;
    const rank = (a: number, b: number) =>
      b - a > this.#maxTokenBytes
        ? Infinity
        : ranks.get(String.fromCharCode(...bytes.subarray(a, b))) ?? Infinity;
    // Parts as a linked list by start byte: next[s] is the start of the part after s (n at the end).
    const next = Int32Array.from({ length: n }, (_, i) => i + 1);
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const alive = new Uint8Array(n).fill(1);
    const pairRank = new Float64Array(n), version = new Int32Array(n);
    const heap = new PairHeap();
    const update = (s: number) => {
      pairRank[s] = next[s] < n ? rank(s, next[next[s]]) : Infinity;
      version[s]++;
      if (pairRank[s] !== Infinity) heap.push([pairRank[s], s, version[s]]);
    };
    for (let s = 0; s < n; s++) update(s);
    while (heap.size > 0) {
      const [, s, v] = heap.pop();
      if (!alive[s] || v !== version[s]) continue;
      const t = next[s];
      alive[t] = 0;
      next[s] = next[t];
      if (next[t] < n) prev[next[t]] = s;
      update(s);
      if (prev[s] >= 0) update(prev[s]);
    }
    const ids: number[] = [];
    for (let s = 0; s < n; s = next[s]) ids.push(rank(s, next[s]));
    return ids;
  }

  /** Text of `ids`: eot gives "<|endoftext|>", unknown ids nothing, invalid UTF-8 U+FFFD. */
  decode(ids: number[]): string {
    return this.#tik.decode(ids);
  }

  /** The bytes of one id (the eot gives the UTF-8 of "<|endoftext|>"). */
  tokenBytes(id: number): Uint8Array {
    if (id === this.eot) return new TextEncoder().encode(EOT_TOKEN);
    const t = this.#tokens[id];
    if (t === undefined) throw new RangeError(`tokenBytes: id ${id} not in 0..${this.eot}`);
    return t.slice();
  }

  /** The id of `text` if it encodes to exactly one token (or is "<|endoftext|>"), else null. */
  singleToken(text: string): number | null {
    if (text === EOT_TOKEN) return this.eot;
    const ids = this.encode(text);
    return ids.length === 1 ? ids[0] : null;
  }
}

let cachedDefault: Tokenizer | undefined;

/** The committed default tokenizer (src/data/tokenizer_default.json), loaded once. */
export function loadDefaultTokenizer(): Tokenizer {
  return cachedDefault ??= Tokenizer.fromJSON(defaultJson);
}

/** The first `chars` characters (whole programs) of corpusStream(seed). */
export function corpusPrefix(seed: number, chars: number): Generator<string> {
  return takeChars(corpusStream(seed), chars);
}

/** Re-trains the default tokenizer: DEFAULT_VOCAB ids, first DEFAULT_TRAIN_CHARS of the corpus. */
export function trainDefaultTokenizer(): Tokenizer {
  return Tokenizer.train(corpusPrefix(TRAIN_SEED, DEFAULT_TRAIN_CHARS), DEFAULT_VOCAB);
}
