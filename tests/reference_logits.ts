/**
 * How far a run's logits are from the reference's: the largest |logit difference| over prompts,
 * against a logits file that tests/circuit_sparsity/make_reference.py wrote (`{j}.logits` [T, V]
 * for prompt j, from the reference's own load_model). Shared by tests/reference_import_test.ts and
 * bench/reference_logits_bench.ts.
 */
import { decodeSafetensors } from "../src/model/safetensors.ts";
import { loadRun } from "../src/run/run_dir.ts";

export interface LogitDiff {
  /** max |logit difference| over every prompt, position and token. */
  worst: number;
  /** The largest |logit| of the reference's (what the difference is rounding of). */
  size: number;
  /** Per prompt, its max |logit difference|. */
  perPrompt: number[];
  /** Bytes of the arena in use once the run was opened, and the opening's wall time (ms). */
  openedBytes: number;
  openMs: number;
}

export async function logitDiff(
  run: string,
  prompts: number[][],
  refFile: string,
  threads = 1,
): Promise<LogitDiff> {
  const ref = decodeSafetensors(await Deno.readFile(refFile), refFile).tensors;
  const t0 = performance.now();
  const r = await loadRun(run, { threads });
  const openMs = performance.now() - t0, openedBytes = r.be.arena.used;
  let size = 0;
  const perPrompt: number[] = [];
  try {
    const V = r.rc.model.vocabSize;
    prompts.forEach((ids, j) => {
      r.model.forward(Int32Array.from(ids), null, 1, ids.length);
      const T = ids.length, ours = r.be.arena.f32(r.model.acts.logits, V * T);
      const theirs = ref.get(`${j}.logits`)!.data;
      let worst = 0;
      for (let t = 0; t < T; t++) {
        for (let v = 0; v < V; v++) {
          worst = Math.max(worst, Math.abs(ours[v * T + t] - theirs[t * V + v]));
          size = Math.max(size, Math.abs(theirs[t * V + v]));
        }
      }
      perPrompt.push(worst);
    });
  } finally {
    r.close();
  }
  return { worst: Math.max(...perPrompt), size, perPrompt, openedBytes, openMs };
}
