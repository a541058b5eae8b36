/**
 * The viewer on a wide model: how long the page's live numbers take after a toggle, on a model of
 * the paper's regime (ef 4: d_model 512, d_mlp 2048, 4 layers, 22.5k nodes, block density 1/64).
 * The weights are random (drawn, then cut to the density by magnitude), which costs what trained
 * ones do; the circuit is what the pruner finds on them for one task, at a target a random model
 * meets. The engine runs exactly as the page's worker does (src/view/engine.ts), with 2 threads.
 *
 * Run: deno run -A bench/view_wide_bench.ts [--ef 4] [--threads 2]
 */
import { parseArgs } from "node:util";
import { DEFAULT_WASM_URL } from "../src/backend/wasm.ts";
import type { RunConfig } from "../src/run/config.ts";
import { loadRun, RunDir } from "../src/run/run_dir.ts";
import { circuitJson } from "../src/prune/circuit_file.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import { findCircuit } from "../src/prune/prune.ts";
import { DEFAULT_HP, PRUNE_DEFAULTS, type PruneSettings } from "../src/prune/settings.ts";
import { makeScorer, taskData } from "../src/prune/task_data.ts";
import { makeRandomRun } from "../tests/run_fixture.ts";
import { PRESETS } from "../src/train/presets.ts";
import { Engine } from "../src/view/engine.ts";
import { getTask } from "../tasks/index.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { ef: { type: "string" }, threads: { type: "string" } },
});
const ef = Number(values.ef ?? 4), threads = Number(values.threads ?? 2);
const rc: RunConfig = structuredClone(PRESETS.small);
rc.model.ef = ef;
const density = rc.train.pfrac / (ef * ef);
const TASK = getTask("single_double_quote");

// A random model at the block density of its width.
const dir = await makeRandomRun(rc, "thinwire-view-wide-", 1, (m) => {
  for (const s of m.layout.specs) {
    if (s.cls !== "block") continue;
    const w = m.view(s), keep = Math.ceil(density * w.length);
    const cut = Float32Array.from(w, Math.abs).sort().reverse()[keep - 1];
    for (let i = 0; i < w.length; i++) if (Math.abs(w[i]) < cut) w[i] = 0;
  }
});
try {
  const run = new RunDir(dir);
  // Its circuit for one task, as prune finds it (a random model: a target it meets).
  const r = await loadRun(dir, { threads });
  const data = taskData(r, TASK, 32, 32);
  if ("note" in data) throw new Error(data.note);
  const ms = new MaskedScorer(r.model, makeScorer(r, 64), null, false);
  const full = ms.score(data.evalItems, false).meanLoss;
  const st: PruneSettings = {
    ...PRUNE_DEFAULTS,
    target: full + 0.02,
    method: "learned",
    ablation: "zero",
    freezeNorm: false,
    seed: 0,
    hp: { ...DEFAULT_HP, steps: 10 },
    randomDraws: 2,
    randomPairs: 8,
    deltaPairs: 4,
    bisectPairs: 32,
    maskPairs: 32,
  };
  const t0 = performance.now();
  const res = findCircuit(ms, data, st);
  const pruneS = (performance.now() - t0) / 1000;
  const circuit = circuitJson(r, data, res, st, {
    prunePairs: 32,
    evalPairs: 32,
    meansTokens: 0,
    means: null,
    timeS: pruneS,
  });
  r.close();

  const engine = await Engine.open(
    {
      run: dir,
      config: await run.readJson(run.config),
      tokenizer: await run.readJson(run.tokenizer),
      model: await run.readBytes(run.model),
      means: null,
    },
    { wasm: await Deno.readFile(DEFAULT_WASM_URL), threads, shared: threads > 1 },
  );
  const ids = circuit.nodes.map((n) => n.id);
  engine.setCircuit(circuit);
  engine.evaluate(ids);
  engine.evaluate(ids, { estimate: true });
  const time = (f: () => unknown) => {
    const t = performance.now();
    f();
    return performance.now() - t;
  };
  console.log(
    `ef ${ef}: ${engine.model.nodes.total} nodes, circuit ${ids.length} nodes ` +
      `(pruned in ${pruneS.toFixed(1)} s), ${threads} thread(s)`,
  );
  console.log("| toggled node's layer | estimate (8 pairs) ms | exact (32 pairs) ms |");
  console.log("|---|---|---|");
  for (let l = 0; l < engine.model.d.L; l++) {
    const id = `${l}.mlp.post_act.7`;
    const kept = ids.includes(id) ? ids.filter((x) => x !== id) : [...ids, id];
    const est = time(() => engine.evaluate(kept, { estimate: true }));
    const exact = time(() => engine.evaluate(kept));
    engine.evaluate(ids, { estimate: true });
    engine.evaluate(ids);
    console.log(`| ${l} | ${est.toFixed(0)} | ${exact.toFixed(0)} |`);
  }
  engine.close();
} finally {
  await Deno.remove(dir, { recursive: true });
}
