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
import { activationBytes } from "./model.ts";
import { paramFloats } from "./params.ts";

/** Bytes the arena can hold. */
export const ARENA_BYTES = MEMORY_PAGES.maximum * 65536 - ARENA_BASE;

const GiB = 1024 ** 3;
export const formatBytes = (b: number) =>
  b >= GiB ? `${(b / GiB).toFixed(2)} GiB` : `${(b / 1024 ** 2).toFixed(0)} MiB`;

/**
 * Bytes of training `cfg` on batches of B sequences of T tokens: parameters, their gradients and
 * Adam's two moments (four f32 per parameter) and one pass's activations and their gradients.
 */
export function trainingBytes(cfg: ModelConfig, B: number, T: number): number {
  return 16 * paramFloats(cfg) + activationBytes(dims(cfg), B, T, false);
}
