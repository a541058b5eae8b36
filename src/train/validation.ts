/**
 * The pretraining validation loss, one definition for the trainer's log and for `eval`: the mean of
 * the per-batch mean next-token cross-entropies over a fixed set of batches (fixedBatches).
 */
import { splitBatch } from "../data/dataset.ts";
import type { Model } from "../model/model.ts";

export function validationXent(
  model: Model,
  batches: Int32Array[],
  B: number,
  T: number,
  rowsPerPass = B,
): number {
  const inputs = new Int32Array(B * T), targets = new Int32Array(B * T);
  let sum = 0;
  for (const batch of batches) {
    splitBatch(batch, B, T, inputs, targets);
    if (rowsPerPass >= B) {
      sum += model.forward(inputs, targets, B, T);
      continue;
    }
    // A batch that does not fit one pass (a wide model opened with less memory than training
    // had): its mean from passes of fewer rows, weighted by their counted targets.
    let total = 0, count = 0;
    for (let r0 = 0; r0 < B; r0 += rowsPerPass) {
      const rows = Math.min(rowsPerPass, B - r0), span = [r0 * T, (r0 + rows) * T] as const;
      const t = targets.subarray(...span);
      const n = t.reduce((c, x) => c + (x >= 0 ? 1 : 0), 0);
      total += n * model.forward(inputs.subarray(...span), t, rows, T);
      count += n;
    }
    sum += total / count;
  }
  return sum / batches.length;
}
