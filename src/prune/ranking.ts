/**
 * Ranking the nodes (step 1 of src/prune/prune.ts). "learned": one τ per node, m = H(τ) forward,
 * the sigmoid-derivative surrogate backward, AdamW (clipped, warmup + linear decay) on task loss
 * + k_coef·Σm (+ edge_coef·Σ_edges m_i·m_j, off by default) over batches of pairs from the pruning
 * set; rank by τ. "attribution": rank by
 * |∂L/∂m| at m = 1 (gradient × (x − μ) summed over tokens), over the same pairs.
 */
import * as ops from "../backend/ops/index.ts";
import type { PromptItem } from "../eval/task_eval.ts";
import { Rng } from "../util/rng.ts";
import { graphOf } from "./edges.ts";
import type { MaskedScorer } from "./masked_scorer.ts";
import type { OnProgress, PruneSettings } from "./settings.ts";

/** A ranking of every node, best first, and the optimiser's last loss and nodes on. */
export interface Ranking {
  ranking: number[];
  loss: number;
  on: number;
  /** The last batch's task loss (without the penalty); NaN for attribution. */
  taskLoss: number;
  /** The logit scale the masks' task loss was taken at (lossScale; 1 for attribution). */
  logitScale: number;
}

/**
 * The logit scale s ≤ 1 at which the full model's mean task loss on `pool` is `setPoint` (1 when
 * it is already at or above it, or setPoint is 0): bisection on log s over [1e-4, 1], each loss
 * computed in WASM from the pool's logit differences.
 */
export function lossScale(ms: MaskedScorer, pool: readonly PromptItem[], setPoint: number): number {
  if (!(setPoint > 0)) return 1;
  const full = ms.score(pool, false);
  if (!(full.meanLoss < setPoint)) return 1;
  let lo = Math.log(1e-4), hi = 0;
  for (let i = 0; i < 40; i++) {
    const mid = (lo + hi) / 2;
    if (ms.scaledLoss(full, Math.exp(mid)) > setPoint) lo = mid;
    else hi = mid;
  }
  return Math.exp(hi);
}

/** The learned masks' ranking: τ trained on the pool (τ, its gradient and Adam moments in the arena). */
export function trainMasks(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  st: PruneSettings,
  progress?: OnProgress,
  phase = "optimise",
): Ranking {
  const { model } = ms;
  const be = model.be, arena = be.arena, n = ms.n, hp = st.hp;
  const f = (what: string) => arena.tensor([n], what).ptr;
  const tau = f("tau"), g = f("tau gradient"), am = f("tau Adam m"), av = f("tau Adam v");
  // τ = init_bias + init_noise·N(0, 1), drawn in WASM from the seed.
  ops.randnFill(be, { x: tau, n, seed: st.seed, stream: 0, std: hp.initNoise });
  const bias = arena.tensor([n], "init bias");
  arena.view(bias).fill(hp.initBias);
  be.upload(bias.ptr, 4 * n);
  ops.addInPlace(be, { x: tau, y: bias.ptr, n });
  ops.maskClampHeaviside(be, { m: ms.ablation.mask, tau, n });
  ms.maskWrittenByKernels();
  const noisy = hp.maskNoise > 0 ? f("noisy tau") : 0;
  // The edge penalty's graph of possible edges, in the arena for the kernel (ptr [n+1], idx).
  let edges: { ptr: number; idx: number; nnz: number } | null = null;
  if (hp.edgeCoef > 0) {
    const gr = graphOf(model), nnz = gr.idx.length;
    const ptr = arena.allocBytes(4 * (n + 1), "edge graph pointers");
    const idx = arena.allocBytes(4 * Math.max(1, nnz), "edge graph neighbours");
    arena.i32(ptr, n + 1).set(gr.ptr);
    arena.i32(idx, nnz).set(gr.idx);
    be.upload(ptr, 4 * (n + 1));
    be.upload(idx, 4 * nnz);
    edges = { ptr, idx, nnz };
  }
  // Steps over which k_coef and edge_coef ramp up from 0 (0: none).
  const warm = hp.penaltyWarmup * hp.steps;
  const logitScale = lossScale(ms, pool, hp.lossSetPoint);
  const pairs = pool.length / 2;
  const order = Array.from({ length: pairs }, (_, i) => i);
  const rng = new Rng(st.seed).fork(0x4D41534B);
  let cursor = pairs;
  const batchPairs = Math.min(hp.batchPairs, pairs);
  let loss = NaN, on = 0, lastTask = NaN;
  for (let step = 0; step < hp.steps; step++) {
    const items: PromptItem[] = [];
    for (let j = 0; j < batchPairs; j++) {
      if (cursor >= pairs) {
        rng.shuffle(order);
        cursor = 0;
      }
      const p = order[cursor++];
      items.push(pool[2 * p], pool[2 * p + 1]);
    }
    if (noisy) {
      ops.randnFill(be, {
        x: noisy,
        n,
        seed: st.seed,
        stream: 1 + step,
        std: hp.maskNoise * (1 - step / hp.steps),
      });
      ops.addInPlace(be, { x: noisy, y: tau, n });
      ops.maskClampHeaviside(be, { m: ms.ablation.mask, tau: noisy, n });
      ms.maskWrittenByKernels();
    }
    const taskLoss = ms.maskGradient(items, { logitScale });
    const ramp = warm > 0 ? Math.min(1, (step + 1) / warm) : 1;
    const kcoef = hp.kCoef * ramp;
    // Edge penalty: each node's gradient gains edge_coef × its neighbours on (the mask the
    // forward used, noise included).
    if (edges) {
      ops.maskEdgeGrad(be, {
        dm: ms.ablation.dmask,
        m: ms.ablation.mask,
        ...edges,
        n,
        ecoef: hp.edgeCoef * ramp,
      });
    }
    ops.maskSurrogateGrad(be, {
      g,
      tau,
      dm: ms.ablation.dmask,
      n,
      temperature: hp.temperature,
      kcoef,
    });
    ops.clipByNorm(be, { x: g, n, clip: hp.clip });
    const lr = ops.lrSchedule(be, {
      step,
      total: hp.steps,
      warmupFrac: hp.warmupFrac,
      base: hp.lr,
      pfracTarget: 1,
      pfracNow: 1,
    });
    ops.decayWeights(be, { param: tau, n, factor: 1 - lr * hp.weightDecay });
    ops.adamStep(be, {
      param: tau,
      grad: g,
      m: am,
      v: av,
      n,
      lr,
      beta1: hp.beta1,
      beta2: hp.beta2,
      eps: 1e-8,
      t: step + 1,
    });
    ops.maskClampHeaviside(be, { m: ms.ablation.mask, tau, n });
    ms.maskWrittenByKernels();
    on = ops.countNonzero(be, { w: ms.ablation.mask, n });
    loss = taskLoss + kcoef * on;
    lastTask = taskLoss;
    progress?.(phase, step + 1, hp.steps, { loss: taskLoss.toFixed(3), nodes: String(on) });
  }
  be.download([tau, 4 * n]);
  const t = arena.f32(tau, n).slice();
  const ranking = Array.from({ length: n }, (_, i) => i).sort((a, b) => t[b] - t[a] || a - b);
  return { ranking, loss, on, taskLoss: lastTask, logitScale };
}

/**
 * ∂(mean task loss over items)/∂m at the current mask, in chunks of `chunkPairs` pairs, with the
 * loss taken on the logits × logitScale: −g is the first-order estimate of each node's ablation
 * effect (gradient × (x − μ) summed over tokens).
 */
function maskAttribution(
  ms: MaskedScorer,
  items: readonly PromptItem[],
  chunkPairs: number,
  logitScale: number,
  onChunk?: (done: number, total: number) => void,
): Float32Array {
  const chunk = 2 * chunkPairs;
  const chunks = Math.ceil(items.length / chunk);
  for (let c = 0; c < chunks; c++) {
    ms.maskGradient(items.slice(c * chunk, (c + 1) * chunk), {
      scale: 1 / items.length,
      accumulate: c > 0,
      logitScale,
    });
    onChunk?.(c + 1, chunks);
  }
  ms.model.be.download([ms.ablation.dmask, 4 * ms.n]);
  return ms.model.be.arena.f32(ms.ablation.dmask, ms.n).slice();
}

/** Orders node ids by |g|, largest first (ties by id). */
function byAttribution(g: Float32Array): (a: number, b: number) => number {
  return (a, b) => Math.abs(g[b]) - Math.abs(g[a]) || a - b;
}

/** Nodes ranked by |∂L/∂m| at m = 1 (attribution: gradient × (x − μ) summed over tokens). */
export function attributionRanking(
  ms: MaskedScorer,
  pool: readonly PromptItem[],
  st: PruneSettings,
  progress?: OnProgress,
): Ranking {
  const n = ms.n;
  ms.mask.fill(1);
  const g = maskAttribution(
    ms,
    pool,
    st.hp.batchPairs,
    1,
    (done, total) => progress?.("attribute", done, total),
  );
  const ranking = Array.from({ length: n }, (_, i) => i).sort(byAttribution(g));
  return { ranking, loss: NaN, on: n, taskLoss: NaN, logitScale: 1 };
}

/**
 * The ranking with its top k re-ordered by |∂L/∂m| measured with only those k kept (the rest
 * unchanged). Adam moves every τ by about lr a step whatever its gradient's size, so a node the
 * task cannot do without — whose rare switch-offs fill its second moment with large gradients —
 * ends with a τ just above zero, last of the nodes left on, and the bisection can then cut nothing
 * above it (docs/prune.md, "What the τ ranking misses: re-ranking"). Its attribution inside the
 * circuit is among the largest.
 */
export function rerankTop(
  ms: MaskedScorer,
  items: readonly PromptItem[],
  ranking: readonly number[],
  k: number,
  chunkPairs: number,
  logitScale: number,
): number[] {
  const top = ranking.slice(0, k);
  ms.keepOnly(top);
  const g = maskAttribution(ms, items, chunkPairs, logitScale);
  top.sort(byAttribution(g));
  return [...top, ...ranking.slice(k)];
}
