/**
 * The pretraining validation loss, one definition for the trainer's log and for `eval`: the mean of
 * the per-batch mean next-token cross-entropies over a fixed set of batches (fixedBatches).
 */
import { splitBatch } from "../data/dataset.ts";
import type { Model } from "../model/model.ts";

export function validationXent(model: Model, batches: Int32Array[], B: number, T: number): number {
  const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
  let sum = 0;
  for (const batch of batches) {
    splitBatch(batch, B, T, inputs, targets);
    sum += model.forward(inputs, targets, B, T);
  }
  return sum / batches.length;
}
