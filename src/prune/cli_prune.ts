/**
 * `thinwire prune`: finds the circuit behind one task (or every task the model solves), writes
 * `runs/<name>/circuits/<task>.json` (docs/circuit-format.md) and prints what it measured.
 */

import {
  commandFlags,
  COMPUTE_FLAGS,
  computeFlags,
  computeUsage,
  intFlag,
  numberFlag,
  openModelFlag,
  required,
  taskListFlag,
} from "../cli_flags.ts";
import type { BackendKind } from "../backend/backend.ts";
import { backendLabel } from "../backend/create.ts";
import { UserError } from "../errors.ts";
import { CHANCE_LOSS } from "../eval/accuracy.ts";
import type { Circuit } from "../run/circuit.ts";
import { type LoadedRun, writeAtomic, writeCircuit, writeSummary } from "../run/run_dir.ts";
import { formatDuration, Progress } from "../util/progress.ts";
import { getTask, type Task, TASKS } from "../../tasks/index.ts";
import { neuronpediaGraph } from "./neuronpedia.ts";
import { RETRY_NOISE, RETRY_WARMUP, type RetrySettings } from "./prune.ts";
import {
  DEFAULT_HP,
  type MaskHyperparams,
  PRUNE_DEFAULTS,
  type PruneSettings,
} from "./settings.ts";
import { MEANS_TOKENS } from "./means.ts";
import {
  atChance,
  outcomesGeomean,
  pruneTask,
  summaryJson,
  type TaskOutcome,
  TRAIN_LONGER,
  unprunableReason,
} from "./task_prune.ts";
import { nodeMeans } from "./means.ts";
import { taskData } from "./task_data.ts";
import { MAX_PAIRS } from "../eval/task_eval.ts";
import { LOCATIONS } from "../model/nodes.ts";

const USAGE = `usage: deno task prune --model DIR (--task NAME | --all) [options]

Finds the smallest set of nodes that keeps a task's loss at or under the target with every other
node ablated (docs/method.md §4), writes DIR/circuits/<task>.json and prints nodes per location,
edges, and the losses on held-out pairs: full model, circuit alone (sufficiency), circuit ablated
(necessity), random circuits of the same size.

  --model DIR         run folder                                                  required
  --task NAME         one task (repeat or comma list for several: one the model cannot do is
                      said and skipped, and the exit code is 1)
  --all               every task the full model solves; writes circuits/summary.json
  --target X          task-loss target, below ln 2 ≈ 0.693 (default ${PRUNE_DEFAULTS.target})
  --method M          learned (masks, default) | attribution (gradient × (x − μ))
  --ablation A        mean (pretraining means, default) | zero
  --freeze-norm       every RMSNorm keeps the unpruned model's scale, per token
  --trials N          hyperparameter search: N seeded random trials, best kept (default 1)
  --restarts N        search from N seeds (--seed, --seed + 1, …) and keep the circuit with the
                      fewest edges that meets the target on the pruning pairs; its file records
                      its seed (default 1; N times the search's time)
  --format F          json (default) | neuronpedia (also writes <task>.neuronpedia.json)
  --seed N            mask init, batch order, random baselines (default 0)
  --steps N           mask optimisation steps (default ${DEFAULT_HP.steps})
  --batch-pairs N     pairs per step (default ${DEFAULT_HP.batchPairs})
  --lr X              (default ${DEFAULT_HP.lr})
  --k-coef X          weight of Σm in the loss, per node at every width (default ${DEFAULT_HP.kCoef})
  --edge-coef X       weight in the loss of the edges among the nodes on (Σ m_i·m_j over the
                      nonzero weights between nodes), beside k_coef's per node (default ${DEFAULT_HP.edgeCoef}:
                      none, the paper's objective)
  --temperature X     Heaviside surrogate temperature (default ${DEFAULT_HP.temperature})
  --init-bias X       τ init mean (default ${DEFAULT_HP.initBias})
  --init-noise X      τ init spread (default ${DEFAULT_HP.initNoise})
  --weight-decay X    AdamW decay of τ (default ${DEFAULT_HP.weightDecay})
  --mask-noise X      std of Gaussian noise on τ before the forward's step, decaying to 0, so
                      nodes useful only together (a head's key and value) keep a gradient
                      (default ${DEFAULT_HP.maskNoise}; 0: none)
  --loss-set-point X  a full model surer than this on the pruning pairs trains the masks on its
                      logits cooled to this loss (default ${DEFAULT_HP.lossSetPoint}; 0: never)
  --penalty-warmup X  fraction of the steps over which k_coef and edge_coef ramp up from 0 (default
                      ${DEFAULT_HP.penaltyWarmup}: the full penalty from the first step; masks that collapse are retried at
                      mask noise ${RETRY_NOISE}, then with warmup ${RETRY_WARMUP}, then at both coefficients / 10)
  --rerank N          rounds of re-ranking the circuit by attribution inside it and bisecting
                      again, kept while it shrinks (default ${DEFAULT_HP.rerank}; 0: the τ ranking only)
  --trim N            passes of trimming the circuit: its nodes tried most edges first, in
                      groups that double after a drop and halve after a refusal, and dropped
                      where the rest still meets the target (default ${DEFAULT_HP.trim}: none)
  --prune-pairs N     pruning pairs (default ${PRUNE_DEFAULTS.prunePairs}, PRUNE_SEED)
  --mask-pairs N      the first of them, where the masks train; k must also meet the target on
                      the rest, unseen until then (default ${PRUNE_DEFAULTS.maskPairs})
  --bisect-pairs N    the first of those, where k is bisected and calibrated; the rest of the
                      pruning pairs check k with that calibration (default ${PRUNE_DEFAULTS.bisectPairs})
  --check-margin X    standard errors of their mean by which those other pairs must meet the
                      target (default ${PRUNE_DEFAULTS.checkMargin}; 0: just meet it); where
                      the whole model meets it by fewer, by the whole number it does meet
  --pairs N           held-out evaluation pairs (default ${PRUNE_DEFAULTS.evalPairs}, EVAL_SEED)
  --random-draws N    random circuits for the baseline (default ${PRUNE_DEFAULTS.randomDraws})
  --random-pairs N    evaluation pairs each is measured on (default ${PRUNE_DEFAULTS.randomPairs})
  --delta-pairs N     evaluation pairs each node's delta is measured on (default ${PRUNE_DEFAULTS.deltaPairs})
  --means-tokens N    pretraining tokens for the node means (default ${MEANS_TOKENS})
  --out-dir DIR       write <task>.json (and summary.json) into DIR instead of the run's
                      circuits/, e.g. one folder per --seed (node means stay in the run)
${computeUsage(19)}
  --help              this text`;

const posInt = (flag: string, v: string | undefined, fallback: number) =>
  intFlag(flag, v, fallback, 1);
const posNum = (flag: string, v: string | undefined, fallback: number) =>
  numberFlag(flag, v, fallback, (x) => x > 0, "a positive number");
const nonNeg = (flag: string, v: string | undefined, fallback: number) =>
  numberFlag(flag, v, fallback, (x) => x >= 0, "a number ≥ 0");

/** What `prune`'s flags ask for, every flag checked (parsePruneFlags). */
export interface PruneRequest {
  model: string;
  all: boolean;
  tasks: readonly Task[];
  settings: PruneSettings;
  format: "json" | "neuronpedia";
  trials: number;
  restarts: number;
  prunePairs: number;
  evalPairs: number;
  meansTokens: number;
  threads: number;
  backend: BackendKind;
  /** Where circuit files go instead of the run's circuits/ (several seeds of one run). */
  outDir: string | null;
}

/** Runs `prune` with its own arguments; returns the exit code. */
export async function pruneCommand(argv: string[]): Promise<number> {
  const req = parsePruneFlags(argv);
  return req === null ? 0 : await prune(req);
}

/**
 * prune's flags → a PruneRequest, every flag checked (the study validates its prune settings with
 * it before anything starts); null after printing the usage for --help.
 */
export function parsePruneFlags(argv: string[]): PruneRequest | null {
  const s = { type: "string" } as const;
  const v = commandFlags("prune", USAGE, {
    model: s,
    task: { type: "string", multiple: true },
    all: { type: "boolean" },
    target: s,
    method: s,
    ablation: s,
    "freeze-norm": { type: "boolean" },
    trials: s,
    restarts: s,
    format: s,
    seed: s,
    steps: s,
    "batch-pairs": s,
    lr: s,
    "k-coef": s,
    "edge-coef": s,
    temperature: s,
    "init-bias": s,
    "init-noise": s,
    "weight-decay": s,
    "mask-noise": s,
    "loss-set-point": s,
    rerank: s,
    trim: s,
    "check-margin": s,
    "penalty-warmup": s,
    "prune-pairs": s,
    pairs: s,
    "random-draws": s,
    "random-pairs": s,
    "delta-pairs": s,
    "bisect-pairs": s,
    "mask-pairs": s,
    "means-tokens": s,
    "out-dir": s,
    ...COMPUTE_FLAGS,
  }, argv);
  if (!v) return null;
  const model = required("prune", v.model, "--model DIR");
  if (!v.all && !v.task) throw new UserError("prune: give --task NAME or --all (see --help)");
  if (v.all && v.task) throw new UserError("prune: give --task or --all, not both");
  const method = v.method ?? "learned";
  if (method !== "learned" && method !== "attribution") {
    throw new UserError(`--method must be learned or attribution, got '${method}'`);
  }
  const ablation = v.ablation ?? "mean";
  if (ablation !== "mean" && ablation !== "zero") {
    throw new UserError(`--ablation must be mean or zero, got '${ablation}'`);
  }
  const format = v.format ?? "json";
  if (format !== "json" && format !== "neuronpedia") {
    throw new UserError(`--format must be json or neuronpedia, got '${format}'`);
  }
  const hp: MaskHyperparams = {
    ...DEFAULT_HP,
    steps: posInt("steps", v.steps, DEFAULT_HP.steps),
    batchPairs: posInt("batch-pairs", v["batch-pairs"], DEFAULT_HP.batchPairs),
    lr: posNum("lr", v.lr, DEFAULT_HP.lr),
    kCoef: nonNeg("k-coef", v["k-coef"], DEFAULT_HP.kCoef),
    edgeCoef: nonNeg("edge-coef", v["edge-coef"], DEFAULT_HP.edgeCoef),
    temperature: posNum("temperature", v.temperature, DEFAULT_HP.temperature),
    initBias: numberFlag(
      "init-bias",
      v["init-bias"],
      DEFAULT_HP.initBias,
      (x) => x >= -1 && x <= 1,
      "in [-1, 1]",
    ),
    initNoise: nonNeg("init-noise", v["init-noise"], DEFAULT_HP.initNoise),
    weightDecay: nonNeg("weight-decay", v["weight-decay"], DEFAULT_HP.weightDecay),
    maskNoise: nonNeg("mask-noise", v["mask-noise"], DEFAULT_HP.maskNoise),
    lossSetPoint: nonNeg("loss-set-point", v["loss-set-point"], DEFAULT_HP.lossSetPoint),
    rerank: intFlag("rerank", v.rerank, DEFAULT_HP.rerank, 0),
    trim: intFlag("trim", v.trim, DEFAULT_HP.trim, 0),
    penaltyWarmup: numberFlag(
      "penalty-warmup",
      v["penalty-warmup"],
      DEFAULT_HP.penaltyWarmup,
      (x) => x >= 0 && x <= 1,
      "in [0, 1]",
    ),
  };
  const settings: PruneSettings = {
    target: numberFlag(
      "target",
      v.target,
      PRUNE_DEFAULTS.target,
      (x) => x > 0 && x < CHANCE_LOSS,
      `a positive number below ln 2 = ${CHANCE_LOSS.toFixed(4)} (the task loss of a 50/50 ` +
        "guess, which a circuit with every node ablated meets)",
    ),
    method,
    ablation,
    freezeNorm: v["freeze-norm"] ?? false,
    seed: intFlag("seed", v.seed, 0, 0),
    hp,
    randomDraws: posInt("random-draws", v["random-draws"], PRUNE_DEFAULTS.randomDraws),
    randomPairs: posInt("random-pairs", v["random-pairs"], PRUNE_DEFAULTS.randomPairs),
    deltaPairs: posInt("delta-pairs", v["delta-pairs"], PRUNE_DEFAULTS.deltaPairs),
    bisectPairs: posInt("bisect-pairs", v["bisect-pairs"], PRUNE_DEFAULTS.bisectPairs),
    maskPairs: posInt("mask-pairs", v["mask-pairs"], PRUNE_DEFAULTS.maskPairs),
    checkMargin: nonNeg("check-margin", v["check-margin"], PRUNE_DEFAULTS.checkMargin),
  };
  if (v["mask-pairs"] !== undefined && settings.maskPairs < settings.bisectPairs) {
    throw new UserError(
      `prune: --mask-pairs ${settings.maskPairs} is fewer than --bisect-pairs ` +
        `${settings.bisectPairs}: k is bisected on pairs the masks trained on`,
    );
  }
  const trials = posInt("trials", v.trials, 1);
  const restarts = posInt("restarts", v.restarts, 1);
  if (restarts > 1 && method !== "learned") {
    throw new UserError(
      `prune: --restarts searches again from other seeds, and the ${method} ranking does not ` +
        "depend on the seed: use it with --method learned",
    );
  }
  const prunePairs = intFlag(
    "prune-pairs",
    v["prune-pairs"],
    PRUNE_DEFAULTS.prunePairs,
    1,
    MAX_PAIRS,
  );
  const evalPairs = intFlag("pairs", v.pairs, PRUNE_DEFAULTS.evalPairs, 1, MAX_PAIRS);
  const meansTokens = posInt("means-tokens", v["means-tokens"], MEANS_TOKENS);
  const { threads, backend } = computeFlags(v);
  const tasks = taskListFlag("prune", v.task, TASKS);
  if (v["out-dir"] !== undefined && v["out-dir"].trim() === "") {
    throw new UserError("prune: --out-dir needs a folder");
  }
  return {
    model,
    all: !!v.all,
    tasks,
    settings,
    format,
    trials,
    restarts,
    prunePairs,
    evalPairs,
    meansTokens,
    threads,
    backend,
    outDir: v["out-dir"] ?? null,
  };
}

async function prune(req: PruneRequest): Promise<number> {
  const { settings, trials, restarts, prunePairs, evalPairs, meansTokens, tasks, format, outDir } =
    req;
  const ablation = settings.ablation;
  const t0 = performance.now();
  const r = await openModelFlag("prune", req.model, {
    threads: req.threads,
    backend: req.backend,
  });
  try {
    // Tasks given by name must be measurable before anything is computed.
    if (!req.all) {
      for (const t of tasks) {
        const d = taskData(r, t, 1, 1);
        if ("note" in d) throw new UserError(`${t.name}: ${d.note}`);
      }
    }
    let means: Float32Array | null = null;
    if (ablation === "mean") {
      let bar: Progress | null = null;
      const got = await nodeMeans(r, meansTokens, (done, total) => {
        bar ??= new Progress("means", total, "batch");
        bar.update(done);
      });
      means = got.means.mean;
      console.error(
        got.cached
          ? `node means: cached in ${r.dir.means} (${got.means.tokens} tokens)`
          : `node means: ${got.means.tokens} pretraining tokens → ${r.dir.means}`,
      );
    }
    const outcomes: { outcome: TaskOutcome; timeS: number }[] = [];
    let skipped = false;
    for (const task of tasks) {
      const t1 = performance.now();
      const bars = new Map<string, Progress>();
      const outcome = pruneTask(r, task, means, {
        settings,
        prunePairs,
        evalPairs,
        meansTokens,
        trials,
        restarts,
        progress: (phase, done, total, fields) => {
          if (total <= 0) return;
          let bar = bars.get(phase);
          if (!bar) {
            bars.set(phase, bar = new Progress(`${task.name} ${phase}`, total, phaseUnit(phase)));
          }
          bar.update(done, fields);
        },
      });
      const timeS = (performance.now() - t1) / 1000;
      outcomes.push({ outcome, timeS });
      const why = req.all ? null : unprunableReason(outcome, settings.target);
      if (why !== null) {
        if (tasks.length === 1) throw new UserError(why);
        // Several tasks named: say why this one has no circuit and go on with the rest.
        console.error(`thinwire: ${why}`);
        skipped = true;
        continue;
      }
      let path = r.dir.circuit(task.name);
      if ("circuit" in outcome) {
        path = await writeCircuit(r.dir, outcome.circuit, outDir ?? undefined);
        if (format === "neuronpedia") {
          await writeNeuronpedia(r, outcome.circuit, prunePairs, evalPairs, path);
        }
      }
      console.log(formatOutcome(outcome, path));
    }
    const total = (performance.now() - t0) / 1000;
    if (req.all) {
      const summary = summaryJson(r, settings, outcomes, total);
      const path = await writeSummary(r.dir, summary, outDir ?? undefined);
      console.log(formatSummary(outcomes.map((o) => o.outcome), settings.target));
      console.error(`summary → ${path}`);
    }
    console.error(`pruned in ${formatDuration(total)}, ${backendLabel(r.be)}`);
    // Named tasks: 1 when one missed its target or (of several) had nothing to prune.
    const failed = skipped || outcomes.some((o) => o.outcome.status === "target not reached");
    return failed && !req.all ? 1 : 0;
  } finally {
    r.close();
  }
}

function phaseUnit(phase: string): string {
  const is = (name: string) => phase === name || phase.startsWith(`${name} `);
  return is("optimise")
    ? "step"
    : is("candidates")
    ? "search"
    : is("random")
    ? "draw"
    : is("deltas")
    ? "node"
    : is("rerank")
    ? "round"
    : is("trim")
    ? "node"
    : "batch";
}

async function writeNeuronpedia(
  r: LoadedRun,
  c: Circuit,
  prunePairs: number,
  evalPairs: number,
  circuitPath: string,
) {
  const data = taskData(r, getTask(c.task), prunePairs, evalPairs);
  if ("note" in data) return;
  const g = neuronpediaGraph(
    r.model,
    r.tokenizer,
    c,
    data.evalPairs[0].prompts[0],
    data.evalItems[0],
  );
  const path = circuitPath.replace(/\.json$/, ".neuronpedia.json");
  await writeAtomic(path, JSON.stringify(g, null, 1) + "\n");
  console.error(`neuronpedia graph → ${path}`);
}

const f4 = (x: number) => Number.isFinite(x) ? x.toFixed(4) : "-";

/** The calibrated losses on the pruning pairs (bisected on, and held out of the bisection). */
function pruningLine(c: Circuit): string[] {
  const p = c.losses.pruning;
  if (!p) return [];
  const check = p.check
    ? `, ${f4(p.check.circuit_calibrated)} on the other ${p.check.pairs} pruning pairs`
    : "";
  return [
    `  circuit calibrated ${
      f4(p.bisect.circuit_calibrated)
    } on the ${p.bisect.pairs} pairs k was ` +
    `bisected on${check}`,
  ];
}

/** The table of one task's circuit. */
export function formatOutcome(o: TaskOutcome, path: string): string {
  if (o.status === "not solved by the model") {
    return `${o.task}: not solved by the model (full loss ${f4(o.fullLoss)}` +
      `${atChance(o.fullLoss) ? ", at chance" : ""}), not pruned`;
  }
  if (o.status === "not measurable") return `${o.task}: not measurable: ${o.note}`;
  const c = o.circuit;
  const lines = [
    `${c.task}: ${c.nodes.length} nodes, ${c.edges.length} edges` +
    (o.status === "target not reached" ? ` — TARGET ${c.target} NOT REACHED` : "") +
    `  (${c.method}, ${c.ablation} ablation${c.freeze_norm ? ", frozen norms" : ""})`,
    "  nodes per location: " +
    LOCATIONS.map((l) => `${l.name} ${c.counts[l.name]}`).join(", "),
    `  task loss (${c.pairs.eval_pairs} held-out pairs): full ${f4(c.losses.full)}  ` +
    `circuit ${f4(c.losses.circuit)} (calibrated ${f4(c.losses.circuit_calibrated)})  ` +
    `circuit ablated ${f4(c.losses.ablated)}  random ${f4(c.losses.random.mean)} ± ` +
    `${f4(c.losses.random.sd)} (${c.losses.random.draws} draws)`,
    ...pruningLine(c),
    `  calibration: scale ${c.calibration.scale.toFixed(3)}, shift ${
      c.calibration.shift.toFixed(3)
    }`,
    `  time ${formatDuration(c.time_s)} (` +
    Object.entries(c.timing).map(([k, t]) => `${k} ${t.toFixed(1)}s`).join(", ") + `) → ${path}`,
  ];
  if (o.ks && o.ks.length > 1) {
    lines.push(`  re-ranked inside the circuit: ${o.ks.join(" → ")} nodes (τ ranking first)`);
  }
  for (const t of o.trims ?? []) {
    lines.push(
      `  trimmed: ${t.nodes[0]} → ${t.nodes[1]} nodes, ${t.edges[0]} → ${t.edges[1]} edges ` +
        `in ${t.tries} tries (refused by the screens ${t.refused.screen}, on the bisection's ` +
        `pairs ${t.refused.pool}, on the check pairs ${t.refused.check})`,
    );
  }
  if (o.marginAsked !== undefined) {
    lines.push(
      `  check margin ${c.hyperparameters.check_margin}, not ${o.marginAsked}: the whole model ` +
        `does not meet the target by ${o.marginAsked} standard errors on the other pruning pairs`,
    );
  }
  for (const x of o.collapses ?? []) {
    const at = (s: RetrySettings) =>
      `k_coef ${s.kCoef.toPrecision(2)}, mask noise ${s.maskNoise}` +
      (s.edgeCoef > 0 ? `, edge_coef ${s.edgeCoef.toPrecision(2)}` : "") +
      (s.penaltyWarmup > 0 ? `, penalty warmup ${s.penaltyWarmup}` : "");
    lines.push(
      `  masks collapsed at ${at(x)} (task loss ${x.taskLoss.toFixed(3)} with ${x.on} nodes on): ` +
        `retried at ${at(x.retry)}`,
    );
  }
  if (o.restarts) {
    const x = o.restarts;
    const each = x.seeds.map((seed, i) =>
      Number.isFinite(x.edges[i])
        ? `seed ${seed} ${x.nodes[i]} / ${x.edges[i]}`
        : `seed ${seed} target not reached`
    );
    lines.push(
      `  restarts (nodes / edges): ${each.join(", ")}; kept seed ${x.kept}`,
    );
  }
  if (o.trials) {
    const t = o.trials;
    lines.push(
      `  search: ${t.trials} trials; default settings ${t.defaultEdges} edges / ${t.defaultNodes} ` +
        `nodes, best ${t.bestEdges} edges / ${t.bestNodes} nodes (lr ${
          t.best.lr.toPrecision(3)
        }, ` +
        `k_coef ${t.best.kCoef.toPrecision(3)}, init_bias ${t.best.initBias.toPrecision(3)}, ` +
        `temperature ${t.best.temperature.toPrecision(3)})`,
    );
  }
  return lines.join("\n");
}

/** `--all`'s closing table and the geometric mean of edges. */
export function formatSummary(outcomes: TaskOutcome[], target: number): string {
  const head = ["task", "status", "full", "nodes", "edges", "circuit", "ablated", "random"];
  const rows = outcomes.map((o) => {
    if ("circuit" in o) {
      const c = o.circuit;
      return [
        o.task,
        o.status,
        f4(c.losses.full),
        String(c.nodes.length),
        String(c.edges.length),
        f4(c.losses.circuit_calibrated),
        f4(c.losses.ablated),
        f4(c.losses.random.mean),
      ];
    }
    const full = o.status === "not solved by the model" ? f4(o.fullLoss) : "-";
    return [o.task, o.status, full, "-", "-", "-", "-", "-"];
  });
  const width = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const line = (cells: string[]) =>
    cells.map((x, c) => c < 2 ? x.padEnd(width[c]) : x.padStart(width[c])).join("  ");
  const g = outcomesGeomean(outcomes);
  const pruned = outcomes.filter((o) => o.status === "pruned").length;
  const chance =
    outcomes.filter((o) => o.status === "not solved by the model" && atChance(o.fullLoss)).length;
  return [
    line(head),
    line(head.map((_, c) => "-".repeat(width[c]))),
    ...rows.map(line),
    "",
    `${pruned} task(s) pruned to task loss ≤ ${target}; geometric mean of edges: ` +
    (g === null ? "- (no task pruned)" : g.toFixed(1)),
    ...(chance > 0
      ? [
        `${chance} task(s) at chance (full loss not below ln 2 = ${CHANCE_LOSS.toFixed(4)}): ` +
        `the model does not tell their answers apart; ${TRAIN_LONGER}`,
      ]
      : []),
  ].join("\n");
}
