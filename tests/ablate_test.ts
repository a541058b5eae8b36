/**
 * Node ablation (docs/method.md §4): the kernels against their scalar twins (bit-exact, 1 = 2 threads), the
 * frozen-scale RMSNorm, and the decoder with an ablation: m = 1 everywhere computes the plain
 * forward's logits bit for bit, and the mask gradient matches finite differences of the loss in m.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import type { Backend as BackendT } from "../src/backend/backend.ts";
import * as ops from "../src/backend/ops/index.ts";
import { magnitudeTopK } from "../src/backend/ops/topk.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { Model } from "../src/model/model.ts";
import {
  LOCATIONS,
  nodeAt,
  nodeId,
  nodeIndex,
  nodeLayout,
  parseNodeId,
} from "../src/model/nodes.ts";
import * as ref from "../src/reference/ablate.ts";
import * as refNorm from "../src/reference/rmsnorm.ts";
import * as refGather from "../src/reference/gather.ts";
import { randArray, rng, tinyModelConfig, upload } from "./util.ts";
import { assertBits, CHANNELS, scoped, TOKENS, withBoth } from "./layers_util.ts";

function ablateRun(
  be: BackendT,
  C: number,
  N: number,
  x0: Float32Array,
  m: Float32Array,
  mu: Float32Array | null,
  dout: Float32Array,
  dm0: Float32Array,
) {
  return scoped(be, () => {
    const x = upload(be, x0), raw = be.arena.tensor([C * N]), tm = upload(be, m);
    const tmu = mu ? upload(be, mu).ptr : 0;
    const tdo = upload(be, dout), dinp = be.arena.tensor([C * N]), dm = upload(be, dm0);
    ops.ablateForward(be, { x: x.ptr, raw: raw.ptr, m: tm.ptr, mean: tmu, C, N });
    ops.ablateBackward(be, {
      dinp: dinp.ptr,
      dm: dm.ptr,
      dout: tdo.ptr,
      raw: raw.ptr,
      m: tm.ptr,
      mean: tmu,
      C,
      N,
    });
    const acc = be.arena.allocBytes(8 * C, "acc");
    be.arena.f32(acc, 2 * C).fill(0);
    ops.rowSumF64(be, { acc, x: x.ptr, C, N });
    const sums = new Float64Array(be.memory.buffer, acc, C).slice();
    const v = (p: number, n: number) => be.arena.f32(p, n).slice();
    return {
      x: v(x.ptr, C * N),
      raw: v(raw.ptr, C * N),
      dinp: v(dinp.ptr, C * N),
      dm: v(dm.ptr, C),
      sums,
    };
  });
}

Deno.test("ablate kernels: bit-exact vs the scalar twin, 1 and 2 threads identical", async () => {
  await withBoth((one, two) => {
    let seed = 11;
    for (const C of CHANNELS) {
      for (const N of TOKENS) {
        for (const zeroMean of [false, true]) {
          const x = randArray(C * N, seed++, 2), dout = randArray(C * N, seed++);
          const r = rng(seed++);
          // Binary masks (what pruning's forward uses) and fractional ones.
          const m = new Float32Array(C).map((_, c) => c % 3 === 0 ? r() : r() < 0.5 ? 0 : 1);
          const mu = zeroMean ? null : randArray(C, seed++, 0.5);
          const dm0 = randArray(C, seed++);
          const got = ablateRun(one, C, N, x, m, mu, dout, dm0);
          const got2 = ablateRun(two, C, N, x, m, mu, dout, dm0);
          const wx = x.slice(), wraw = new Float32Array(C * N), wd = new Float32Array(C * N);
          const wdm = dm0.slice();
          ref.ablateForward({ x: wx, raw: wraw, m, mean: mu, C, N });
          ref.ablateBackward({ dinp: wd, dm: wdm, dout, raw: wraw, m, mean: mu, C, N });
          const sums = new Float64Array(C);
          ref.rowSumF64({ acc: sums, x: wx, C, N });
          const what = `C=${C} N=${N} mean=${!zeroMean}`;
          for (const g of [got, got2]) {
            assertBits(g.x, wx, `${what} forward`);
            assertBits(g.raw, x, `${what} raw copy`);
            assertBits(g.dinp, wd, `${what} dinp`);
            assertBits(g.dm, wdm, `${what} dm`);
            assert.deepEqual([...g.sums], [...sums], `${what} row sums`);
          }
          // A kept node is untouched and an ablated one is exactly its mean.
          for (let c = 0; c < C; c++) {
            if (m[c] !== 0 && m[c] !== 1) continue;
            for (let n = 0; n < N; n++) {
              const want = m[c] === 1 ? x[c * N + n] : (mu ? mu[c] : 0);
              assert.equal(got.x[c * N + n], want, `${what} node ${c}`);
            }
          }
        }
      }
    }
  });
});

Deno.test("rmsnorm with a frozen scale: bit-exact vs twin; recomputes the forward when rstd is its own", async () => {
  await withBoth((one, two) => {
    let seed = 40;
    for (const C of CHANNELS) {
      for (const N of TOKENS) {
        const x = randArray(C * N, seed++, 2), w = randArray(C, seed++, 1.5);
        const dout = randArray(C * N, seed++);
        const outs = [one, two].map((be) =>
          scoped(be, () => {
            const tx = upload(be, x), tw = upload(be, w), out = be.arena.tensor([C * N]);
            const rstd = be.arena.tensor([N]), out2 = be.arena.tensor([C * N]);
            const dinp = be.arena.tensor([C * N]), dw = be.arena.tensor([C]);
            const tdo = upload(be, dout);
            ops.rmsnormForward(be, {
              out: out.ptr,
              rstd: rstd.ptr,
              inp: tx.ptr,
              weight: tw.ptr,
              C,
              N,
            });
            ops.rmsnormScale(be, {
              out: out2.ptr,
              rstd: rstd.ptr,
              inp: tx.ptr,
              weight: tw.ptr,
              C,
              N,
            });
            ops.rmsnormBackward(be, {
              dinp: dinp.ptr,
              dweight: dw.ptr,
              dout: tdo.ptr,
              inp: tx.ptr,
              weight: tw.ptr,
              rstd: rstd.ptr,
              C,
              N,
              frozen: true,
            });
            const v = (p: number, n: number) => be.arena.f32(p, n).slice();
            return {
              out: v(out.ptr, C * N),
              out2: v(out2.ptr, C * N),
              rstd: v(rstd.ptr, N),
              dinp: v(dinp.ptr, C * N),
              dw: v(dw.ptr, C),
            };
          })
        );
        const wout = new Float32Array(C * N), wd = new Float32Array(C * N);
        const wdw = new Float32Array(C);
        refNorm.rmsnormScale({ out: wout, rstd: outs[0].rstd, inp: x, weight: w, C, N });
        refNorm.rmsnormBackward({
          dinp: wd,
          dweight: wdw,
          dout,
          inp: x,
          weight: w,
          rstd: outs[0].rstd,
          C,
          N,
          frozen: true,
        });
        for (const o of outs) {
          assertBits(o.out2, o.out, `C=${C} N=${N} scale = forward`);
          assertBits(o.out2, wout, `C=${C} N=${N} scale twin`);
          assertBits(o.dinp, wd, `C=${C} N=${N} frozen backward dinp`);
          assertBits(o.dw, wdw, `C=${C} N=${N} frozen backward dweight`);
        }
      }
    }
  });
});

Deno.test("node table: ids, indices and widths agree", () => {
  const d = { V: 300, C: 32, M: 64, H: 2, D: 16, L: 2, HD: 32, P: 0, PW: 0 };
  const layout = new Map<string, number>();
  let i = 0;
  for (let l = 0; l < d.L; l++) {
    for (const loc of LOCATIONS) {
      for (let c = 0; c < loc.width(d); c++) layout.set(`${l}.${loc.name}.${c}`, i++);
    }
  }
  const nl = nodeLayout(d);
  assert.equal(nl.total, i);
  for (const [id, idx] of layout) {
    const n = parseNodeId(id)!;
    assert.equal(nodeId(n), id);
    assert.equal(nodeIndex(d, nl, n), idx);
    assert.deepEqual(nodeAt(d, nl, idx), n);
  }
  assert.equal(parseNodeId("0.attn.z.1"), null);
  assert.equal(parseNodeId("x"), null);
  assert.equal(nodeIndex(d, nl, { layer: 2, location: "attn.q", index: 0 }), -1);
  assert.equal(nodeIndex(d, nl, { layer: 0, location: "attn.q", index: 32 }), -1);
});

const CFG: ModelConfig = tinyModelConfig();

async function tinyModel(threads: number, dPosEmb: number) {
  const be = await Backend.create({ threads, minParallelWork: 0 });
  const model = new Model(be, { ...CFG, dPosEmb });
  model.init(3);
  const r = rng(9);
  for (const s of model.layout.specs) {
    const v = model.view(s);
    if (s.init !== "normal") {
      for (let i = 0; i < v.length; i++) v[i] = s.init === "ones" ? 0.5 + r() : (r() - 0.5) * 0.2;
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
    if (s.init === "normal") { for (let i = 0; i < v.length; i++) v[i] *= 10; }
  }
  model.refresh(true);
  const B = 2, T = 8;
  const tokens = new Int32Array(B * T).map(() => Math.floor(r() * CFG.vocabSize));
  return { be, model, tokens, B, T };
}

/** Arena vectors over the model's nodes: mask, mean, mask gradient. */
function ablationBuffers(model: Model, mask: (i: number) => number, mean: (i: number) => number) {
  const n = model.nodes.total, arena = model.be.arena;
  const m = arena.tensor([n], "mask"), mu = arena.tensor([n], "mean"), dm = arena.tensor([n]);
  arena.view(m).set(Float32Array.from({ length: n }, (_, i) => mask(i)));
  arena.view(mu).set(Float32Array.from({ length: n }, (_, i) => mean(i)));
  return { mask: m.ptr, mean: mu.ptr, dmask: dm.ptr };
}

for (const dPosEmb of [0, 8]) {
  Deno.test(`decoder: an all-ones mask computes the plain forward's logits bit for bit (d_pos_emb ${dPosEmb})`, async () => {
    const { be, model, tokens, B, T } = await tinyModel(2, dPosEmb);
    try {
      // The ablation's mean must not leak into kept nodes: give every node a large one.
      const abl = ablationBuffers(model, () => 1, (i) => 3 + (i % 7));
      model.forward(tokens, null, B, T);
      const { V } = model.d;
      const plain = be.arena.f32(model.acts.logits, V * B * T).slice();
      model.under({ ablation: abl }, () => model.forward(tokens, null, B, T));
      const masked = be.arena.f32(model.acts.logits, V * B * T).slice();
      for (let i = 0; i < plain.length; i++) {
        if (plain[i] !== masked[i]) assert.fail(`logit ${i}: ${masked[i]} vs ${plain[i]}`);
      }
      // And "record" then "frozen" norms reproduce the same logits when nothing is ablated.
      model.under({ ablation: abl, norm: "record" }, () => model.forward(tokens, null, B, T));
      model.under({ ablation: abl, norm: "frozen" }, () => model.forward(tokens, null, B, T));
      const frozen = be.arena.f32(model.acts.logits, V * B * T).slice();
      for (let i = 0; i < plain.length; i++) {
        if (plain[i] !== frozen[i]) assert.fail(`frozen logit ${i}: ${frozen[i]} vs ${plain[i]}`);
      }
    } finally {
      be.close();
    }
  });
}

/** Every AbsTopK mask of the last forward, concatenated. */
function topkMasks(model: Model): Uint8Array {
  const { C, M, HD, P } = model.d;
  const a = model.acts;
  const parts: number[] = [];
  for (const l of a.layers) {
    for (
      const [p, c] of [
        [l.attnActInMask, C + P],
        [l.attnQkvMask, 3 * HD],
        [l.attnResidDeltaMask, C],
        [l.mlpActInMask, C + P],
        [l.mlpPostActMask, M],
        [l.mlpResidDeltaMask, C],
      ]
    ) {
      parts.push(...model.be.arena.u8(p, c * a.N));
    }
  }
  return Uint8Array.from(parts);
}

const sameMasks = (a: Uint8Array, b: Uint8Array) => a.every((x, i) => x === b[i]);

/** Pair loss at each row's last position for candidates (a, b), with its dlogits seeded. */
function pairLoss(model: Model, B: number, T: number, seedGrad: boolean): number {
  const be = model.be, arena = be.arena, { V } = model.d, N = B * T;
  return scoped(be, () => {
    const pos = arena.tensor([B]), a = arena.tensor([B]), b = arena.tensor([B]);
    const losses = arena.tensor([B]);
    arena.viewI32(pos).set(Int32Array.from({ length: B }, (_, r) => r * T + T - 1));
    arena.viewI32(a).set(Int32Array.from({ length: B }, (_, r) => 7 + r));
    arena.viewI32(b).set(Int32Array.from({ length: B }, (_, r) => 100 + 3 * r));
    const args = { logits: model.acts.logits, pos: pos.ptr, a: a.ptr, b: b.ptr, count: B, V, N };
    ops.pairLossForward(be, { ...args, losses: losses.ptr });
    if (seedGrad) {
      ops.fill(be, { x: model.acts.dlogits, n: V * N, value: 0 });
      ops.pairLossBackward(be, { ...args, dlogits: model.acts.dlogits, scale: 1 / B });
    }
    return ops.meanLoss(be, { losses: losses.ptr, N: B });
  });
}

for (const [dPosEmb, freeze] of [[0, false], [8, false], [0, true]] as const) {
  Deno.test(`decoder: mask gradient from a pair-loss seed matches finite differences (d_pos_emb ${dPosEmb}${freeze ? ", frozen norms" : ""})`, async () => {
    const { be, model, tokens, B, T } = await tinyModel(1, dPosEmb);
    try {
      const r = rng(21);
      const abl = ablationBuffers(model, () => 1, () => (r() - 0.5) * 0.4);
      const norm = freeze ? "frozen" : "compute";
      model.under({ ablation: abl }, () => {
        const n = model.nodes.total;
        const mask = be.arena.f32(abl.mask, n);
        // Fractional masks make the loss smooth in m (the forward is linear in each m).
        for (let i = 0; i < n; i++) mask[i] = 0.3 + 0.6 * r();
        if (freeze) model.under({ norm: "record" }, () => model.forward(tokens, null, B, T));
        model.under({ norm }, () => {
          const grads = be.arena.f32(model.grads, model.layout.total);
          grads.fill(0);
          model.forward(tokens, null, B, T);
          pairLoss(model, B, T, true);
          const base = topkMasks(model);
          be.arena.f32(abl.dmask, n).fill(0);
          model.backward({ seed: "dlogits", weightGrads: false });
          assert.ok(grads.every((g) => g === 0), "weight gradients were written");
          const dm = be.arena.f32(abl.dmask, n).slice();
          const idx = Array.from({ length: n }, (_, i) => i).sort((x, y) =>
            Math.abs(dm[y]) - Math.abs(dm[x])
          ).slice(0, 120);
          let checked = 0;
          for (const i of idx) {
            if (Math.abs(dm[i]) < 1e-4) continue;
            const m0 = mask[i], eps = 0.01;
            mask[i] = m0 + eps;
            model.forward(tokens, null, B, T);
            const lp = pairLoss(model, B, T, false);
            const mp = topkMasks(model);
            mask[i] = m0 - eps;
            model.forward(tokens, null, B, T);
            const lm = pairLoss(model, B, T, false);
            const mm = topkMasks(model);
            mask[i] = m0;
            // Finite differences hold only where no AbsTopK choice downstream flips.
            if (!sameMasks(base, mp) || !sameMasks(base, mm)) continue;
            const fd = (lp - lm) / (2 * eps);
            assert.ok(
              Math.abs(fd - dm[i]) <= 0.05 * Math.abs(dm[i]) + 1e-4,
              `${nodeId(nodeAt(model.d, model.nodes, i))}: backward ${
                dm[i]
              }, finite difference ${fd}`,
            );
            checked++;
          }
          assert.ok(checked >= 15, `only ${checked} mask coordinates checked`);
        });
      });
    } finally {
      be.close();
    }
  });
}

Deno.test("gather/scatter columns: exact vs the twin, 1 = 2 threads", async () => {
  await withBoth((one, two) => {
    for (const [C, N, R] of [[1, 1, 1], [5, 17, 4], [33, 64, 64], [16, 9, 12]]) {
      const x = randArray(C * N, C + N, 2), y = randArray(C * R, R, 1);
      const idx = Int32Array.from({ length: R }, (_, r) => (r * 7 + 3) % N);
      const outs = [one, two].map((be) =>
        scoped(be, () => {
          const tx = upload(be, x), ty = upload(be, y), g = be.arena.tensor([C * R]);
          const ti = be.arena.tensor([R]);
          be.arena.viewI32(ti).set(idx);
          ops.gatherCols(be, { out: g.ptr, inp: tx.ptr, idx: ti.ptr, C, N, R });
          ops.scatterAddCols(be, { out: tx.ptr, inp: ty.ptr, idx: ti.ptr, C, N, R });
          return { g: be.arena.view(g).slice(), s: be.arena.f32(tx.ptr, C * N).slice() };
        })
      );
      const g = new Float32Array(C * R), s = x.slice();
      refGather.gatherCols({ out: g, inp: x, idx, C, N, R });
      refGather.scatterAddCols({ out: s, inp: y, idx, C, N, R });
      for (const o of outs) {
        assertBits(o.g, g, `gather C=${C} N=${N} R=${R}`);
        assertBits(o.s, s, `scatter C=${C} N=${N} R=${R}`);
      }
    }
  });
});

Deno.test("decoder: logits at chosen columns and their backward give the full pass's bits", async () => {
  const { be, model, tokens, B, T } = await tinyModel(2, 8);
  try {
    const r = rng(33);
    const abl = ablationBuffers(model, () => 1, () => (r() - 0.5) * 0.4);
    const n = model.nodes.total, mask = be.arena.f32(abl.mask, n);
    for (let i = 0; i < n; i++) mask[i] = r() < 0.7 ? 1 : 0;
    const { V } = model.d, N = B * T;
    const rows = Int32Array.from({ length: B }, (_, b) => b * T + T - 1 - b);
    const colPtr = be.arena.tensor([B]).ptr;
    be.arena.i32(colPtr, B).set(rows);
    const seed = (full: boolean) => {
      ops.fill(be, { x: model.acts.dlogits, n: V * (full ? N : B), value: 0 });
      const d = be.arena.f32(model.acts.dlogits, V * (full ? N : B));
      for (let b = 0; b < B; b++) {
        const col = full ? rows[b] : b, width = full ? N : B;
        d[(7 + b) * width + col] = 0.25;
        d[(100 + b) * width + col] = -0.5;
      }
    };
    const run = (full: boolean) => {
      be.arena.f32(abl.dmask, n).fill(0);
      model.forward(tokens, null, B, T, full ? {} : { logitCols: { ptr: colPtr, count: B } });
      const logits = be.arena.f32(model.acts.logits, V * (full ? N : B)).slice();
      const at = new Float32Array(V * B);
      for (let v = 0; v < V; v++) {
        for (let b = 0; b < B; b++) {
          at[v * B + b] = full ? logits[v * N + rows[b]] : logits[v * B + b];
        }
      }
      seed(full);
      be.arena.f32(model.grads, model.layout.total).fill(0);
      model.backward({ seed: "dlogits" });
      return {
        at,
        dm: be.arena.f32(abl.dmask, n).slice(),
        g: be.arena.f32(model.grads, model.layout.total).slice(),
      };
    };
    const full = model.under({ ablation: abl }, () => run(true));
    const cols = model.under({ ablation: abl }, () => run(false));
    assertBits(cols.at, full.at, "logits");
    const same = (a: Float32Array, b: Float32Array, what: string) => {
      for (let i = 0; i < a.length; i++) {
        if (a[i] !== b[i]) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]}`);
      }
    };
    same(cols.dm, full.dm, "mask gradient");
    same(cols.g, full.g, "weight gradients");
  } finally {
    be.close();
  }
});
