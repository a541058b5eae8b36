/**
 * Circuit pruning (docs/method.md §4): the kernels against their twins; a model built by hand whose answer
 * flows through one known 3-node / 2-edge MLP path is pruned to exactly that path; edges are
 * counted as the paper counts them (its 12-node / 9-edge string-closing shape); sufficiency and
 * necessity agree with a direct recomputation (ablation rewritten as weight edits); the CLI's
 * output files and its one-line errors.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import * as ops from "../src/backend/ops/index.ts";
import { PairScorer, type PromptItem } from "../src/eval/task_eval.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { Model } from "../src/model/model.ts";
import { nodeId, nodeIndex } from "../src/model/nodes.ts";
import { parseCircuit, parseCircuitText } from "../src/run/circuit.ts";
import { UserError } from "../src/errors.ts";
import { corpusPrefix, Tokenizer } from "../src/data/tokenizer.ts";
import { TRAIN_SEED } from "../src/data/corpus/index.ts";
import { circuitEdges, nodeGraph } from "../src/prune/edges.ts";
import { fitCalibration } from "../src/prune/calibrate.ts";
import {
  DEFAULT_HP,
  hyperparamsFromJson,
  hyperparamsJson,
  type PruneSettings,
} from "../src/prune/settings.ts";
import { findCircuit, retryAfterCollapse } from "../src/prune/prune.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import * as ref from "../src/reference/prune.ts";
import { randArray, randomGraph, rng, upload } from "./util.ts";
import { scoped, withBoth } from "./layers_util.ts";

Deno.test("prune kernels: surrogate gradient, clamp + Heaviside, calibrated loss match the twins; 1 = 2 threads", async () => {
  await withBoth((one, two) => {
    for (const n of [1, 7, 64, 1001]) {
      const tau = randArray(n, n, 1.5), dm = randArray(n, n + 1, 0.1);
      const d = randArray(n, n + 2, 4);
      const outs = [one, two].map((be) =>
        scoped(be, () => {
          const tt = upload(be, tau), td = upload(be, dm), g = be.arena.tensor([n]);
          const m = be.arena.tensor([n]), dd = upload(be, d), losses = be.arena.tensor([n]);
          ops.maskSurrogateGrad(be, {
            g: g.ptr,
            tau: tt.ptr,
            dm: td.ptr,
            n,
            temperature: 0.7,
            kcoef: 1e-3,
          });
          ops.maskClampHeaviside(be, { m: m.ptr, tau: tt.ptr, n });
          const c = ops.calibLossGrad(be, {
            d: dd.ptr,
            n,
            scale: 1.3,
            shift: -0.4,
            losses: losses.ptr,
          });
          const v = (p: number) => be.arena.f32(p, n).slice();
          return { g: v(g.ptr), tau: v(tt.ptr), m: v(m.ptr), c, losses: v(losses.ptr) };
        })
      );
      const g = new Float32Array(n), t2 = tau.slice(), m = new Float32Array(n);
      const losses = new Float32Array(n);
      ref.maskSurrogateGrad({ g, tau, dm, n, temperature: 0.7, kcoef: 1e-3 });
      ref.maskClampHeaviside({ m, tau: t2, n });
      const c = ref.calibLossGrad({ d, n, scale: 1.3, shift: -0.4, losses });
      for (const o of outs) {
        for (let i = 0; i < n; i++) {
          assert.ok(Math.abs(o.g[i] - g[i]) <= 1e-6 * Math.abs(g[i]) + 1e-12, `g[${i}]`);
          assert.equal(o.tau[i], t2[i]);
          assert.equal(o.m[i], m[i]);
          assert.ok(Math.abs(o.losses[i] - losses[i]) <= 1e-6 * losses[i] + 1e-9, `loss[${i}]`);
        }
        for (const k of ["loss", "dScale", "dShift"] as const) {
          assert.ok(Math.abs(o.c[k] - c[k]) <= 1e-12 + 1e-9 * Math.abs(c[k]), `${k}`);
        }
      }
      assert.deepEqual([...outs[0].g], [...outs[1].g], "1 vs 2 threads");
    }
  });
});

Deno.test("prune kernels: the edge penalty's gradient matches its twin; 1 = 2 threads", async () => {
  await withBoth((one, two) => {
    for (const n of [1, 7, 64, 1001]) {
      // A random graph, and masks of 0, 1 and values between.
      const { ptr, idx } = randomGraph(n, n + 5);
      const m = randArray(n, n + 6).map((x) => x > 0 ? 1 : x + 0.5);
      const dm = randArray(n, n + 7, 0.1);
      const outs = [one, two].map((be) =>
        scoped(be, () => {
          const td = upload(be, dm), tm = upload(be, m), tp = upload(be, ptr);
          const ti = upload(be, idx.length ? idx : new Int32Array(1));
          ops.maskEdgeGrad(be, {
            dm: td.ptr,
            m: tm.ptr,
            ptr: tp.ptr,
            idx: ti.ptr,
            n,
            nnz: idx.length,
            ecoef: 3e-4,
          });
          return be.arena.f32(td.ptr, n).slice();
        })
      );
      const want = dm.slice();
      ref.maskEdgeGrad({ dm: want, m, ptr, idx, n, ecoef: 3e-4 });
      for (const o of outs) assert.deepEqual([...o], [...want]);
    }
  });
});

Deno.test("calibration: LBFGS recovers a known scale and shift", async () => {
  const be = await Backend.create();
  try {
    // Items whose calibrated logits z = 2·d − 0.5·sign are exactly the truth: the fit is (2, -0.5)
    // up to the noise of finite data; it must at least beat the identity by a clear margin.
    const n = 400, r = rng(3);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = (r() - 0.3) * 3;
    const t = upload(be, d);
    const c = fitCalibration(be, t.ptr, n);
    const id = ops.calibLossGrad(be, { d: t.ptr, n, scale: 1, shift: 0 }).loss;
    const fit = ops.calibLossGrad(be, { d: t.ptr, n, scale: c.scale, shift: c.shift });
    assert.ok(fit.loss <= id, `fit ${fit.loss} worse than identity ${id}`);
    assert.ok(Math.hypot(fit.dScale, fit.dShift) < 1e-4, `not converged: ${JSON.stringify(fit)}`);
  } finally {
    be.close();
  }
});

// ------------------------------------------------------------- a model built by hand

const HAND: ModelConfig = {
  vocabSize: 300,
  nLayer: 1,
  baseDModel: 16,
  baseDMlp: 16,
  ef: 1,
  dHead: 16,
  nCtx: 8,
  afrac: 1,
  sink: false,
  bigram: false,
  dPosEmb: 0,
};
const X1 = 10, X2 = 11, A = 20, B = 21;
/** A 300-id tokenizer (eot = 299) for the 300-token test models; only its eot is used. */
const TOK300 = Tokenizer.train(corpusPrefix(TRAIN_SEED, 20_000), 300);

/**
 * Token X1 (answer A) or X2 (answer B) writes ±1 to residual channel 0; mlp.act_in.0 → neuron 0
 * (c_fc) → mlp.resid_delta.1 (c_proj, with a bias that centres it) → lm_head reads channel 1 with
 * opposite signs for A and B. Distractors: a constant channel 3 feeding neuron 5 → channel 9, and
 * an attention path (q/k/v from channels 0 and 3) writing channel 12; none reaches channel 1.
 */
function handModel(be: Backend): Model {
  const m = new Model(be, HAND);
  m.init(1);
  for (const s of m.layout.specs) m.view(s).fill(s.init === "ones" ? 1 : 0);
  const L = m.layout, p = L.layers[0], C = 16, M = 16, HD = 16;
  const set = (spec: typeof L.wte, r: number, c: number, x: number) => {
    m.view(spec)[r * spec.shape[1] + c] = x;
  };
  set(L.wte, X1, 0, 1);
  set(L.wte, X2, 0, -1);
  for (const t of [X1, X2, 299]) set(L.wte, t, 3, 1);
  set(L.wte, 299, 5, 1);
  set(p.fcW, 0, 0, 2);
  set(p.mlpProjW, 1, 0, 1);
  m.view(p.mlpProjB)[1] = -2.83;
  set(p.fcW, 5, 3, 1);
  set(p.mlpProjW, 9, 5, 1);
  set(p.cAttnW, 2, 3, 1); // q channel 2 reads channel 3
  set(p.cAttnW, HD + 2, 3, 1); // k channel 2
  set(p.cAttnW, 2 * HD + 4, 0, 1); // v channel 4 reads channel 0
  set(p.attnProjW, 12, 4, 1);
  set(L.lmHead, A, 1, 1.5);
  set(L.lmHead, B, 1, -1.5);
  void C;
  void M;
  m.refresh(true);
  return m;
}

function handItems(pairs: number): PromptItem[] {
  const items: PromptItem[] = [];
  for (let k = 0; k < pairs; k++) {
    items.push({ tokens: [X1], correct: A, wrong: B }, { tokens: [X2], correct: B, wrong: A });
  }
  return items;
}

/**
 * Runs `pass` on batches that grow and shrink (1 pair of 1 token up to 32 pairs of 7) after a buffer
 * is allocated behind the scorer's, and checks that none grows the arena.
 */
function passesKeepArena(be: Backend, pass: (items: PromptItem[]) => void) {
  be.arena.tensor([1024], "a buffer allocated after the scorer, like the optimiser's");
  const used = be.arena.used;
  for (const [pairs, len] of [[1, 1], [8, 3], [32, 7], [4, 7], [32, 2]]) {
    pass(
      handItems(pairs).map((it) => ({
        ...it,
        tokens: [...Array(len - 1).fill(299), ...it.tokens],
      })),
    );
    assert.equal(be.arena.used, used, `${pairs} pairs of ${len} tokens grew the arena`);
  }
}

Deno.test("masked passes of any shape run in the activations a MaskedScorer reserves", async () => {
  // A pass larger than every earlier one used to allocate new activations above the buffers
  // allocated since (the optimiser's), leaving the old span behind: a few growing batches ran an
  // ef-4 model's prune out of the arena.
  const be = await Backend.create({ threads: 1 });
  try {
    const model = handModel(be);
    const ms = new MaskedScorer(model, new PairScorer(model, TOK300, 64, 256), null, false);
    passesKeepArena(be, (items) => {
      ms.maskGradient(items);
      ms.score(items, false);
    });
  } finally {
    be.close();
  }
});

Deno.test("stdError: the per-prompt calibrated losses' sample standard deviation over √n", async () => {
  const be = await Backend.create({ threads: 1 });
  try {
    const model = handModel(be);
    const ms = new MaskedScorer(model, new PairScorer(model, TOK300, 64, 256), null, false);
    // The full model, and a calibration whose shift favours one answer: the two kinds of
    // prompt get different losses.
    ms.mask.fill(1);
    const s = ms.score(handItems(24));
    const c = { scale: 0.3, shift: 0.5 };
    const per = ms.calibrated(s, c, true).items!;
    const n = per.length, mean = per.reduce((a, x) => a + x, 0) / n;
    const sd = Math.sqrt(per.reduce((a, x) => a + (x - mean) ** 2, 0) / (n - 1));
    assert.equal(n, 48);
    assert.ok(sd > 0.01, `sd ${sd}`);
    const se = ms.stdError(s, c);
    assert.ok(Math.abs(se / (sd / Math.sqrt(n)) - 1) < 1e-4, `${se} against ${sd / Math.sqrt(n)}`);
  } finally {
    be.close();
  }
});

Deno.test("a scorer's passes of any shape run in the activations it reserves when made", async () => {
  // The same for every PairScorer (eval's, unablated): its largest pass is reserved on
  // construction, so buffers its user allocates after it never sit below a larger pass.
  const be = await Backend.create({ threads: 1 });
  try {
    const model = handModel(be);
    const scorer = new PairScorer(model, TOK300, 64, 256);
    passesKeepArena(be, (items) => scorer.score(items));
  } finally {
    be.close();
  }
});

Deno.test("pruning a hand-built model returns exactly its 3-node / 2-edge path", async () => {
  const be = await Backend.create({ threads: 2 });
  try {
    const model = handModel(be);
    const pool = handItems(16), evalItems = handItems(16);
    const scorer = new PairScorer(model, TOK300, 64, 256);
    const ms = new MaskedScorer(model, scorer, null, false);
    const full = ms.score(evalItems, false).meanLoss;
    assert.ok(full < 0.05, `the hand-built model should solve its task (loss ${full})`);
    const st: PruneSettings = {
      target: 0.15,
      method: "learned",
      ablation: "zero",
      freezeNorm: false,
      seed: 0,
      // Without mask noise: with the default 0.1 the ranking puts the distractor path 3 → 5 → 9,
      // which reaches the answer only through ln_f's scale, among the path's nodes and 6 are
      // kept (docs/prune.md, "Planted circuits"); the noise is for heads, tests/planted_test.ts.
      hp: { ...DEFAULT_HP, steps: 150, batchPairs: 8, lr: 0.01, kCoef: 1e-3, maskNoise: 0 },
      randomDraws: 4,
      randomPairs: 16,
      deltaPairs: 8,
      bisectPairs: 16,
      maskPairs: 16,
      checkMargin: 0,
    };
    const res = findCircuit(ms, { pool, evalItems }, st);
    const d = model.d, nl = model.nodes;
    const want = [
      nodeIndex(d, nl, { layer: 0, location: "mlp.act_in", index: 0 }),
      nodeIndex(d, nl, { layer: 0, location: "mlp.post_act", index: 0 }),
      nodeIndex(d, nl, { layer: 0, location: "mlp.resid_delta", index: 1 }),
    ].sort((a, b) => a - b);
    assert.deepEqual(res.kept, want, `kept ${res.kept.map((i) => nodeId(nodeAtOf(model, i)))}`);
    assert.ok(res.reached);
    // With the edge penalty on top (the path's 2 edges are all it charges at the end): the same
    // path, and the setting recorded.
    const edged = findCircuit(ms, { pool, evalItems }, {
      ...st,
      hp: { ...st.hp, edgeCoef: 1e-3 },
      skipBaselines: true,
    });
    assert.deepEqual(edged.kept, want);
    assert.equal(edged.hp.edgeCoef, 1e-3);
    const edges = circuitEdges(model, res.kept);
    assert.deepEqual(edges, [
      { source: "0.mlp.act_in.0", target: "0.mlp.post_act.0", weight: 2 },
      { source: "0.mlp.post_act.0", target: "0.mlp.resid_delta.1", weight: 1 },
    ]);
    // Every path node is necessary: ablating it alone breaks the task.
    for (const dl of res.deltas) assert.ok(dl > 0.3, `delta ${dl}`);
    assert.ok(
      res.losses.ablated > 0.5,
      `ablating the circuit should break the task: ${res.losses.ablated}`,
    );
    assert.ok(res.losses.circuit_calibrated <= 0.15);
    assert.deepEqual(res.collapses, []);
    assert.equal(res.hp.kCoef, 1e-3);

    // A penalty that switches the task off: retried with less mask noise, then the penalty warmed
    // up, then at k_coef / 10.
    const hard = findCircuit(ms, { pool, evalItems }, {
      ...st,
      hp: { ...st.hp, kCoef: 10 },
      skipBaselines: true,
    });
    assert.ok(hard.collapses.length >= 1, "k_coef 10 should collapse the masks");
    assert.ok(hard.collapses.every((c) => c.taskLoss > 0.5));
    let hp = { ...st.hp, kCoef: 10 };
    const retried = (h: typeof hp) => ({
      kCoef: h.kCoef,
      edgeCoef: h.edgeCoef,
      penaltyWarmup: h.penaltyWarmup,
      maskNoise: h.maskNoise,
    });
    for (const c of hard.collapses) {
      assert.deepEqual(
        [c.kCoef, c.edgeCoef, c.penaltyWarmup, c.maskNoise],
        Object.values(retried(hp)),
      );
      hp = retryAfterCollapse(hp);
      assert.deepEqual(c.retry, retried(hp));
    }
    assert.deepEqual(retried(hard.hp), retried(hp));
  } finally {
    be.close();
  }
});

import { nodeAt } from "../src/model/nodes.ts";
const nodeAtOf = (m: Model, i: number) => nodeAt(m.d, m.nodes, i);

Deno.test("edges: the paper's string-closing shape (12 nodes) counts 9 edges", async () => {
  const be = await Backend.create();
  try {
    const cfg: ModelConfig = { ...HAND, nLayer: 2, baseDModel: 32, baseDMlp: 32 };
    const m = new Model(be, cfg);
    for (const s of m.layout.specs) m.view(s).fill(0);
    const L = m.layout, HD = 32;
    const set = (spec: typeof L.wte, r: number, c: number, x: number) => {
      m.view(spec)[r * spec.shape[1] + c] = x;
    };
    // Layer 0 MLP: two residual reads (a = 3, b = 4) → two neurons (7: quote detector, 8: type)
    // → two residual writes (10, 11).
    const l0 = L.layers[0], l1 = L.layers[1];
    set(l0.fcW, 7, 3, 0.5);
    set(l0.fcW, 8, 3, -0.4);
    set(l0.fcW, 8, 4, 0.9); // 3 edges act_in → post_act
    set(l0.mlpProjW, 10, 7, 1.1);
    set(l0.mlpProjW, 11, 8, -0.7); // 2 edges post_act → resid_delta
    // Layer 1 attention: reads channels 10, 11; q 1 and k 1 read 10, v 2 reads 11; v 2 → out 5.
    set(l1.cAttnW, 1, 10, 0.3);
    set(l1.cAttnW, HD + 1, 10, 0.8);
    set(l1.cAttnW, 2 * HD + 2, 11, 1.2); // 3 edges act_in → q/k/v
    set(l1.attnProjW, 5, 2, 0.6); // 1 edge v → resid_delta
    // Not edges: weights to nodes outside the circuit, biases, and the q·k pairing.
    set(l0.fcW, 9, 3, 1);
    set(l0.mlpProjW, 12, 7, 1);
    set(l1.cAttnW, 2 * HD + 9, 10, 1);
    set(l1.attnProjW, 6, 2, 1);
    m.view(l0.fcB)[7] = 1;
    m.view(l1.attnProjB)[5] = 1;
    const ids = [
      "0.mlp.act_in.3",
      "0.mlp.act_in.4",
      "0.mlp.post_act.7",
      "0.mlp.post_act.8",
      "0.mlp.resid_delta.10",
      "0.mlp.resid_delta.11",
      "1.attn.act_in.10",
      "1.attn.act_in.11",
      "1.attn.q.1",
      "1.attn.k.1",
      "1.attn.v.2",
      "1.attn.resid_delta.5",
    ];
    const kept = ids.map((id) => {
      const [layer, a, b, index] = id.split(".");
      return nodeIndex(m.d, m.nodes, {
        layer: Number(layer),
        location: `${a}.${b}` as never,
        index: Number(index),
      });
    });
    assert.ok(kept.every((i) => i >= 0));
    const edges = circuitEdges(m, kept);
    assert.equal(kept.length, 12);
    assert.equal(edges.length, 9, JSON.stringify(edges));
    // The edge penalty's graph: every nonzero weight between nodes (these 9 and the 4 that lead
    // out of the circuit), each seen from both ends; among the kept nodes, the same 9.
    const g = nodeGraph(m);
    assert.equal(g.idx.length, 2 * 13);
    const on = new Set(kept);
    let among = 0;
    for (const i of kept) {
      const nb = [...g.idx.subarray(g.ptr[i], g.ptr[i + 1])];
      assert.deepEqual(nb, [...nb].sort((a, b) => a - b));
      among += nb.filter((j) => on.has(j)).length;
    }
    assert.equal(among, 2 * 9);
  } finally {
    be.close();
  }
});

// ------------------------------------------------- sufficiency and necessity, recomputed

/**
 * With afrac = 1 and no sink, ablating a node to μ is a weight edit: an act_in channel i → c_fc or
 * c_attn column i zeroed and μ·column added to the bias; a neuron j → mlp.c_proj column j likewise;
 * v channel j → attn.c_proj column j (attention weights sum to 1 without a sink); a resid_delta
 * channel c → its c_proj row zeroed and the bias set to μ.
 */
function editAblate(m: Model, ablated: Set<number>, means: Float32Array): void {
  const d = m.d, cols = (s: { shape: number[] }) => s.shape[1];
  m.layout.layers.forEach((p, l) => {
    const o = m.nodes.offsets[l];
    const colOut = (
      w: typeof p.fcW,
      b: typeof p.fcB,
      j: number,
      mu: number,
      rows: [number, number],
    ) => {
      const W = m.view(w), bias = m.view(b), n = cols(w);
      for (let r = rows[0]; r < rows[1]; r++) {
        bias[r] += W[r * n + j] * mu;
        W[r * n + j] = 0;
      }
    };
    const rowOut = (w: typeof p.fcW, b: typeof p.fcB, c: number, mu: number) => {
      const W = m.view(w), n = cols(w);
      for (let j = 0; j < n; j++) W[c * n + j] = 0;
      m.view(b)[c] = mu;
    };
    for (let i = 0; i < d.C; i++) {
      if (ablated.has(o["attn.act_in"] + i)) {
        colOut(p.cAttnW, p.cAttnB, i, means[o["attn.act_in"] + i], [0, 3 * d.HD]);
      }
      if (ablated.has(o["mlp.act_in"] + i)) {
        colOut(p.fcW, p.fcB, i, means[o["mlp.act_in"] + i], [0, d.M]);
      }
      if (ablated.has(o["attn.resid_delta"] + i)) {
        rowOut(p.attnProjW, p.attnProjB, i, means[o["attn.resid_delta"] + i]);
      }
      if (ablated.has(o["mlp.resid_delta"] + i)) {
        rowOut(p.mlpProjW, p.mlpProjB, i, means[o["mlp.resid_delta"] + i]);
      }
    }
    for (let j = 0; j < d.M; j++) {
      if (ablated.has(o["mlp.post_act"] + j)) {
        colOut(p.mlpProjW, p.mlpProjB, j, means[o["mlp.post_act"] + j], [0, d.C]);
      }
    }
    for (let j = 0; j < d.HD; j++) {
      if (ablated.has(o["attn.v"] + j)) {
        colOut(p.attnProjW, p.attnProjB, j, means[o["attn.v"] + j], [0, d.C]);
      }
    }
  });
  m.refresh(true);
}

Deno.test("sufficiency and necessity agree with a direct recomputation by weight edits", async () => {
  const cfg: ModelConfig = {
    ...HAND,
    nLayer: 2,
    baseDModel: 32,
    baseDMlp: 64,
    dHead: 16,
    nCtx: 16,
  };
  const be = await Backend.create({ threads: 2 });
  try {
    const mk = () => {
      const m = new Model(be, cfg);
      m.init(5);
      const r = rng(8);
      for (const s of m.layout.specs) {
        const v = m.view(s);
        if (s.init === "normal") { for (let i = 0; i < v.length; i++) v[i] *= 20; }
        else if (s.init === "zeros") {
          for (let i = 0; i < v.length; i++) v[i] = (r() - 0.5) * 0.2;
        }
      }
      m.refresh(true);
      return m;
    };
    const model = mk();
    const r = rng(4);
    const items: PromptItem[] = [];
    for (let k = 0; k < 12; k++) {
      const toks = Array.from({ length: 3 + (k % 5) }, () => Math.floor(r() * 290));
      items.push({ tokens: toks, correct: 7, wrong: 8 }, {
        tokens: [...toks, 5],
        correct: 8,
        wrong: 7,
      });
    }
    const n = model.nodes.total;
    const means = Float32Array.from({ length: n }, () => (r() - 0.5) * 0.5);
    const scorer = new PairScorer(model, TOK300, items.length, 256);
    const ms = new MaskedScorer(model, scorer, means, false);
    // A node set over the editable locations (q and k are not linear in a weight edit).
    const d = model.d;
    const S: number[] = [];
    for (let l = 0; l < d.L; l++) {
      const o = model.nodes.offsets[l];
      for (
        const [loc, w] of [
          ["attn.act_in", d.C],
          ["attn.v", d.HD],
          ["attn.resid_delta", d.C],
          ["mlp.act_in", d.C],
          ["mlp.post_act", d.M],
          ["mlp.resid_delta", d.C],
        ] as const
      ) {
        for (let i = 0; i < w; i++) if (r() < 0.4) S.push(o[loc] + i);
      }
    }
    const editable = new Set<number>();
    for (let l = 0; l < d.L; l++) {
      const o = model.nodes.offsets[l];
      for (let i = 0; i < n; i++) {
        const inQK = i >= o["attn.q"] && i < o["attn.v"];
        if (
          !inQK && i >= o["attn.act_in"] &&
          (l + 1 === d.L || i < model.nodes.offsets[l + 1]["attn.act_in"])
        ) editable.add(i);
      }
    }
    const inS = new Set(S);
    for (
      const [what, keep] of [["sufficiency", inS], [
        "necessity",
        new Set([...editable].filter((i) => !inS.has(i))),
      ]] as const
    ) {
      // Masked: keep `keep` (q and k always kept); edited: the complement of `keep` ablated.
      const mask = ms.mask;
      mask.fill(0);
      for (let i = 0; i < n; i++) if (keep.has(i) || !editable.has(i)) mask[i] = 1;
      const got = ms.score(items);
      const edited = mk();
      editAblate(edited, new Set([...editable].filter((i) => !keep.has(i))), means);
      const s2 = new PairScorer(edited, TOK300, items.length, 256).score(items);
      for (let i = 0; i < items.length; i++) {
        assert.ok(
          Math.abs(got.diff[i] - s2.diff[i]) <= 1e-3 * Math.max(1, Math.abs(s2.diff[i])),
          `${what} item ${i}: ${got.diff[i]} vs ${s2.diff[i]}`,
        );
      }
      assert.ok(
        Math.abs(got.meanLoss - s2.meanLoss) < 1e-4,
        `${what}: ${got.meanLoss} vs ${s2.meanLoss}`,
      );
    }
  } finally {
    be.close();
  }
});

// ------------------------------------------------------------------- the circuit file

Deno.test("circuit files: malformed input is one clear error", () => {
  const bad = (f: () => unknown, re: RegExp) => {
    try {
      f();
      assert.fail("no error");
    } catch (e) {
      assert.ok(e instanceof UserError, String(e));
      assert.match(e.message, re);
      assert.ok(!e.message.includes("\n"), "one line");
    }
  };
  bad(
    () => parseCircuitText('{"format": "thinwire.circuit", "version": 1, "nod', "x.json"),
    /x\.json: not valid JSON/,
  );
  bad(
    () => parseCircuit({ format: "thinwire.circuit", version: 7 }, "x.json"),
    /version 7 is not supported/,
  );
  bad(
    () => parseCircuit({ format: "thinwire.circuit", version: 1 }, "x.json"),
    /x\.json: not a valid circuit file: /,
  );
  bad(() => parseCircuit([], "x.json"), /not a valid circuit file/);
});

Deno.test("circuit files' settings: a file from before mask noise and the loss set point had neither", () => {
  const old = hyperparamsFromJson({ k_coef: 2e-3 });
  assert.equal(old.kCoef, 2e-3);
  assert.equal(old.maskNoise, 0);
  assert.equal(old.lossSetPoint, 0);
  assert.equal(old.edgeCoef, 0);
  assert.equal(old.trim, 0);
  assert.equal(old.lr, DEFAULT_HP.lr);
  const now = hyperparamsFromJson(hyperparamsJson(DEFAULT_HP));
  assert.deepEqual(now, DEFAULT_HP);
  const trimmed = { ...DEFAULT_HP, trim: 2 };
  assert.equal(hyperparamsJson(trimmed).trim_passes, 2);
  assert.deepEqual(hyperparamsFromJson(hyperparamsJson(trimmed)), trimmed);
});
