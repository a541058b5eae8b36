/**
 * Logits and named activations of many rows (prompts or token ids) in one safetensors file:
 * `logits --batch`. Rows run B at a time through one padded forward (rows of similar length
 * together, as the task scorer batches prompts); attention is causal, so the padding after a row
 * cannot change its positions, and each row's values are bit for bit those of the one-prompt
 * path (src/export/activations.ts; tests/logits_batch_test.ts checks it).
 *
 * R rows, T = the longest row's length (at most n_ctx), shapes as activations.ts's with the row
 * axis first; positions past a row's length hold 0 (and -1 in `tokens`):
 *   tokens                [R, T]        the ids (exact in f32: ids < 2^24)
 *   lengths               [R]           tokens per row
 *   truncated             [R]           tokens cut from the row's left to fit n_ctx
 *   logits                [R, T, V]
 *   {i}.resid_in, …       [R, T, width] every hook of activations.ts
 *   {i}.attn.pattern      [R, H, T, T]  only with `patterns` (R·L·H·T² floats: often the bulk)
 *
 * The file is written in place, row by row, into a temporary file beside the output, then
 * renamed: memory stays at one batch whatever the number of rows.
 */
import type { Model } from "../model/model.ts";
import { safetensorsHeader } from "../model/safetensors.ts";
import { removeQuietly, withCleanup } from "../util/cleanup.ts";
import { hookBuffers } from "./activations.ts";
import type { BatchRow } from "./batch_rows.ts";

/** The safetensors metadata "format" of a batch file. */
export const BATCH_FORMAT = "thinwire-activations-batch-1";

/** One tensor of the output. */
export interface BatchTensor {
  name: string;
  shape: number[];
}

/** The output file's tensors, in file order, and its size. */
export interface BatchLayout {
  R: number;
  /** Padded row length: the longest row's. */
  T: number;
  tensors: BatchTensor[];
  /** Size of the file in bytes (header included). */
  bytes: number;
  /** Bytes per row: bytes = header + R · rowBytes. */
  rowBytes: number;
  /** What the attention patterns add to `bytes` (0 without them). */
  patternBytes: number;
}

/** The layout of the file for `rows` of `model`; `patterns`: include the attention patterns. */
export function batchLayout(
  model: Model,
  rows: readonly BatchRow[],
  patterns: boolean,
): BatchLayout {
  const R = rows.length, T = Math.max(...rows.map((r) => r.ids.length));
  const { V, H } = model.d;
  // The hooks' names and widths; the buffers' addresses are the next forward's business.
  model.prepare(1, 1);
  const hooks = hookBuffers(model);
  const tensors: BatchTensor[] = [
    { name: "tokens", shape: [R, T] },
    { name: "lengths", shape: [R] },
    { name: "truncated", shape: [R] },
    { name: "logits", shape: [R, T, V] },
    ...hooks.hooks.map((h) => ({ name: h.name, shape: [R, T, h.rows] })),
  ];
  const pats = hooks.patterns.map((p) => ({ name: p.name, shape: [R, H, T, T] }));
  if (patterns) tensors.push(...pats);
  const data = tensors.reduce((s, t) => s + t.shape.reduce((a, b) => a * b, 1) * 4, 0);
  const bytes = safetensorsHeader(tensors, metadata(R)).bytes.length + data;
  const patternBytes = patterns ? pats.length * R * H * T * T * 4 : 0;
  return { R, T, tensors, bytes, rowBytes: data / R, patternBytes };
}

function metadata(R: number): Record<string, string> {
  return { format: BATCH_FORMAT, rows: String(R) };
}

export interface BatchOptions {
  /** Include the attention patterns. */
  patterns: boolean;
  /** Rows per forward are chosen so that B·T stays at most this (at least one row). */
  tokensPerBatch: number;
  /** Called after each forward with the rows done so far. */
  onRows?: (done: number) => void;
}

/**
 * Runs every row through `model` and writes the file of batchLayout to `path` (atomically: a
 * temporary file beside it, removed on any failure or Ctrl+C, then renamed). Returns the layout.
 * File errors are thrown as they come; the caller words them.
 */
export async function writeBatchActivations(
  model: Model,
  rows: readonly BatchRow[],
  eot: number,
  path: string,
  opts: BatchOptions,
): Promise<BatchLayout> {
  const layout = batchLayout(model, rows, opts.patterns);
  const { R, T, tensors } = layout;
  const header = safetensorsHeader(tensors, metadata(R));
  const base = new Map(tensors.map((t, i) => [t.name, header.bytes.length + header.offsets[i]]));
  const tmp = `${path}.${Deno.pid}.tmp`;
  await withCleanup(() => removeQuietly(tmp), async () => {
    const file = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      // The full size first: what no row writes (the padding) reads as zeros.
      await file.truncate(header.bytes.length + header.dataBytes);
      const put = (at: number, data: Float32Array | Uint8Array) => {
        file.seekSync(at, Deno.SeekMode.Start);
        const b = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
        for (let off = 0; off < b.length;) off += file.writeSync(b.subarray(off));
      };
      put(0, header.bytes);
      const tokens = new Float32Array(R * T).fill(-1);
      rows.forEach((r, i) => tokens.set(r.ids, i * T));
      put(base.get("tokens")!, tokens);
      put(base.get("lengths")!, Float32Array.from(rows, (r) => r.ids.length));
      put(base.get("truncated")!, Float32Array.from(rows, (r) => r.truncated));

      const rowBytes = new Map(
        tensors.map((t) => [t.name, t.shape.slice(1).reduce((a, b) => a * b, 1) * 4]),
      );
      let done = 0;
      const scratch = { buf: new Float32Array(0) };
      for (const batch of batches(rows, opts.tokensPerBatch)) {
        runBatch(model, rows, batch, eot, opts.patterns, T, scratch, (name, row, data) => {
          put(base.get(name)! + row * rowBytes.get(name)!, data);
        });
        done += batch.rows.length;
        opts.onRows?.(done);
        // A turn of the event loop per batch, so Ctrl+C is handled within one batch.
        await new Promise((r) => setTimeout(r, 0));
      }
      await file.sync();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  });
  return layout;
}

/** Rows (indices into the caller's list) that go through one forward, `T` tokens each. */
interface Batch {
  rows: number[];
  T: number;
}

/** Rows sorted by length (stable), cut into batches of at most `tokensPerBatch` B·T tokens. */
function* batches(rows: readonly BatchRow[], tokensPerBatch: number): Generator<Batch> {
  const order = rows.map((_, i) => i).sort((a, b) => rows[a].ids.length - rows[b].ids.length);
  for (let start = 0; start < order.length;) {
    let end = start + 1;
    while (
      end < order.length && (end + 1 - start) * rows[order[end]].ids.length <= tokensPerBatch
    ) {
      end++;
    }
    yield { rows: order.slice(start, end), T: rows[order[end - 1]].ids.length };
    start = end;
  }
}

/**
 * One padded forward of a batch, then each row's tensors handed to `emit(name, row index, data)`
 * in layout order: `data` is the row's first `length` positions ([length, width], or [H, T, T]
 * for a pattern), to be written at the start of the row's place in the file (the positions after
 * it stay zero). `data` is only valid during the call.
 */
function runBatch(
  model: Model,
  rows: readonly BatchRow[],
  batch: Batch,
  eot: number,
  patterns: boolean,
  T: number,
  scratch: { buf: Float32Array },
  emit: (name: string, row: number, data: Float32Array) => void,
): void {
  const B = batch.rows.length, Tb = batch.T;
  const tokens = new Int32Array(B * Tb).fill(eot);
  batch.rows.forEach((i, b) => tokens.set(rows[i].ids, b * Tb));
  model.forward(tokens, null, B, Tb);
  model.downloadActs();
  const arena = model.be.arena;
  const N = B * Tb;
  const { V, H } = model.d;
  const hooks = hookBuffers(model);
  for (const f of [{ name: "logits", ptr: model.acts.logits, rows: V }, ...hooks.hooks]) {
    const w = f.rows;
    if (scratch.buf.length < w * N) scratch.buf = new Float32Array(w * N);
    const tm = tokenMajor(arena.f32(f.ptr, w * N), w, N, scratch.buf);
    batch.rows.forEach((i, b) => {
      emit(f.name, i, tm.subarray(b * Tb * w, (b * Tb + rows[i].ids.length) * w));
    });
  }
  if (!patterns) return;
  const out = new Float32Array(H * T * T);
  for (const p of hooks.patterns) {
    const src = arena.f32(p.ptr, H * B * Tb * Tb);
    batch.rows.forEach((i, b) => {
      // [H, B, Tb, Tb] → this row's [H, T, T], zero past its length.
      const len = rows[i].ids.length;
      out.fill(0);
      for (let h = 0; h < H; h++) {
        for (let q = 0; q < len; q++) {
          const from = ((h * B + b) * Tb + q) * Tb;
          out.set(src.subarray(from, from + len), (h * T + q) * T);
        }
      }
      emit(p.name, i, out);
    });
  }
}

/**
 * [w, N] feature-major → [N, w] token-major in `out` (writing in order: the faster way round in
 * JS, 3× the other on a 2048 × 512 logits buffer).
 */
function tokenMajor(src: Float32Array, w: number, N: number, out: Float32Array): Float32Array {
  for (let n = 0; n < N; n++) {
    const o = n * w;
    for (let c = 0; c < w; c++) out[o + c] = src[c * N + n];
  }
  return out.subarray(0, w * N);
}
