/**
 * Circuit pruning's inner loop: one batch of pairs (the mask optimiser's 64 pairs = 128 prompts of
 * single_double_quote) scored by the plain forward, by the forward with node ablation, and by the
 * masked forward + backward without weight gradients (one mask step), as ratios from one run, with
 * each kernel's share of the masked step and the sparse products' share of it.
 *
 * By default on the small preset's shapes (a sparse model at its target L0, random weights), with
 * a tenth of the nodes kept at random. With --model, on a trained run (its node means, its task
 * pairs), and with --circuit, with that circuit file's nodes kept (a mask step late in the
 * optimisation, when most nodes are ablated: their gradient rows cost the backward nothing).
 *
 *   deno task bench            (all benchmarks)
 *   deno run -A --config bench/bench.json bench/prune_bench.ts [--threads N]
 *     [--model runs/paper [--circuit runs/paper/circuits/single_double_quote.json]]
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { exitOnUserError } from "../src/cli_flags.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { PairScorer, type PromptItem, taskItems } from "../src/eval/task_eval.ts";
import { nodeIndex } from "../src/model/nodes.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import { nodeMeans } from "../src/prune/means.ts";
import { makeScorer, taskData } from "../src/prune/task_data.ts";
import { checkCircuitFits, parseCircuitText } from "../src/run/circuit.ts";
import { loadRun } from "../src/run/run_dir.ts";
import { PRESETS } from "../src/train/presets.ts";
import { StepRunner } from "../src/train/step.ts";
import { Rng } from "../src/util/rng.ts";
import { getTask, PRUNE_SEED } from "../tasks/index.ts";
import { bestMs, QUICK } from "./util.ts";

interface Setup {
  what: string;
  ms: MaskedScorer;
  items: PromptItem[];
  close: () => void;
}

/** The small preset's sparse model at its target L0 (random weights), a tenth of nodes kept. */
async function smallPreset(threads: number): Promise<Setup> {
  const rc = structuredClone(PRESETS.small);
  const be = await Backend.create({ threads });
  // A step at the end of the anneal applies the top-k.
  const runner = new StepRunner(be, rc);
  runner.model.init(rc.train.seed);
  const B = rc.train.batchSize, T = rc.model.nCtx, N = B * T;
  const rng = new Rng(7);
  const x = new Int32Array(N).map(() => rng.int(rc.model.vocabSize));
  runner.step(x, x, rc.train.steps - 1);
  const model = runner.model;
  const tok = loadDefaultTokenizer();
  const built = taskItems(tok, getTask("single_double_quote"), PRUNE_SEED, 64);
  if (built.note !== null) throw new Error(built.note);
  const scorer = new PairScorer(model, tok, built.items.length, N, { ablated: true });
  // Node means of a plausible spread (ties among them would slow AbsTopK's threshold search).
  const means = Float32Array.from({ length: model.nodes.total }, () => (rng.float() - 0.5) * 0.2);
  const ms = new MaskedScorer(model, scorer, means, false);
  keepRandomTenth(ms, rng);
  return {
    what: "small preset",
    ms,
    items: built.items,
    close: () => be.close(),
  };
}

function keepRandomTenth(ms: MaskedScorer, rng: Rng): void {
  const m = ms.mask;
  for (let i = 0; i < m.length; i++) m[i] = rng.float() < 0.1 ? 1 : 0;
}

/** A trained run: its means and task pairs; a circuit file's nodes kept, or a random tenth. */
async function trainedRun(threads: number, dir: string, circuit?: string): Promise<Setup> {
  const r = await loadRun(dir, { threads });
  const c = circuit ? parseCircuitText(await Deno.readTextFile(circuit), circuit) : null;
  if (c && circuit) checkCircuitFits(c, r.rc.model, c.task, circuit);
  const task = getTask(c?.task ?? "single_double_quote");
  const data = taskData(r, task, 64, 1);
  if ("note" in data) throw new Error(data.note);
  const means = (await nodeMeans(r)).means.mean;
  const ms = new MaskedScorer(r.model, makeScorer(r, data.pool.length), means, false);
  if (c) ms.keepOnly(c.nodes.map((n) => nodeIndex(r.model.d, r.model.nodes, n)));
  else keepRandomTenth(ms, new Rng(7));
  const kept = c ? `${c.nodes.length} nodes of ${c.task} kept` : "a tenth of the nodes kept";
  return {
    what: `${r.name} (${kept})`,
    ms,
    items: data.pool,
    close: () => r.close(),
  };
}

export async function main(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: {
      threads: { type: "string" },
      model: { type: "string" },
      circuit: { type: "string" },
    },
    strict: false,
  });
  const threads = Number(values.threads ?? (navigator.hardwareConcurrency || 1));
  const model = typeof values.model === "string" ? values.model : undefined;
  const circuit = typeof values.circuit === "string" ? values.circuit : undefined;
  const setup = model ? await trainedRun(threads, model, circuit) : await smallPreset(threads);
  const { ms, items } = setup;
  const be = ms.model.be as Backend;
  try {
    const tokens = items.reduce((s, it) => s + it.tokens.length + 1, 0);
    const step = () => void ms.maskGradient(items);
    const o = { reps: QUICK ? 2 : 5, budgetMs: QUICK ? 1000 : 4000 };
    const plain = bestMs(() => void ms.score(items, false), o);
    const masked = bestMs(() => void ms.score(items), o);
    const both = bestMs(step, o);
    be.profile = new Map();
    step();
    const prof = [...be.profile.entries()].sort((p, q) => q[1].ms - p[1].ms);
    be.profile = null;
    const total = prof.reduce((s, [, e]) => s + e.ms, 0);
    console.log(
      `\n## Pruning: one batch of ${
        items.length / 2
      } pairs (${items.length} prompts, ${tokens} tokens), ${setup.what}, ${be.threads} thread(s)\n`,
    );
    const row = (name: string, t: number) =>
      `| ${name.padEnd(34)} | ${t.toFixed(1).padStart(8)} | ${
        (tokens / (t / 1000) / 1000).toFixed(1).padStart(9)
      } | ${(t / plain).toFixed(2).padStart(9)} |`;
    console.log(
      `| ${"pass".padEnd(34)} | ${"ms".padStart(8)} | ${"ktok/s".padStart(9)} | ${
        "× plain".padStart(9)
      } |`,
    );
    console.log(`|${"-".repeat(36)}|${"-".repeat(10)}|${"-".repeat(11)}|${"-".repeat(11)}|`);
    console.log(row("plain forward", plain));
    console.log(row("masked forward", masked));
    console.log(row("masked forward + backward (a step)", both));
    console.log(`\nkernel shares of the masked step:`);
    for (const [k, e] of prof.slice(0, 12)) {
      console.log(`  ${k.padEnd(32)} ${(100 * e.ms / total).toFixed(1).padStart(5)}%`);
    }
    const sparse = prof.filter(([k]) => k.startsWith("spmm_") || k.startsWith("csc_"))
      .reduce((s, [, e]) => s + e.ms, 0);
    console.log(`  (the sparse products, packing included: ${(100 * sparse / total).toFixed(1)}%)`);
  } finally {
    setup.close();
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    // A --model or --circuit that is not a run or a circuit of it: one line, as the CLI says it.
    exitOnUserError(e);
  }
}
