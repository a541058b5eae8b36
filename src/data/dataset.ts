/**
 * Training data as batches of token ids: documents (generated programs, or real .py files) are
 * encoded one at a time, each preceded by `<|endoftext|>`, and packed into one stream that is cut
 * into rows. Row r of the stream holds tokens [r·T, r·T + T] (T + 1 tokens: inputs [:T], targets
 * [1:]), so consecutive rows share one token and every next-token pair is trained on exactly once.
 *
 * Sources are deterministic from their seed and can save and restore their position, so a
 * resumed run sees exactly the batches the interrupted one would have seen.
 */
import { UserError } from "../errors.ts";
import { Rng } from "../util/rng.ts";
import { generateProgram, VAL_SEED } from "./corpus/index.ts";
import type { Tokenizer } from "./tokenizer.ts";

/** The usable Python files of a folder, as text (src/data/pyfiles.ts reads them). */
export interface PyFiles {
  /** Training files' text, in path order. */
  train: string[];
  /** Validation files' text, in path order. */
  val: string[];
  /** Files skipped as binary (a NUL byte) or not UTF-8. */
  skipped: number;
  /** Files skipped as byte-identical copies of an earlier file (in path order). */
  duplicates: number;
  /** Files skipped as empty or whitespace only. */
  empty: number;
  /** UTF-8 bytes of the kept files. */
  bytes: number;
}

/** A deterministic, resumable stream of token batches. */
export interface TokenSource {
  /** The next B rows of T + 1 tokens, row-major: [B, T + 1]. */
  nextBatch(B: number, T: number): Int32Array;
  /** The position in the stream, as plain JSON data. */
  state(): unknown;
  /** Returns to a position from state() of a source built with the same arguments. */
  restore(s: unknown): void;
}

/** A stream of documents with a JSON-able cursor that points before the next document. */
interface DocStream {
  /** Identifies the stream (kind, seed, sizes), to refuse another stream's state. */
  readonly id: string;
  next(): string;
  cursor(): number[];
  seek(c: number[]): void;
}

interface PackState {
  source: string;
  /** Cursor before the document being consumed. */
  cursor: number[];
  /** Tokens of that document already consumed (its eot prefix included). */
  pos: number;
  /** Last token of the previous row, or -1 before the first row. */
  last: number;
}

class Packer implements TokenSource {
  #docCursor: number[];
  #doc: number[] = [];
  #pos = 0;
  #last = -1;

  constructor(readonly tok: Tokenizer, readonly docs: DocStream) {
    this.#docCursor = docs.cursor();
  }

  #take(): number {
    while (this.#pos >= this.#doc.length) {
      this.#docCursor = this.docs.cursor();
      this.#doc = [this.tok.eot, ...this.tok.encode(this.docs.next())];
      this.#pos = 0;
    }
    return this.#doc[this.#pos++];
  }

  nextBatch(B: number, T: number): Int32Array {
    if (!(Number.isInteger(B) && Number.isInteger(T) && B >= 1 && T >= 1)) {
      throw new Error(`nextBatch: need integers B, T >= 1, got ${B}, ${T}`);
    }
    const out = new Int32Array(B * (T + 1));
    for (let b = 0; b < B; b++) {
      const row = b * (T + 1);
      out[row] = this.#last >= 0 ? this.#last : this.#take();
      for (let t = 1; t <= T; t++) out[row + t] = this.#take();
      this.#last = out[row + T];
    }
    return out;
  }

  state(): PackState {
    return { source: this.docs.id, cursor: [...this.#docCursor], pos: this.#pos, last: this.#last };
  }

  restore(s: unknown): void {
    const st = s as PackState;
    const ints = (x: unknown) => Array.isArray(x) && x.every((v) => Number.isInteger(v));
    if (
      typeof st !== "object" || st === null || typeof st.source !== "string" ||
      !ints(st.cursor) || !Number.isInteger(st.pos) || st.pos < 0 || !Number.isInteger(st.last)
    ) throw new UserError("resume: the data position in the checkpoint is malformed");
    if (st.source !== this.docs.id) {
      throw new UserError(`resume: checkpoint data is ${st.source}, this run's is ${this.docs.id}`);
    }
    this.docs.seek(st.cursor);
    this.#docCursor = [...st.cursor];
    this.#doc = [];
    this.#pos = 0;
    this.#last = st.last;
    if (st.pos > 0) {
      this.#take();
      if (st.pos > this.#doc.length) {
        throw new UserError("resume: the checkpoint's data position is past its document");
      }
      this.#pos = st.pos;
    }
  }
}

/**
 * corpusStream(seed), rebuilt here from its parts so that the cursor can hold the root generator's
 * state: [documents consumed, root state] restores in O(1), where re-generating and skipping would
 * cost ~1.5 ms per document. tests/dataset_test.ts checks that both streams agree.
 */
class CorpusDocs implements DocStream {
  readonly id: string;
  #root: Rng;
  #n = 0;

  constructor(readonly seed: number) {
    this.id = `corpus(seed ${seed})`;
    this.#root = new Rng(seed);
  }

  next(): string {
    return generateProgram(this.#root.fork(this.#n++));
  }

  cursor(): number[] {
    return [this.#n, this.#root.state];
  }

  seek(c: number[]): void {
    if (c.length !== 2 || c[0] < 0) {
      throw new UserError("resume: the checkpoint's corpus position is malformed");
    }
    this.#n = c[0];
    this.#root.state = c[1];
  }
}

/** Files in a fresh seeded order every epoch; cursor = [epoch, index in that epoch's order]. */
class FileDocs implements DocStream {
  readonly id: string;
  #epoch = 0;
  #i = 0;
  #order: number[] = [];

  constructor(readonly files: string[], readonly seed: number, split: string) {
    if (files.length === 0) throw new UserError(`--data: no ${split} files`);
    this.id = `files(${split}, ${files.length} files, seed ${seed})`;
    this.#shuffle();
  }

  #shuffle(): void {
    const rng = new Rng(this.seed).fork(this.#epoch);
    this.#order = rng.shuffle(Array.from(this.files, (_, i) => i));
  }

  next(): string {
    if (this.#i >= this.files.length) {
      this.#epoch++;
      this.#i = 0;
      this.#shuffle();
    }
    return this.files[this.#order[this.#i++]];
  }

  cursor(): number[] {
    return [this.#epoch, this.#i];
  }

  seek(c: number[]): void {
    if (c.length !== 2 || c[0] < 0 || c[1] < 0 || c[1] > this.files.length) {
      throw new UserError("resume: the checkpoint's file position does not fit this data");
    }
    this.#epoch = c[0];
    this.#i = c[1];
    this.#shuffle();
  }
}

/** Batches from the generated corpus, corpusStream(seed) (TRAIN_SEED or VAL_SEED). */
export function corpusSource(tok: Tokenizer, seed: number): TokenSource {
  return new Packer(tok, new CorpusDocs(seed));
}

/** Batches from real .py files of one split, reshuffled every epoch from `seed`. */
export function filesSource(
  tok: Tokenizer,
  files: PyFiles,
  split: "train" | "val",
  seed: number,
): TokenSource {
  return new Packer(tok, new FileDocs(files[split], seed, split));
}

/**
 * The validation stream: the generated corpus from VAL_SEED (files null), or the held-out .py
 * files in a fixed order.
 */
export function valSource(tok: Tokenizer, files: PyFiles | null): TokenSource {
  return files ? filesSource(tok, files, "val", 0) : corpusSource(tok, VAL_SEED);
}

/**
 * A fixed validation set: the first n batches [B, T + 1] of a fresh source, so val loss is
 * comparable across steps and runs (pass a new source built for validation).
 */
export function fixedBatches(src: TokenSource, n: number, B: number, T: number): Int32Array[] {
  return Array.from({ length: n }, () => src.nextBatch(B, T));
}

/** Splits a batch [B, T + 1] into next-token inputs and targets, [B·T] each. */
export function splitBatch(
  batch: Int32Array,
  B: number,
  T: number,
  inputs: Int32Array,
  targets: Int32Array,
): void {
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < T; i++) {
      inputs[b * T + i] = batch[b * (T + 1) + i];
      targets[b * T + i] = batch[b * (T + 1) + i + 1];
    }
  }
}
