/**
 * `study report`: what a study root holds so far, as report.md with SVG figures (edges against
 * loss per family with the matched-loss ratio, the paper's Fig. 2's shape; width × nonzero budget, Fig.
 * 3's), runs.csv and circuits.csv. The statistics are src/study/stats.ts; docs/study.md explains
 * them.
 */
import { VERSION } from "../version.ts";
import { writeAtomic } from "../util/write_atomic.ts";
import { comparisons, type Study } from "./config.ts";
import type { CircuitRow, RunResult } from "./gather.ts";
import {
  geomean,
  logEdges,
  matchedLossRatio,
  type MatchedRatio,
  predict,
  type RunPoint,
  type Stability,
  stability,
} from "./stats.ts";
import { type ChartSeries, chartSvg, PALETTE } from "./svg.ts";

export interface ReportOptions {
  /** Bootstrap interval level (0.9 = 90%), resamples and seed. */
  level: number;
  boots: number;
  seed: number;
  /** Mean pairwise node Jaccard at or above which a circuit is trusted. */
  trust: number;
  /** How the study root is named in the report's commands. */
  root: string;
}

export interface Report {
  files: Record<string, string>;
  comparisons: { sparse: string; dense: string; result: MatchedRatio | null; why: string | null }[];
  stability: { run: string; task: string; s: Stability }[];
}

/** Fewer shared tasks than this and the interval is flagged as saying little. */
export const MIN_TASKS = 6;

const fx = (v: number | null | undefined, d = 3) =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(d);
const fcount = (v: number | null) =>
  v === null
    ? "–"
    : v >= 1e6
    ? `${(v / 1e6).toFixed(2)}M`
    : v >= 1e4
    ? `${(v / 1e3).toFixed(1)}k`
    : `${v}`;
const fratio = (v: number) => v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);

function table(head: string[], rows: string[][], right: boolean[] = []): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [
    line(head),
    line(head.map((_, i) => right[i] ? "---:" : "---")),
    ...rows.map(line),
  ].join("\n");
}

function csv(head: string[], rows: (string | number | boolean | null)[][]): string {
  const cell = (v: string | number | boolean | null) => {
    const s = v === null || (typeof v === "number" && !Number.isFinite(v)) ? "" : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [head, ...rows].map((r) => r.map(cell).join(",")).join("\n") + "\n";
}

/** A finished, pruned run as a point of the comparison (edges of its circuits by task). */
function point(r: RunResult): RunPoint | null {
  if (r.state !== "pruned" || r.valLoss === null) return null;
  return {
    name: r.plan.name,
    loss: r.valLoss,
    edges: new Map(r.circuits.map((c) => [c.task, c.edges])),
  };
}

/** Geometric mean of a run's edges over `tasks`. */
const gmOver = (p: RunPoint, tasks: string[]) => geomean(tasks.map((t) => p.edges.get(t)!));

/** Edges against loss for one comparison: runs, each family's fit, the matched loss. */
function fig2(
  names: { sparse: string; dense: string },
  sparse: RunPoint[],
  dense: RunPoint[],
  m: MatchedRatio | null,
  why: string | null,
) {
  const series: ChartSeries[] = [];
  const fam = [
    { label: names.sparse, pts: sparse, fit: m?.sparseFit, color: PALETTE[0] },
    { label: names.dense, pts: dense, fit: m?.denseFit, color: PALETTE[1] },
  ];
  if (m) {
    const all = [...sparse, ...dense].map((p) => p.loss);
    const lo = Math.min(...all, m.loss), hi = Math.max(...all, m.loss);
    for (const f of fam) {
      const fr = f.pts.map((p) => p.loss);
      const flo = Math.min(...fr), fhi = Math.max(...fr);
      const at = (x: number) => ({ x, y: Math.exp(predict(f.fit!, x)) });
      series.push({
        name: `${f.label} (${f.pts.length} run${f.pts.length > 1 ? "s" : ""})`,
        color: f.color,
        points: f.pts.map((p) => ({ x: p.loss, y: gmOver(p, m.tasks)!, label: p.name })),
        line: flo < fhi ? [at(flo), at(fhi)] : undefined,
        dashed: [at(lo), at(hi)],
      });
    }
  }
  return chartSvg({
    title: `Circuit size against loss: ${names.sparse} vs ${names.dense}` +
      (m ? ` (${m.tasks.length} shared task${m.tasks.length === 1 ? "" : "s"})` : ""),
    xLabel: "validation loss (nats/token)",
    yLabel: "geometric mean of circuit edges (log scale)",
    yLog: true,
    series,
    markers: m
      ? [{ x: m.loss, label: `matched loss ${m.loss.toFixed(3)}: ratio ${fratio(m.ratio)}×` }]
      : [],
    empty: why ?? undefined,
  });
}

function fig3(sparse: RunResult[]): { svg: string; tasks: string[]; rows: string[][] } {
  const pts = sparse.map(point).filter((p): p is RunPoint => p !== null);
  const tasks = pts.length
    ? [...pts[0].edges.keys()].filter((t) => pts.every((p) => p.edges.has(t))).sort()
    : [];
  const byPfrac = new Map<number, RunResult[]>();
  for (const r of sparse) {
    if (!byPfrac.has(r.plan.pfrac)) byPfrac.set(r.plan.pfrac, []);
    byPfrac.get(r.plan.pfrac)!.push(r);
  }
  const series: ChartSeries[] = [];
  const rows: string[][] = [];
  [...byPfrac.keys()].sort((a, b) => b - a).forEach((pf, i) => {
    const runs = byPfrac.get(pf)!.sort((a, b) => a.plan.dModel - b.plan.dModel);
    const p = runs.map((r) => ({ r, p: point(r) }));
    const drawn = tasks.length
      ? p.filter((x) => x.p !== null).map((x) => ({
        x: x.p!.loss,
        y: gmOver(x.p!, tasks)!,
        label: `d${x.r.plan.dModel}`,
      }))
      : [];
    const nz = runs.find((r) => r.nonzeros !== null)?.nonzeros ?? null;
    series.push({
      name: `pfrac ${pf}` + (nz === null ? "" : ` (~${fcount(nz)} nonzeros)`),
      color: PALETTE[i % PALETTE.length],
      points: drawn,
      line: drawn,
    });
    for (const { r, p: q } of p) {
      rows.push([
        `${pf}`,
        `${r.plan.dModel}`,
        r.plan.name,
        fx(r.valLoss),
        fcount(r.nonzeros),
        q && tasks.length ? fx(gmOver(q, tasks), 1) : "–",
      ]);
    }
  });
  const svg = chartSvg({
    title: `Width × nonzero budget: sparse runs, lines join widths (${tasks.length} shared ` +
      `task${tasks.length === 1 ? "" : "s"})`,
    xLabel: "validation loss (nats/token; lower: more capable)",
    yLabel: "geomean circuit edges (log; lower: smaller circuits)",
    yLog: true,
    series,
    empty: pts.length === 0 ? "no sparse run pruned yet" : "the pruned sparse runs share no task",
  });
  return { svg, tasks, rows };
}

/** Builds every file of the report (names relative to the report folder). */
export function buildReport(study: Study, results: RunResult[], opts: ReportOptions): Report {
  const files: Record<string, string> = {};
  const md: string[] = [];
  const n = results.length;
  const count = (...s: string[]) => results.filter((r) => s.includes(r.state)).length;
  md.push(
    `# Study \`${study.name}\`: circuits of sparse and dense models at matched loss`,
    "",
    `Written by thinwire ${VERSION} from \`${opts.root}\` with ` +
      `\`deno task study report --root ${opts.root}\`. The study: \`${opts.root}/study.json\` ` +
      `(preset ${study.config.preset}); to rerun it: ` +
      `\`deno task study --config ${opts.root}/study.json --root ${opts.root}\`. ` +
      `The method: docs/study.md.`,
    "",
    "## Progress",
    "",
    `${n} runs planned: ${count("trained", "evaluated", "pruned")} trained, ` +
      `${count("evaluated", "pruned")} evaluated, ${count("pruned")} pruned` +
      (count("training") ? `, ${count("training")} training` : "") +
      (count("not started") ? `, ${count("not started")} not started` : "") +
      `. Circuit files read: ${results.reduce((s, r) => s + r.allCircuits.length, 0)} ` +
      `(${results.reduce((s, r) => s + r.allCircuits.filter((c) => c.seed !== 0).length, 0)} ` +
      `from stability seeds).` +
      (count("pruned") < n ? " The numbers below use what has finished." : ""),
    "",
    "## Runs",
    "",
    table(
      [
        "run",
        "family",
        "d_model",
        "pfrac",
        "steps",
        "seed",
        "state",
        "val loss",
        "nonzeros",
        "solved",
        "circuits",
        "geomean edges",
      ],
      results.map((r) => [
        r.plan.name,
        r.plan.family,
        `${r.plan.dModel}`,
        r.plan.dense ? "dense" : `${r.plan.pfrac}`,
        `${r.plan.steps}`,
        `${r.plan.seed}`,
        r.state === "training" ? `training (step ${r.step ?? 0})` : r.state,
        fx(r.valLoss),
        fcount(r.nonzeros),
        r.solved === null ? "–" : `${r.solved}/${r.measured}`,
        r.summary ? `${r.circuits.length}` : "–",
        fx(geomean(r.circuits.map((c) => c.edges)), 1),
      ]),
      [false, false, true, true, true, true, false, true, true, true, true, true],
    ),
    "",
    "`val loss`: the last validation cross-entropy of training; `nonzeros`: weights outside the " +
      "embeddings at the end; `solved`: eval's tasks under loss 0.15; `circuits`: tasks pruned to " +
      "the target; `geomean edges`: over the run's own circuits (the comparisons below use the " +
      "tasks the compared runs share).",
    "",
  );

  const report: Report = { files, comparisons: [], stability: [] };
  md.push("## Sparse against dense at matched loss", "");
  const comps = comparisons(study);
  if (comps.length === 0) {
    md.push("The grid has no sparse and dense family to compare.", "");
  }
  comps.forEach((c, ci) => {
    const fam = (f: string) => results.filter((r) => r.plan.family === f);
    const sp = fam(c.sparse).map(point).filter((p): p is RunPoint => p !== null);
    const dp = fam(c.dense).map(point).filter((p): p is RunPoint => p !== null);
    const m = matchedLossRatio(sp, dp, { level: opts.level, boots: opts.boots, seed: opts.seed });
    const why = sp.length === 0 || dp.length === 0
      ? `no pruned run in ${sp.length === 0 ? c.sparse : c.dense} yet`
      : m === null
      ? "the pruned runs share no task"
      : null;
    report.comparisons.push({ ...c, result: m, why });
    const figName = `fig2-${ci + 1}-${c.sparse}-vs-${c.dense}.svg`;
    files[figName] = fig2(c, sp, dp, m, why);
    md.push(`### ${c.sparse} vs ${c.dense}`, "");
    if (!m) {
      md.push(`No ratio yet: ${why}.`, "", `![edges against loss](${figName})`, "");
      return;
    }
    const pct = Math.round(m.level * 100);
    md.push(
      `**Dense circuits have ${fratio(m.ratio)}× the edges of sparse ones at validation loss ` +
        `${m.loss.toFixed(3)}** (${pct}% bootstrap interval over tasks: ${fratio(m.lo)}–` +
        `${fratio(m.hi)}×; ${m.boots} resamples, seed ${m.seed}).`,
      "",
    );
    const caveats: string[] = [];
    if (!m.covered) {
      caveats.push(
        `the families' losses do not overlap (${c.sparse} ${fx(m.sparseRange[0])}–` +
          `${fx(m.sparseRange[1])}, ${c.dense} ${fx(m.denseRange[0])}–${fx(m.denseRange[1])}): ` +
          `the ratio is read in the gap between them, each fit extrapolated`,
      );
    }
    for (const [f, fit, pts] of [[c.sparse, m.sparseFit, sp], [c.dense, m.denseFit, dp]] as const) {
      if (fit.distinct < 2) {
        caveats.push(
          `${f} has ${
            pts.length === 1 ? "one run" : "runs at one loss"
          }: no slope, its geometric ` +
            `mean is compared as it is (at loss ${fx(pts[0].loss)}, nearest to the other family's)`,
        );
      }
    }
    if (m.tasks.length < MIN_TASKS) {
      caveats.push(
        `only ${m.tasks.length} shared task(s), fewer than ${MIN_TASKS}: the interval says little`,
      );
    }
    if (caveats.length) md.push(...caveats.map((x) => `- Caveat: ${x}.`), "");
    const sorted = m.perTask.map((t) => t.ratio).sort((a, b) => a - b);
    md.push(
      `Shared tasks (${m.tasks.length}, pruned to the target in every run of both families): ` +
        `${m.tasks.join(", ")}.`,
      "",
      table(
        [
          "family",
          "runs",
          "val loss range",
          "fit: ln(geomean edges) = a + b·loss",
          "at matched loss",
        ],
        [
          [c.sparse, m.sparseFit, m.sparseRange, sp] as const,
          [c.dense, m.denseFit, m.denseRange, dp] as const,
        ]
          .map(([f, fit, rg, pts]) => [
            f,
            `${pts.length}`,
            `${fx(rg[0])}–${fx(rg[1])}`,
            fit.distinct < 2 ? `a = ${fx(fit.a)} (constant)` : `a = ${fx(fit.a)}, b = ${fx(fit.b)}`,
            `${Math.exp(predict(fit, m.loss)).toFixed(1)} edges`,
          ]),
        [false, true, false, false, true],
      ),
      "",
      `The ratio per task (each task's own fits, read at the same loss; their geometric mean is ` +
        `the ratio above): min ${fratio(sorted[0])}×, median ` +
        `${fratio(sorted[Math.floor((sorted.length - 1) / 2)])}×, max ${fratio(sorted.at(-1)!)}×.`,
      "",
      table(
        ["task", ...sp.map((p) => p.name), ...dp.map((p) => p.name), "ratio at matched loss"],
        m.perTask.map((t) => [
          t.task,
          ...[...sp, ...dp].map((p) => `${p.edges.get(t.task)}`),
          `${fratio(t.ratio)}×`,
        ]),
        [false, ...sp.map(() => true), ...dp.map(() => true), true],
      ),
      "",
      `![edges against loss: ${c.sparse} vs ${c.dense}](${figName})`,
      "",
      "Points: runs (geometric mean over the shared tasks); solid lines: each family's fit over " +
        "its runs' losses, dashed: the same fit extended; dotted: the matched loss.",
      "",
    );
  });

  const sparseRuns = results.filter((r) => !r.plan.dense);
  const f3 = fig3(sparseRuns);
  files["fig3-width-l0.svg"] = f3.svg;
  md.push(
    "## Width × nonzero budget",
    "",
    `Sparse runs by nonzero budget (pfrac: the block matrices' share of nonzeros at ef 1; a wider ` +
      `model at the same pfrac has the same number of nonzeros) and width. Geometric means over ` +
      `the ${f3.tasks.length} task(s) every pruned sparse run solved` +
      (f3.tasks.length ? ` (${f3.tasks.join(", ")})` : "") + ".",
    "",
    sparseRuns.length
      ? table(["pfrac", "d_model", "run", "val loss", "nonzeros", "geomean edges"], f3.rows, [
        true,
        true,
        false,
        true,
        true,
        true,
      ])
      : "No sparse runs in the grid.",
    "",
    "![width × nonzeros](fig3-width-l0.svg)",
    "",
  );

  md.push("## Circuit stability across pruning seeds", "");
  const seeds = study.config.stability.seeds;
  const stab: { run: string; task: string; s: Stability; seed0: CircuitRow }[] = [];
  for (const r of results) {
    for (const c0 of r.circuits) {
      const same = r.allCircuits.filter((c) => c.task === c0.task);
      const s = stability(same.map((c) => ({ seed: c.seed, nodes: c.nodeIds, edges: c.edges })));
      if (s) stab.push({ run: r.plan.name, task: c0.task, s, seed0: c0 });
    }
  }
  report.stability = stab.map(({ run, task, s }) => ({ run, task, s }));
  if (seeds < 2) {
    md.push("The study prunes each circuit with one seed (stability.seeds 1): not measured.", "");
  } else if (stab.length === 0) {
    md.push("No circuit has been pruned with a second seed yet.", "");
  } else {
    const trusted = stab.filter((x) => x.s.jaccardMean >= opts.trust);
    md.push(
      `Each listed circuit pruned again with other seeds (mask initialisation, batch order, random ` +
        `baselines; same pairs and settings). Jaccard: |A ∩ B| / |A ∪ B| of the node sets, over ` +
        `every pair of seeds; core: nodes every seed kept.`,
      "",
      table(
        [
          "run",
          "task",
          "seeds",
          "nodes (mean)",
          "edges mean ± sd",
          "edges min–max",
          "Jaccard mean",
          "Jaccard min",
          "core nodes",
          "trusted",
        ],
        stab.map(({ run, task, s }) => [
          run,
          task,
          s.seeds.join(","),
          s.nodesMean.toFixed(1),
          `${s.edgesMean.toFixed(1)} ± ${s.edgesSd.toFixed(1)}`,
          `${s.edgesMin}–${s.edgesMax}`,
          s.jaccardMean.toFixed(2),
          s.jaccardMin.toFixed(2),
          `${s.core}`,
          s.jaccardMean >= opts.trust ? "yes" : "no",
        ]),
        [false, false, false, true, true, true, true, true, true, false],
      ),
      "",
      `**Circuits this report trusts** (mean node-set Jaccard ≥ ${opts.trust} across seeds): ` +
        (trusted.length ? trusted.map((x) => `${x.task} in ${x.run}`).join(", ") : "none") + ". " +
        `Not trusted: ${
          stab.filter((x) => x.s.jaccardMean < opts.trust).map((x) => `${x.task} in ${x.run}`)
            .join(", ") || "none"
        }. Circuits pruned with one seed only are not assessed ` +
        `(${results.reduce((s, r) => s + r.circuits.length, 0) - stab.length}).`,
      "",
    );
  }

  const runHead = [
    "run",
    "family",
    "dense",
    "ef",
    "d_model",
    "pfrac",
    "steps",
    "seed",
    "state",
    "val_loss",
    "nonzeros",
    "solved",
    "measured",
    "circuits",
    "geomean_edges",
  ];
  files["runs.csv"] = csv(
    runHead,
    results.map((r) => [
      r.plan.name,
      r.plan.family,
      r.plan.dense,
      r.plan.ef,
      r.plan.dModel,
      r.plan.pfrac,
      r.plan.steps,
      r.plan.seed,
      r.state,
      r.valLoss,
      r.nonzeros,
      r.solved,
      r.measured,
      r.summary ? r.circuits.length : null,
      geomean(r.circuits.map((c) => c.edges)),
    ]),
  );
  const circHead = [
    "run",
    "family",
    "dense",
    "d_model",
    "pfrac",
    "steps",
    "train_seed",
    "val_loss",
    "task",
    "prune_seed",
    "status",
    "nodes",
    "edges",
    "ln_edges",
    "loss_full",
    "loss_circuit",
    "loss_ablated",
    "loss_random",
    "file",
  ];
  files["circuits.csv"] = csv(
    circHead,
    results.flatMap((r) =>
      r.allCircuits.map((c) => [
        r.plan.name,
        r.plan.family,
        r.plan.dense,
        r.plan.dModel,
        r.plan.pfrac,
        r.plan.steps,
        r.plan.seed,
        r.valLoss,
        c.task,
        c.seed,
        c.status,
        c.nodes,
        c.edges,
        logEdges(c.edges),
        c.losses.full,
        c.losses.circuit,
        c.losses.ablated,
        c.losses.random,
        c.path,
      ])
    ),
  );
  md.push(
    "## Files",
    "",
    "- `runs.csv`: every planned run (state, loss, nonzeros, counts).",
    "- `circuits.csv`: every circuit read, seed 0 and the stability seeds (nodes, edges, losses: " +
      "full model, circuit alone calibrated, circuit ablated, random circuits).",
    "",
  );
  const notes = results.flatMap((r) => r.notes);
  if (notes.length) md.push("## Skipped", "", ...notes.map((x) => `- ${x}`), "");
  files["report.md"] = md.join("\n");
  return report;
}

/** Writes a report's files into `dir` (created), each atomically. */
export async function writeReport(dir: string, report: Report): Promise<void> {
  await Deno.mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(report.files)) {
    await writeAtomic(`${dir}/${name}`, text);
  }
}
