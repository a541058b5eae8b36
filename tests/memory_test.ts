/**
 * What a model needs of the WebAssembly memory, from the same tables that allocate it: the
 * activations' size equals what a pass allocates, a pass's rows follow the memory left (not the
 * training batch), a validation batch split over passes gives the unsplit loss, and a model that
 * cannot hold one sequence is one line, not an arena error.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { UserError } from "../src/errors.ts";
import { dims } from "../src/model/config.ts";
import {
  ARENA_BYTES,
  inferenceBytes,
  openedWeightBytes,
  rowsPerPass,
  trainingBytes,
} from "../src/model/memory.ts";
import { circuitEdges } from "../src/prune/edges.ts";
import { buildModel, packedNonzeros, parseRunFiles } from "../src/run/open.ts";
import { makeRandomRun } from "./run_fixture.ts";
import { PRESETS } from "../src/train/presets.ts";
import { type Ablation, activationBytes, Model } from "../src/model/model.ts";
import { linearWeights, paramFloats, paramLayout } from "../src/model/params.ts";
import { validationXent } from "../src/train/validation.ts";
import { StepRunner } from "../src/train/step.ts";
import { rng, sameBits, tinyModelConfig } from "./util.ts";

Deno.test("memory: activationBytes is what a pass allocates, paramFloats the layout's size", async () => {
  const be = await Backend.create();
  try {
    for (const [P, layers] of [[0, 2], [8, 3]]) {
      const cfg = { ...tinyModelConfig(), dPosEmb: P, nLayer: layers };
      assert.equal(paramFloats(cfg), paramLayout(cfg).total);
      const model = new Model(be, cfg, { training: false });
      for (const [B, T, raw] of [[2, 8, false], [3, 16, true]] as const) {
        const mark = be.arena.used;
        const ab: Ablation | null = raw
          ? { mask: be.arena.tensor([model.nodes.total]).ptr, mean: 0, dmask: 0 }
          : null;
        const before = be.arena.used;
        model.under({ ablation: ab }, () => model.prepare(B, T));
        const used = be.arena.used - before;
        const want = activationBytes(dims(cfg), B, T, raw);
        const buffers = raw ? 200 : 160;
        // Each buffer starts on a 64-byte boundary: at most 63 bytes of padding apiece.
        assert.ok(used >= want && used <= want + 64 * buffers, `B ${B} T ${T}: ${used} vs ${want}`);
        model.releaseActs();
        be.arena.restore(mark);
      }
    }
  } finally {
    be.close();
  }
});

Deno.test("memory: a pass takes the rows the memory holds, and one line when not even one fits", async () => {
  const be = await Backend.create();
  try {
    const cfg = { ...tinyModelConfig(), nCtx: 64 };
    const model = new Model(be, cfg, { training: false });
    assert.equal(rowsPerPass(model, 64, 16, true), 16);
    const most = rowsPerPass(model, 64, 1e9, false);
    const free = be.arena.maxBytes - be.arena.used;
    assert.ok(activationBytes(model.d, most, 64, false) <= free);
    assert.ok(activationBytes(model.d, most + 1, 64, false) > free - 64 * 1024 ** 2);
    // With the model's activations holding that many rows already, the next pass may still take
    // them: a larger pass releases those buffers first (eval's validation after its tasks).
    model.prepare(most, 64);
    assert.equal(rowsPerPass(model, 64, 1e9, false), most);
    model.prepare(1, 64);
    assert.equal(rowsPerPass(model, 64, 1e9, false), most);
    model.releaseActs();
    assert.throws(() => rowsPerPass(model, 40000, 8, true), (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^one sequence of 40000 tokens needs [\d.]+ GiB of activations/);
      return true;
    });
    // A width-8 model trained elsewhere on 64 × 128-token batches cannot be trained here, but
    // opens for evaluation and pruning (in passes of fewer rows).
    const ef8 = { ...PRESETS.small.model, ef: 8 };
    // The sparse-gradient mode's kept gradient (f32) and two compressed forms (index and value)
    // of every weight KeptGrads keeps.
    const rk = { ...PRESETS.tiny, model: tinyModelConfig() };
    rk.train = { ...rk.train, denseGradEvery: 4 };
    const mark = be.arena.used;
    const kept = new StepRunner(be, rk).kept!.tensors.reduce((n, t) => n + t.spec.size, 0);
    be.arena.restore(mark);
    assert.equal(
      trainingBytes(rk.model, 2, 8, 4) - trainingBytes(rk.model, 2, 8),
      20 * kept,
    );
    assert.ok(trainingBytes(ef8, 64, 128) > ARENA_BYTES);
    assert.ok(inferenceBytes(ef8) < ARENA_BYTES);
  } finally {
    be.close();
  }
});

Deno.test("memory: a validation batch in passes of fewer rows gives the batch's loss", async () => {
  const be = await Backend.create();
  try {
    const cfg = tinyModelConfig();
    const model = new Model(be, cfg, { training: false });
    model.init(3);
    model.refresh(true);
    const B = 6, T = cfg.nCtx, r = rng(5);
    const batches = [0, 1].map(() =>
      Int32Array.from({ length: B * (T + 1) }, () => Math.floor(r() * cfg.vocabSize))
    );
    const whole = validationXent(model, batches, B, T);
    for (const rows of [1, 4, 5]) {
      const split = validationXent(model, batches, B, T, rows);
      assert.ok(Math.abs(split - whole) <= 1e-6 * whole, `${rows} rows: ${split} vs ${whole}`);
    }
  } finally {
    be.close();
  }
});

Deno.test("memory: a model opened for inference has no gradients and refuses a weight backward", async () => {
  const be = await Backend.create();
  try {
    const model = new Model(be, tinyModelConfig(), { training: false });
    model.init(1);
    model.refresh(true);
    const T = 8, tokens = new Int32Array(T).fill(5), targets = new Int32Array(T).fill(6);
    model.forward(tokens, targets, 1, T);
    assert.throws(() => model.backward(), /weight gradients of a model opened without them/);
    model.backward({ weightGrads: false });
  } finally {
    be.close();
  }
});

Deno.test("memory: an opened model's sparse weights keep only their nonzeros, with the same logits", async () => {
  const be = await Backend.create({ threads: 2 });
  try {
    const cfg = tinyModelConfig();
    const T = 8, tokens = Int32Array.from({ length: T }, (_, i) => 3 + 7 * i);
    const specs = linearWeights(paramLayout(cfg));
    /**
     * `m` (by default a new model, initialised) with its linear weights kept at about `keep` of
     * their entries; the bytes its refresh allocated and its logits.
     */
    const build = (training: boolean, keep: number, m?: Model) => {
      if (!m) {
        m = new Model(be, cfg, { training });
        m.init(1);
      }
      const r = rng(7);
      let nnz = 0;
      for (const s of specs) {
        const w = m.view(s);
        for (let i = 0; i < w.length; i++) {
          if (r() >= keep) w[i] = 0;
          else if (w[i] === 0) w[i] = 0.01;
          if (w[i] !== 0) nnz++;
        }
      }
      const before = be.arena.used;
      m.refresh(true);
      const bytes = be.arena.used - before;
      m.forward(tokens, null, 1, T);
      return { m, nnz, bytes, logits: be.arena.f32(m.acts.logits, cfg.vocabSize * T).slice() };
    };
    const train = build(true, 1 / 16), open = build(false, 1 / 16);
    assert.equal(open.nnz, train.nnz);
    assert.ok(sameBits(open.logits, train.logits), "the same logits");
    // The compressed forms: 16 bytes per entry when trained, per nonzero when opened (pointers,
    // per-thread column counts and alignment beside).
    const entries = specs.reduce((a, s) => a + s.size, 0);
    assert.ok(train.bytes >= 16 * entries, `${train.bytes} bytes for ${entries} entries`);
    const pointers = specs.reduce(
      (a, { shape: [rows, cols] }) => a + 4 * (rows + 1) + 4 * (cols + 1) + 4 * 2 * cols + 6 * 64,
      0,
    );
    assert.ok(
      open.bytes <= 16 * open.nnz + pointers,
      `${open.bytes} bytes for ${open.nnz} nonzeros and ${pointers} of pointers`,
    );
    // Weights written again with more nonzeros (still sparse) get forms that hold them.
    const denser = build(false, 1 / 6, open.m), denserTrain = build(true, 1 / 6, train.m);
    assert.ok(denser.nnz > open.nnz);
    assert.ok(sameBits(denser.logits, denserTrain.logits), "the same logits after the rewrite");
  } finally {
    be.close();
  }
});

Deno.test("memory: an opened run's sparse linear weights are packed: no dense copy, the same logits, weights and edges", async () => {
  const rc = {
    ...PRESETS.tiny,
    model: { ...PRESETS.tiny.model, nLayer: 2, baseDModel: 32, baseDMlp: 64, nCtx: 16 },
  };
  const layout = paramLayout(rc.model);
  const linear = linearWeights(layout);
  // Sparse linear weights (a quarter of the entries kept: the sparse products' side of
  // SPARSE_DENSITY), one kept dense enough for the dense product (packed: no), a -0 among them.
  const dense = layout.layers[1].fcW.name;
  const dir = await makeRandomRun(rc, "thinwire-packed-", 7, (m) => {
    const r = rng(3);
    for (const s of linear) {
      const w = m.view(s), keep = s.name === dense ? 0.5 : 0.25;
      for (let i = 0; i < w.length; i++) if (r() >= keep) w[i] = 0;
      w[w.findIndex((x) => x === 0)] = -0;
    }
  });
  const be = await Backend.create({ threads: 2 });
  try {
    const files = {
      run: dir,
      config: JSON.parse(await Deno.readTextFile(`${dir}/config.json`)),
      tokenizer: JSON.parse(await Deno.readTextFile(`${dir}/tokenizer.json`)),
      model: await Deno.readFile(`${dir}/model.safetensors`),
    };
    const { tensors } = parseRunFiles(files);
    const open = (packed?: Map<string, number>) => {
      const mark = be.arena.mark();
      const model = buildModel(be, rc, tensors, "model.safetensors", packed);
      return { model, bytes: be.arena.used - mark };
    };
    const plain = open(new Map()), packed = open();
    // Every linear weight but the dense one is packed; its dense copy is gone.
    assert.deepEqual(
      linear.filter((s) => packed.model.isPacked(s)).map((s) => s.name),
      linear.filter((s) => s.name !== dense).map((s) => s.name),
    );
    const saved = linear.filter((s) => s.name !== dense).reduce((a, s) => a + 4 * s.size, 0);
    // (The forms are the same in both: an opened model's hold its nonzeros; 64-byte alignment.)
    assert.ok(
      packed.bytes <= plain.bytes - saved + 64 * linear.length,
      `${packed.bytes} vs ${plain.bytes} - ${saved}`,
    );
    assert.throws(() => packed.model.view(layout.lmHead), /lm_head.weight is packed/);
    const T = rc.model.nCtx, tokens = Int32Array.from({ length: T }, (_, i) => (5 + 11 * i) % 2048);
    const logits = (m: Model) => {
      m.forward(tokens, null, 1, T);
      return be.arena.f32(m.acts.logits, rc.model.vocabSize * T).slice();
    };
    assert.ok(sameBits(logits(packed.model), logits(plain.model)), "the same logits");
    for (const s of layout.specs) {
      const want = tensors.get(s.name)!.data, got = packed.model.weights(s);
      // Packing stores nonzeros: a -0 comes back as +0, every other entry as it was.
      assert.ok(got.every((x, i) => x === want[i]), `${s.name}: the same values`);
    }
    const nodes = Array.from({ length: packed.model.nodes.total }, (_, i) => i).filter((i) =>
      i % 3 === 0
    );
    const edges = circuitEdges(packed.model, nodes);
    assert.ok(edges.length > 0);
    assert.deepEqual(edges, circuitEdges(plain.model, nodes));
    // The refusal's arithmetic counts the packed forms, not the dense copies.
    const packedCounts = packedNonzeros(true, rc.model, tensors);
    assert.equal(packedCounts.size, linear.length - 1);
    // What the model allocated: the weights' bytes, plus each form's per-thread column counts
    // and 64-byte alignment.
    const want = openedWeightBytes(rc.model, packedCounts);
    const slack = linear.reduce((a, s) => a + 4 * 2 * s.shape[1] + 7 * 64, 64);
    assert.ok(packed.bytes >= want && packed.bytes <= want + slack, `${packed.bytes} vs ${want}`);
  } finally {
    be.close();
    await Deno.remove(dir, { recursive: true });
  }
});
