/**
 * Node means for mean ablation (PAPER §4): each node's activation averaged over pretraining tokens
 * (the run's own data: the embedded corpus or its --data folder), positions pooled. Sums run in
 * f64 in WASM, per node in token order, batch after batch.
 */
import { f64ToF32Scaled, rowSumF64 } from "../backend/ops/index.ts";
import { TRAIN_SEED } from "../data/corpus/index.ts";
import { corpusSource, filesSource, loadPyFiles, splitBatch } from "../data/dataset.ts";
import type { LayerActs } from "../model/block.ts";
import type { Model } from "../model/model.ts";
import type { NodeLocation } from "../model/nodes.ts";
import type { NodeMeans } from "../run/format.ts";
import type { LoadedRun } from "../run/run_dir.ts";

/** Pretraining tokens the means are taken over by default (PAPER §4 asks for ≥ 64k). */
export const MEANS_TOKENS = 65536;

/** The buffer holding each location's activation in a block's saved activations. */
export function locationBuffer(s: LayerActs, loc: NodeLocation): number {
  switch (loc) {
    case "attn.act_in":
      return s.ain;
    case "attn.q":
      return s.qkv;
    case "attn.k":
    case "attn.v":
      throw new Error("k and v follow q in the qkv buffer: read them through attn.q");
    case "attn.resid_delta":
      return s.ao;
    case "mlp.act_in":
      return s.min;
    case "mlp.post_act":
      return s.u;
    case "mlp.resid_delta":
      return s.mo;
  }
}

/** [location, buffer rows] read per layer: q, k, v as one 3·HD-row block (contiguous nodes). */
function meanBlocks(model: Model): [NodeLocation, number][] {
  const { C, M, HD } = model.d;
  return [
    ["attn.act_in", C],
    ["attn.q", 3 * HD],
    ["attn.resid_delta", C],
    ["mlp.act_in", C],
    ["mlp.post_act", M],
    ["mlp.resid_delta", C],
  ];
}

/**
 * The mean of every node over `tokens` tokens (rounded up to whole batches of the run's
 * batch×n_ctx) of the run's training stream, from its start. The model must have no ablation.
 */
export async function computeMeans(
  r: LoadedRun,
  tokens = MEANS_TOKENS,
  onBatch?: (done: number, total: number) => void,
): Promise<NodeMeans> {
  const { model, rc, tokenizer } = r;
  const t = rc.train;
  const source = t.data === "corpus"
    ? corpusSource(tokenizer, (TRAIN_SEED + t.seed) >>> 0)
    : filesSource(tokenizer, await loadPyFiles(t.data), "train", t.seed);
  const B = t.batchSize, T = rc.model.nCtx, N = B * T;
  const batches = Math.max(1, Math.ceil(tokens / N));
  const be = model.be, arena = be.arena;
  const n = model.nodes.total;
  {
    // Not a scratch scope: the first forward may allocate the model's activations in here.
    const acc = arena.allocBytes(8 * n, "node sums");
    arena.f32(acc, 2 * n).fill(0);
    // Before the forwards: their activations then end the arena, and model.releaseActs() can
    // free them (at n_ctx 1024 they are most of the memory the pruning after this needs).
    const mean = arena.tensor([n], "node means");
    const inputs = new Int32Array(N), targets = new Int32Array(N);
    for (let i = 0; i < batches; i++) {
      splitBatch(source.nextBatch(B, T), B, T, inputs, targets);
      model.forward(inputs, null, B, T);
      model.acts.layers.forEach((s, l) => {
        for (const [loc, rows] of meanBlocks(model)) {
          const off = model.nodes.offsets[l][loc];
          rowSumF64(be, { acc: acc + 8 * off, x: locationBuffer(s, loc), C: rows, N });
        }
      });
      onBatch?.(i + 1, batches);
    }
    f64ToF32Scaled(be, { out: mean.ptr, acc, n, scale: 1 / (batches * N) });
    return {
      mean: arena.view(mean).slice(),
      weightsSha256: r.weightsSha256,
      tokens: batches * N,
      data: t.data,
    };
  }
}
