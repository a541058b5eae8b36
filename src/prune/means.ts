/**
 * Node means for mean ablation (docs/method.md §4): each node's activation averaged over pretraining tokens
 * (the run's own data: the embedded corpus or its --data folder), positions pooled. Sums run in
 * f64 in WASM, per node in token order, batch after batch.
 */
import { f64ToF32Scaled, rowSumF64 } from "../backend/ops/index.ts";
import { TRAIN_SEED } from "../data/corpus/index.ts";
import { corpusSource, filesSource, splitBatch } from "../data/dataset.ts";
import { loadPyFiles } from "../data/pyfiles.ts";
import { locationRows, LOCATIONS } from "../model/nodes.ts";
import type { NodeMeans } from "../run/format.ts";
import { type LoadedRun, readMeans, writeMeans } from "../run/run_dir.ts";
import { type OpenRun, passTokens } from "../run/open.ts";
import type { Model } from "../model/model.ts";

/** Pretraining tokens the means are taken over by default (docs/method.md §4 asks for ≥ 64k). */
export const MEANS_TOKENS = 65536;

/**
 * The mean of every node over `tokens` tokens (rounded up to whole batches of the run's
 * batch×n_ctx) of the run's training stream, from its start. The model must have no ablation.
 */
export async function computeMeans(
  r: OpenRun,
  tokens = MEANS_TOKENS,
  onBatch?: (done: number, total: number) => void,
): Promise<NodeMeans> {
  const { model, rc, tokenizer } = r;
  const t = rc.train;
  const source = t.data === "corpus"
    ? corpusSource(tokenizer, (TRAIN_SEED + t.seed) >>> 0)
    : filesSource(tokenizer, await loadPyFiles(t.data), "train", t.seed);
  const B = t.batchSize, T = rc.model.nCtx;
  const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
  const batches = Math.max(1, Math.ceil(tokens / (B * T)));
  // The training batch, in passes of fewer rows where the memory left holds fewer.
  const rowsPerPass = passTokens(r, false) / T;
  const mean = nodeMeansOf(model, B, T, batches, () => {
    splitBatch(source.nextBatch(B, T), B, T, inputs, targets);
    return inputs;
  }, { onBatch, rowsPerPass });
  return { mean, weightsSha256: r.weightsSha256, tokens: batches * B * T, data: t.data };
}

/**
 * The mean of every node over `batches` batches of B rows of T tokens, each batch `next(i)`'s
 * tokens, forwarded in passes of at most `rowsPerPass` rows (default B) (computeMeans's
 * arithmetic, for models built without a run: tests). The model must have no ablation.
 */
export function nodeMeansOf(
  model: Model,
  B: number,
  T: number,
  batches: number,
  next: (i: number) => Int32Array,
  opts: { onBatch?: (done: number, total: number) => void; rowsPerPass?: number } = {},
): Float32Array {
  const N = B * T, R = opts.rowsPerPass ?? B;
  const be = model.be, arena = be.arena;
  const n = model.nodes.total;
  // Not a scratch scope: the first forward may allocate the model's activations in here.
  const acc = arena.allocBytes(8 * n, "node sums");
  arena.f32(acc, 2 * n).fill(0);
  be.upload(acc, 8 * n);
  // Before the forwards: their activations then end the arena, and model.releaseActs() can
  // free them (at n_ctx 1024 they are most of the memory the pruning after this needs).
  const mean = arena.tensor([n], "node means");
  for (let i = 0; i < batches; i++) {
    const inputs = next(i);
    for (let r0 = 0; r0 < B; r0 += R) {
      const rows = Math.min(R, B - r0), m = rows * T;
      model.forward(inputs.subarray(r0 * T, r0 * T + m), null, rows, T);
      model.acts.layers.forEach((s, l) => {
        for (const { name } of LOCATIONS) {
          const { ptr, rows } = locationRows(s, model.d, name, m);
          rowSumF64(be, { acc: acc + 8 * model.nodes.offsets[l][name], x: ptr, C: rows, N: m });
        }
      });
    }
    opts.onBatch?.(i + 1, batches);
  }
  f64ToF32Scaled(be, { out: mean.ptr, acc, n, scale: 1 / (batches * N) });
  be.download([mean.ptr, 4 * n]);
  return arena.view(mean).slice();
}

/** Loads the cached node means or computes (and caches) them; a damaged cache is recomputed. */
export async function nodeMeans(
  r: LoadedRun,
  tokens = MEANS_TOKENS,
  onBatch?: (done: number, total: number) => void,
): Promise<{ means: NodeMeans; cached: boolean }> {
  const n = r.model.nodes.total;
  const cached = await readMeans(r.dir, n, r.weightsSha256);
  if (cached && cached.tokens >= tokens) return { means: cached, cached: true };
  const means = await computeMeans(r, tokens, onBatch);
  await writeMeans(r.dir, means);
  return { means, cached: false };
}
