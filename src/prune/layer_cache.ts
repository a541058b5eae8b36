/**
 * A fast path to the same numbers when a mask changes a little: one node ablated from a circuit
 * for its delta, or a toggle in the viewer, changes the mask of one node, so every block before
 * that node's layer computes what it computed last time. For one item list scored again and again
 * (the circuit's evaluation pairs), this keeps each batch's input to every block from the last
 * pass, with the mask that pass ran under, and tells the scorer (src/eval/task_eval.ts
 * BatchResume) to start each batch at the first block whose nodes changed. Under --freeze-norm it
 * also keeps the unablated pass's norm scales, which no mask changes. The result is the same bits
 * as a full pass (tests/view_engine_test.ts).
 *
 * Browser-safe (no Deno APIs).
 */
import type { BatchResume } from "../eval/task_eval.ts";
import type { Model } from "../model/model.ts";

interface Kept {
  B: number;
  T: number;
  /** Input of block l (l ≥ 1) after the last pass, [C, N]; index 0 unused. */
  res: Float32Array[];
  /** rstd1, rstd2 per layer, then rstd_f: the unablated pass's scales (freezeNorm only). */
  frozen: Float32Array[] | null;
  /** The mask the last pass ran under. */
  mask: Float32Array;
}

export class LayerCache implements BatchResume {
  readonly #batches: (Kept | undefined)[] = [];
  /** Block each batch of the pass under way started at. */
  readonly #from: number[] = [];
  /** Layer of the first node of each layer's range, for finding the first changed layer. */
  readonly #layerStart: number[];
  /** Blocks run (summed over batches) in the last passes, and blocks a full pass runs. */
  blocksRun = 0;
  blocksFull = 0;

  /**
   * @param mask the mask vector the scorer's ablation reads (MaskedScorer.mask)
   * @param freezeNorm whether the passes use frozen norms (MaskedScorer.freezeNorm)
   */
  constructor(
    readonly model: Model,
    readonly mask: () => Float32Array,
    readonly freezeNorm: boolean,
  ) {
    this.#layerStart = model.nodes.offsets.map((o) => Math.min(...Object.values(o)));
  }

  /** Forgets every kept pass (the next one runs in full). */
  clear(): void {
    this.#batches.length = 0;
  }

  /** Counts blocks from here on (for the latency readout). */
  resetCounts(): void {
    this.blocksRun = 0;
    this.blocksFull = 0;
  }

  #firstChangedLayer(prev: Float32Array, now: Float32Array): number {
    const L = this.model.d.L;
    for (let i = 0; i < now.length; i++) {
      if (prev[i] === now[i]) continue;
      let l = L - 1;
      while (l > 0 && this.#layerStart[l] > i) l--;
      return l;
    }
    return L;
  }

  start(k: number, B: number, T: number): { fromLayer: number; frozen: boolean } {
    const model = this.model, L = model.d.L;
    const a = model.prepare(B, T);
    const kept = this.#batches[k];
    let from = 0;
    const frozen = this.freezeNorm && kept?.frozen != null && kept.B === B && kept.T === T;
    if (kept && kept.B === B && kept.T === T) {
      // An unchanged mask still reruns the last block: the scorer needs this batch's logits.
      from = Math.min(this.#firstChangedLayer(kept.mask, this.mask()), L - 1);
    }
    if (this.freezeNorm && !frozen) from = 0;
    const arena = model.be.arena, C = model.d.C, N = B * T;
    if (from > 0) arena.f32(a.layers[from].residIn, C * N).set(kept!.res[from]);
    if (frozen) {
      const f = kept!.frozen!;
      a.layers.forEach((s, l) => {
        arena.f32(s.rstd1Frozen, N).set(f[2 * l]);
        arena.f32(s.rstd2Frozen, N).set(f[2 * l + 1]);
      });
      arena.f32(a.rstdFFrozen, N).set(f[2 * L]);
    }
    this.#from[k] = from;
    this.blocksRun += L - from;
    this.blocksFull += L;
    return { fromLayer: from, frozen };
  }

  end(k: number): void {
    const model = this.model, a = model.acts, L = model.d.L;
    const arena = model.be.arena, C = model.d.C, N = a.N;
    const from = this.#from[k];
    let kept = this.#batches[k];
    if (!kept || kept.B !== a.B || kept.T !== a.T) {
      kept = { B: a.B, T: a.T, res: [], frozen: null, mask: new Float32Array(this.mask().length) };
      this.#batches[k] = kept;
    }
    for (let l = Math.max(1, from + 1); l < L; l++) {
      const src = arena.f32(a.layers[l].residIn, C * N);
      if (kept.res[l]?.length === src.length) kept.res[l].set(src);
      else kept.res[l] = src.slice();
    }
    if (this.freezeNorm && !kept.frozen) {
      const f: Float32Array[] = [];
      for (const s of a.layers) {
        f.push(arena.f32(s.rstd1Frozen, N).slice(), arena.f32(s.rstd2Frozen, N).slice());
      }
      f.push(arena.f32(a.rstdFFrozen, N).slice());
      kept.frozen = f;
    }
    kept.mask.set(this.mask());
  }
}
