/**
 * What a model needs of the WebAssembly memory (the arena: at most 2 GiB, src/backend/wasm.ts), so
 * a command refuses a model or a batch that cannot fit before it writes or computes anything,
 * with a line that says what would fit. Sizes are the allocations' own (src/model/block.ts
 * LAYER_ACTS, src/model/model.ts MODEL_ACTS), alignment and kernel scratch aside, so a refusal is
 * never wrong; a size that passes can still fail later by that margin.
 */
import { ARENA_BASE } from "../backend/arena.ts";
import { MEMORY_PAGES } from "../backend/wasm.ts";
import { dims, type ModelConfig } from "./config.ts";
import { UserError } from "../errors.ts";
import { activationBytes, type Model } from "./model.ts";
import { linearWeights, paramFloats, paramLayout } from "./params.ts";

/** Bytes the arena can hold. */
export const ARENA_BYTES = MEMORY_PAGES.maximum * 65536 - ARENA_BASE;

const GiB = 1024 ** 3;
export const formatBytes = (b: number) =>
  b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / 1024 ** 2).toFixed(0)} MiB`;

/**
 * Bytes of training `cfg` on batches of B sequences of T tokens: parameters, their gradients and
 * Adam's two moments (four f32 per parameter) and one pass's activations and their gradients;
 * with denseGradEvery R > 1 also each linear weight's kept gradient and compressed forms (one
 * f32, and an index and a value in each of two forms: 20 bytes a weight, src/train/kept_grads.ts).
 */
export function trainingBytes(cfg: ModelConfig, B: number, T: number, denseGradEvery = 1): number {
  // One layer's layout: building all of them would grow with the layer count (paramFloats).
  const lay = paramLayout({ ...cfg, nLayer: 1 });
  const p = lay.layers[0];
  const perLayer = p.cAttnW.size + p.attnProjW.size + p.fcW.size + p.mlpProjW.size;
  const kept = denseGradEvery > 1 ? 20 * (lay.lmHead.size + cfg.nLayer * perLayer) : 0;
  return 16 * paramFloats(cfg) + kept + activationBytes(dims(cfg), B, T, false);
}

/** Bytes left free for kernel scratch and the small buffers a pass allocates beside activations. */
export const SCRATCH_RESERVE = 64 * 1024 ** 2;

/**
 * The most sequences of T tokens one pass of `model` can take (at most `max`) in what the arena
 * has left after everything allocated so far, or in the activation buffers it has: the working
 * set follows the memory, not the batch a run was trained with. `withRaw`: an ablation's
 * pre-ablation copies too (pruning). A model that leaves room for not even one sequence is a
 * one-line UserError saying what would fit.
 */
export function rowsPerPass(model: Model, T: number, max: number, withRaw: boolean): number {
  const arena = model.be.arena;
  const free = arena.maxBytes - arena.used - SCRATCH_RESERVE;
  const one = activationBytes(model.d, 1, T, withRaw);
  // As many as the model's activation buffers already hold, which a pass reuses (eval's
  // validation after its tasks), or as many as fit beside everything allocated.
  const held = model.rowsHeld(T, withRaw);
  if (held > 0) return Math.min(max, Math.max(held, Math.floor(Math.max(0, free) / one)));
  if (one > free) {
    // A GPU's arena stops at what the device binds at once (docs/webgpu.md).
    const memory = model.be.kind === "cpu"
      ? `${formatBytes(ARENA_BYTES)} of WebAssembly memory`
      : `${formatBytes(arena.maxBytes - ARENA_BASE)} the WebGPU device binds at once`;
    throw new UserError(
      `one sequence of ${T} tokens needs ${formatBytes(one)} of activations, and the model ` +
        `leaves ${formatBytes(Math.max(0, free))} of the ${memory}: a model with fewer or ` +
        `narrower layers, or a shorter context, fits`,
    );
  }
  return Math.max(1, Math.min(max, Math.floor(free / one)));
}

/**
 * Bytes of opening `cfg` for evaluation, pruning or viewing: its weights (`weights`: by default
 * every parameter dense, 4 bytes each; openedWeightBytes for a model's own), no gradients or
 * moments, and one pass of `rows` sequences of n_ctx tokens (by default one, the least any
 * command needs) with an ablation's copies.
 */
export function inferenceBytes(
  cfg: ModelConfig,
  rows = 1,
  weights = 4 * paramFloats(cfg),
): number {
  return weights + activationBytes(dims(cfg), rows, cfg.nCtx, true) + SCRATCH_RESERVE;
}

/**
 * Bytes of an opened model's weights when the linear weights named in `packed` keep only their
 * compressed forms (src/run/open.ts packedNonzeros: name → nonzeros): an index and a value per
 * nonzero in each of two forms, and their pointers; every other parameter dense, 4 bytes each.
 * (Each form's per-thread column counts, 4 bytes a column a thread, come out of the scratch.)
 */
export function openedWeightBytes(cfg: ModelConfig, packed: ReadonlyMap<string, number>): number {
  const lay = paramLayout(cfg);
  let floats = lay.total, forms = 0;
  for (const s of linearWeights(lay)) {
    const nnz = packed.get(s.name);
    if (nnz === undefined) continue;
    floats -= s.size;
    forms += 16 * nnz + 4 * (s.shape[0] + 1) + 4 * (s.shape[1] + 1);
  }
  return 4 * floats + forms;
}
