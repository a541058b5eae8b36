/**
 * Circuit pruning's inner loop at the small preset: one batch of pairs (the mask optimiser's 64
 * pairs = 128 prompts of single_double_quote) scored by the plain forward, by the forward with
 * node ablation, and by the masked forward + backward without weight gradients (one mask step),
 * as ratios from one run, with each kernel's share of the masked step.
 *
 *   deno task bench            (all benchmarks)
 *   deno run -A --config bench/bench.json bench/prune_bench.ts [--threads N]
 */
import { parseArgs } from "node:util";
import { Backend } from "../src/backend/backend.ts";
import { loadDefaultTokenizer } from "../src/data/tokenizer.ts";
import { PairScorer, taskItems } from "../src/eval/task_eval.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import { PRESETS } from "../src/train/presets.ts";
import { StepRunner } from "../src/train/step.ts";
import { Rng } from "../src/util/rng.ts";
import { getTask, PRUNE_SEED } from "../tasks/index.ts";
import { bestMs, QUICK } from "./util.ts";

export async function main(argv: string[] = []): Promise<void> {
  const { values } = parseArgs({
    args: argv,
    options: { threads: { type: "string" } },
    strict: false,
  });
  const threads = Number(values.threads ?? (navigator.hardwareConcurrency || 1));
  const rc = structuredClone(PRESETS.small);
  const be = await Backend.create({ threads });
  try {
    // The sparse model at its target L0 (a step at the end of the anneal applies the top-k).
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
    const items = built.items;
    const tokens = items.reduce((s, it) => s + it.tokens.length + 1, 0);
    const scorer = new PairScorer(model, tok, items.length, N, { ablated: true });
    // Node means of a plausible spread (ties among them would slow AbsTopK's threshold search).
    const means = Float32Array.from({ length: model.nodes.total }, () => (rng.float() - 0.5) * 0.2);
    const ms = new MaskedScorer(model, scorer, means, false);
    // A tenth of the nodes kept: a mask step in the middle of optimisation.
    const m = ms.mask;
    for (let i = 0; i < m.length; i++) m[i] = rng.float() < 0.1 ? 1 : 0;
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
      `\n## Pruning: one batch of 64 pairs (${items.length} prompts, ${tokens} tokens), small preset, ${be.threads} thread(s)\n`,
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
  } finally {
    be.close();
  }
}

if (import.meta.main) await main(Deno.args);
