/**
 * The whole decoder's backward pass against finite differences of its loss: a tiny two-layer
 * sparse model (weights top-k'd, AbsTopK on, attention sink, bigram table), so training starts
 * from a verified forward/backward.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { magnitudeTopK } from "../src/backend/ops/topk.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { Model } from "../src/model/model.ts";
import { rng, tinyModelConfig } from "./util.ts";

const CFG: ModelConfig = tinyModelConfig();

async function setup(threads: number, allowSparse: boolean) {
  const be = await Backend.create({ threads, minParallelWork: 0 });
  const model = new Model(be, CFG);
  model.init(3);
  const r = rng(5);
  // Non-trivial norms, sink logits, biases and bigram entries, then sparse matrices.
  for (const s of model.layout.specs) {
    const v = model.view(s);
    if (s.init !== "normal") {
      for (let i = 0; i < v.length; i++) {
        v[i] = s.init === "ones" ? 0.5 + r() : (r() - 0.5) * 0.2;
      }
    }
    if (s.cls === "block") {
      magnitudeTopK(be, {
        w: model.ptr(s),
        rows: s.shape[0],
        cols: s.shape[1],
        k: Math.floor(s.size / 3),
        j: 2,
        axis: s.axis,
      });
    }
    if (s.init === "normal") { for (let i = 0; i < v.length; i++) v[i] *= 10; // larger signals, larger gradients
     }
  }
  model.refresh(allowSparse);
  const B = 2, T = 8;
  const tokens = new Int32Array(B * T).map(() => Math.floor(r() * CFG.vocabSize));
  const targets = new Int32Array(B * T).map(() => Math.floor(r() * CFG.vocabSize));
  targets[3] = -1; // an ignored position
  return { be, model, tokens, targets, B, T };
}

/** Every AbsTopK mask of the last forward, concatenated (finite differences are only valid
 *  where the perturbation keeps the same entries). */
function masks(model: Model): Uint8Array {
  const { C, M, HD } = model.d;
  const a = model.acts;
  const parts: Uint8Array[] = [];
  for (const l of a.layers) {
    for (
      const [p, c] of [[l.attnActInMask, C], [l.attnQkvMask, 3 * HD], [l.attnResidDeltaMask, C], [
        l.mlpActInMask,
        C,
      ], [
        l.mlpPostActMask,
        M,
      ], [l.mlpResidDeltaMask, C]]
    ) {
      parts.push(model.be.arena.u8(p, c * a.N).slice());
    }
  }
  return new Uint8Array(parts.flatMap((x) => [...x]));
}

/** Backward accumulates: the caller zeroes the gradients (llm.c style). */
function zeroGrads(model: Model): void {
  model.be.arena.f32(model.grads, model.layout.total).fill(0);
}

const sameMasks = (a: Uint8Array, b: Uint8Array) => a.every((x, i) => x === b[i]);

// The last case: an imported model's options, AbsTopK at three places and added positions.
const SOME: Partial<ModelConfig> = {
  afracLoctypes: ["attn_k", "attn_out", "mlp_neuron"],
  addPosEmb: true,
};
for (
  const [afrac, dPosEmb, extra] of [[1, 0, {}], [0.5, 0, {}], [0.5, 8, {}], [0.5, 0, SOME]] as const
) {
  const what = Object.keys(extra).length > 0 ? ", AbsTopK at 3 places, added positions" : "";
  Deno.test(`decoder backward matches finite differences (afrac ${afrac}, d_pos_emb ${dPosEmb}${what})`, async () => {
    CFG.afrac = afrac;
    CFG.dPosEmb = dPosEmb;
    Object.assign(CFG, extra);
    const { be, model, tokens, targets, B, T } = await setup(1, true);
    try {
      model.forward(tokens, targets, B, T);
      const base = masks(model);
      zeroGrads(model);
      model.backward();
      const grads = be.arena.f32(model.grads, model.layout.total).slice();
      let checked = 0;
      for (const s of model.layout.specs) {
        const w = model.view(s);
        // The coordinates with the largest gradients: finite differences are well above f32 noise.
        const idx = Array.from({ length: s.size }, (_, i) => i)
          .sort((a, b) => Math.abs(grads[s.offset + b]) - Math.abs(grads[s.offset + a])).slice(
            0,
            2,
          );
        for (const i of idx) {
          const g = grads[s.offset + i];
          if (Math.abs(g) < 1e-4) continue;
          const w0 = w[i], eps = 1e-2 * Math.max(0.05, Math.abs(w0));
          w[i] = w0 + eps;
          model.refresh(true);
          const lp = model.forward(tokens, targets, B, T);
          const mp = masks(model);
          w[i] = w0 - eps;
          model.refresh(true);
          const lm = model.forward(tokens, targets, B, T);
          const mm = masks(model);
          w[i] = w0;
          model.refresh(true);
          if (!sameMasks(base, mp) || !sameMasks(base, mm)) continue;
          const fd = (lp - lm) / (2 * eps);
          const err = Math.abs(fd - g) / Math.max(Math.abs(g), 1e-3);
          assert.ok(err < 0.08, `${s.name}[${i}]: backward ${g}, finite difference ${fd}`);
          checked++;
        }
      }
      assert.ok(checked > model.layout.specs.length, `only ${checked} coordinates checked`);
      if (extra === SOME) {
        // The positions reached the loss, and the places without AbsTopK kept every channel.
        assert.ok(model.layout.wpe && model.layout.wpe.shape[1] === model.d.C);
        const a = model.acts.layers[0];
        const kept = (p: number, n: number) => model.be.arena.u8(p, n).reduce((x, y) => x + y, 0);
        const N = model.acts.N, { C, HD } = model.d;
        assert.equal(kept(a.attnActInMask, C * N), C * N);
        assert.equal(kept(a.attnQkvMask, HD * N), HD * N);
        assert.equal(kept(a.attnQkvMask + HD * N, HD * N), (HD / 2) * N);
        assert.equal(kept(a.attnResidDeltaMask, C * N), (C / 2) * N);
      }
    } finally {
      delete CFG.afracLoctypes;
      delete CFG.addPosEmb;
      be.close();
    }
  });
}

for (const dPosEmb of [0, 8]) {
  Deno.test(`decoder: sparse and dense products, 1 and 2 threads, give the same bits (d_pos_emb ${dPosEmb})`, async () => {
    CFG.dPosEmb = dPosEmb;
    const runs: Float32Array[] = [];
    for (const [threads, sparse] of [[1, true], [2, true], [1, false], [2, false]] as const) {
      const { be, model, tokens, targets, B, T } = await setup(threads, sparse);
      try {
        const loss = model.forward(tokens, targets, B, T);
        zeroGrads(model);
        model.backward();
        const out = be.arena.f32(model.grads, model.layout.total).slice();
        runs.push(new Float32Array([loss, ...out]));
      } finally {
        be.close();
      }
    }
    for (let r = 1; r < runs.length; r++) {
      for (let i = 0; i < runs[0].length; i++) {
        // +0 and -0 compare equal: sparse products skip zero terms, dense ones add ±0.
        if (runs[r][i] !== runs[0][i]) {
          assert.fail(`run ${r} differs at ${i}: ${runs[r][i]} vs ${runs[0][i]}`);
        }
      }
    }
  });
}
