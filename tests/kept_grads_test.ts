/**
 * The sparse-gradient mode (src/train/kept_grads.ts) step by step: kept gradients are the dense
 * ones at the pattern, a sparse step leaves pruned entries and their moments alone, a dense step
 * is the method's step and advances every entry's moments.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { fill } from "../src/backend/ops/index.ts";
import type { ParamSpec } from "../src/model/params.ts";
import { type RunConfig } from "../src/run/config.ts";
import { PRESETS } from "../src/train/presets.ts";
import { isDenseGradStep } from "../src/train/kept_grads.ts";
import { FORMAT_VERSION } from "../src/run/config.ts";
import { readRunConfig, RunDir } from "../src/run/run_dir.ts";
import { StepRunner } from "../src/train/step.ts";
import { Rng } from "../src/util/rng.ts";
import { sameBits } from "./util.ts";

/** Two small layers, 40 steps (the anneal ends at step 20), R = denseGradEvery. */
function config(R: number): RunConfig {
  const rc = structuredClone(PRESETS.tiny);
  rc.model.nCtx = 16;
  rc.train.batchSize = 2;
  rc.train.steps = 40;
  rc.train.denseGradEvery = R;
  return rc;
}

async function runner(rc: RunConfig, threads = 1) {
  const be = await Backend.create({ threads, minParallelWork: 0 });
  const r = new StepRunner(be, rc);
  r.model.init(rc.train.seed);
  r.model.refresh(true);
  const rng = new Rng(11);
  const N = rc.train.batchSize * rc.model.nCtx;
  const batch = () => {
    const x = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
    return [x, new Int32Array(N).map(() => rng.int(rc.model.vocabSize))] as const;
  };
  return { be, r, batch };
}

/** Copies of a tensor's weights and Adam moments. */
function state(r: StepRunner, spec: ParamSpec) {
  const a = r.be.arena;
  return {
    p: r.model.view(spec).slice(),
    m: a.f32(r.adamM + 4 * spec.offset, spec.size).slice(),
    v: a.f32(r.adamV + 4 * spec.offset, spec.size).slice(),
  };
}

Deno.test("sparse-gradient mode", async (t) => {
  await t.step("which steps are dense: (step + 1) % R = 0; every step at R = 1", () => {
    const dense = (R: number) => [...Array(9).keys()].filter((s) => isDenseGradStep(s, config(R)));
    assert.deepEqual(dense(1), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(dense(4), [3, 7]);
  });

  await t.step("a config.json from before the mode reads as R = 1", async () => {
    const dir = await Deno.makeTempDir({ prefix: "thinwire-kept-" });
    try {
      const { denseGradEvery: _, ...train } = PRESETS.tiny.train;
      const cfg = { format_version: FORMAT_VERSION, model: PRESETS.tiny.model, train };
      await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(cfg));
      assert.equal((await readRunConfig(new RunDir(dir))).train.denseGradEvery, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  await t.step("kept gradients are the dense dW's bits at the pattern (both paths)", async () => {
    const { be, r, batch } = await runner(config(2), 2);
    try {
      const kept = r.kept!;
      // First at init (dense weights: gemm + gather), then pruned to the target (sddmm).
      for (const at of [-1, 23]) {
        if (at >= 0) r.step(...batch(), at);
        const [x, y] = batch();
        r.model.forward(x, y, r.rc.train.batchSize, r.rc.model.nCtx);
        kept.setKept(false);
        fill(be, { x: r.model.grads, n: r.model.layout.total, value: 0 });
        r.model.backward();
        const dense = be.arena.f32(r.model.grads, r.model.layout.total).slice();
        kept.setKept(true);
        r.model.backward();
        const paths = new Set<boolean>();
        for (const { spec, lin } of kept.tensors) {
          const w = r.model.view(spec);
          const want = dense.subarray(spec.offset, spec.offset + spec.size).filter((_, i) =>
            w[i] !== 0
          );
          assert.equal(lin.pattern.nnz, want.length, spec.name);
          const got = be.arena.f32(lin.keptGrad, want.length);
          assert.ok(sameBits(got, want), `${spec.name} at step ${at}`);
          paths.add(lin.sparse);
        }
        assert.deepEqual([...paths], [at >= 0], "the product path this check meant to cover");
      }
    } finally {
      be.close();
    }
  });

  await t.step("a dense-gradient step is the method's step, bit for bit", async () => {
    const a = await runner(config(1)), b = await runner(config(4));
    try {
      const [x, y] = a.batch();
      a.r.step(x, y, 3);
      b.r.step(x, y, 3);
      const n = a.r.model.layout.total;
      for (
        const [name, pa, pb] of [
          ["params", a.r.model.params, b.r.model.params],
          ["m", a.r.adamM, b.r.adamM],
          ["v", a.r.adamV, b.r.adamV],
        ] as const
      ) {
        assert.ok(sameBits(a.be.arena.f32(pa, n), b.be.arena.f32(pb, n)), name);
      }
    } finally {
      a.be.close();
      b.be.close();
    }
  });

  await t.step("pruned entries: untouched on sparse steps, moments advance on dense", async () => {
    const { be, r, batch } = await runner(config(4));
    try {
      r.step(...batch(), 23); // dense: pruned to the target
      const specs = r.kept!.tensors.map((k) => k.spec);
      const wte = r.model.layout.wte;
      const before = new Map([...specs, wte].map((s) => [s, state(r, s)]));
      r.step(...batch(), 24); // sparse
      for (const s of specs) {
        const [b, a] = [before.get(s)!, state(r, s)];
        let kept = 0, moved = 0;
        for (let i = 0; i < s.size; i++) {
          if (b.p[i] === 0) {
            assert.ok(a.p[i] === 0 && Object.is(a.m[i], b.m[i]) && Object.is(a.v[i], b.v[i]));
          } else {
            kept++;
            if (a.m[i] !== b.m[i] && a.v[i] !== b.v[i]) moved++;
          }
        }
        assert.ok(kept > 0 && moved > 0.9 * kept, `${s.name}: ${moved} of ${kept} moved`);
      }
      // wte is not a kept tensor: trained as in the method, so the pruned entries of the rows of
      // this batch's tokens move too.
      const [b, a] = [before.get(wte)!, state(r, wte)];
      let pruned = 0, moved = 0;
      for (let i = 0; i < wte.size; i++) {
        if (b.p[i] !== 0) continue;
        pruned++;
        if (a.m[i] !== b.m[i]) moved++;
      }
      assert.ok(pruned > 0 && moved > 0, `wte: ${moved} of ${pruned} pruned moved`);
      r.step(...batch(), 25);
      r.step(...batch(), 26);
      const mid = new Map(specs.map((s) => [s, state(r, s)]));
      r.step(...batch(), 27); // dense
      for (const s of specs) {
        const [b, a] = [mid.get(s)!, state(r, s)];
        let pruned = 0, moved = 0;
        for (let i = 0; i < s.size; i++) {
          if (b.p[i] !== 0) continue;
          pruned++;
          if (a.m[i] !== b.m[i]) moved++;
        }
        assert.ok(pruned > 0 && moved > 0.5 * pruned, `${s.name}: ${moved} of ${pruned} moved`);
      }
    } finally {
      be.close();
    }
  });
});
