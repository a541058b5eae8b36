/**
 * The study's statistics (docs/study.md): least-squares fits of log(geometric-mean edges) against
 * validation loss per family, the sparse/dense ratio at a matched loss with a bootstrap interval
 * over tasks, and the stability of a circuit across pruning seeds (node-set Jaccard, edge spread).
 */
import { Rng } from "../util/rng.ts";

/** y = a + b·x by least squares. With fewer than two distinct x, b = 0 and a = mean(y). */
export interface Fit {
  a: number;
  b: number;
  /** Points fitted, and how many distinct x among them (< 2: a constant, not a line). */
  n: number;
  distinct: number;
}

export function fitLine(xs: readonly number[], ys: readonly number[]): Fit {
  const n = xs.length;
  if (n === 0 || ys.length !== n) throw new Error(`fitLine: ${n} x against ${ys.length} y`);
  const mx = xs.reduce((s, x) => s + x, 0) / n;
  const my = ys.reduce((s, y) => s + y, 0) / n;
  let sxx = 0, sxy = 0;
  for (let i = 0; i < n; i++) {
    sxx += (xs[i] - mx) ** 2;
    sxy += (xs[i] - mx) * (ys[i] - my);
  }
  const distinct = new Set(xs).size;
  if (distinct < 2 || !(sxx > 0)) return { a: my, b: 0, n, distinct };
  const b = sxy / sxx;
  return { a: my - b * mx, b, n, distinct };
}

export const predict = (f: Fit, x: number) => f.a + f.b * x;

/** log of an edge count as the geometric mean takes it: an empty circuit counts as one edge. */
export const logEdges = (e: number) => Math.log(Math.max(1, e));

/** Geometric mean of edge counts (prune's convention: 0 counts as 1); null for none. */
export function geomean(edges: readonly number[]): number | null {
  if (edges.length === 0) return null;
  return Math.exp(edges.reduce((s, e) => s + logEdges(e), 0) / edges.length);
}

/** The q-quantile (0..1) of sorted values, linearly interpolated. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const p = q * (sorted.length - 1);
  const lo = Math.floor(p), hi = Math.ceil(p);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (p - lo);
}

/** One run as the comparison sees it: its validation loss and its edges per task. */
export interface RunPoint {
  name: string;
  loss: number;
  edges: ReadonlyMap<string, number>;
}

export interface MatchedRatio {
  /** The tasks every run of both families pruned (what the geometric means run over). */
  tasks: string[];
  /** Fits of mean log edges over `tasks` against val loss. */
  sparseFit: Fit;
  denseFit: Fit;
  sparseRange: [number, number];
  denseRange: [number, number];
  /** The loss the families are compared at, and whether both families' runs reach it. */
  loss: number;
  covered: boolean;
  /** Dense edges / sparse edges at `loss` (geometric means over `tasks`). */
  ratio: number;
  /** Percentile bootstrap interval over tasks at `level`. */
  lo: number;
  hi: number;
  level: number;
  boots: number;
  seed: number;
  /** The same ratio per task (its geometric mean over tasks is `ratio`). */
  perTask: { task: string; ratio: number }[];
}

/** Mean over tasks of log edges, each task counted `weight[t]` times. */
function meanLog(r: RunPoint, tasks: readonly string[], weight: readonly number[]): number {
  let s = 0, w = 0;
  tasks.forEach((t, i) => {
    s += weight[i] * logEdges(r.edges.get(t)!);
    w += weight[i];
  });
  return s / w;
}

/**
 * The matched-loss comparison of a sparse and a dense family (the paper's Fig. 2's reading): per family,
 * mean log edges over the shared tasks fitted against val loss; the ratio of the two fits at a loss
 * both families cover (the middle of the overlap of their loss ranges; without overlap, the middle
 * of the gap, marked not covered); a percentile bootstrap that resamples the tasks with
 * replacement, refits both families and reads the ratio at the same loss. Null when the families
 * share no pruned task or one has no run.
 */
export function matchedLossRatio(
  sparse: readonly RunPoint[],
  dense: readonly RunPoint[],
  opts: { level?: number; boots?: number; seed?: number } = {},
): MatchedRatio | null {
  const level = opts.level ?? 0.9, boots = opts.boots ?? 2000, seed = opts.seed ?? 1;
  if (sparse.length === 0 || dense.length === 0) return null;
  const all = [...sparse, ...dense];
  const tasks = [...all[0].edges.keys()].filter((t) => all.every((r) => r.edges.has(t))).sort();
  if (tasks.length === 0) return null;
  const range = (rs: readonly RunPoint[]): [number, number] => [
    Math.min(...rs.map((r) => r.loss)),
    Math.max(...rs.map((r) => r.loss)),
  ];
  const sr = range(sparse), dr = range(dense);
  const lo = Math.max(sr[0], dr[0]), hi = Math.min(sr[1], dr[1]);
  const covered = lo <= hi;
  // Without overlap, the gap's middle: each family's fit extrapolates half the gap.
  const loss = covered ? (lo + hi) / 2 : (Math.min(sr[1], dr[1]) + Math.max(sr[0], dr[0])) / 2;

  const ratioWith = (weight: readonly number[]) => {
    const fs = fitLine(sparse.map((r) => r.loss), sparse.map((r) => meanLog(r, tasks, weight)));
    const fd = fitLine(dense.map((r) => r.loss), dense.map((r) => meanLog(r, tasks, weight)));
    return { fs, fd, ratio: Math.exp(predict(fd, loss) - predict(fs, loss)) };
  };
  const ones = tasks.map(() => 1);
  const main = ratioWith(ones);
  const rng = new Rng(seed);
  const samples: number[] = [];
  for (let b = 0; b < boots; b++) {
    const w = tasks.map(() => 0);
    for (let i = 0; i < tasks.length; i++) w[rng.int(tasks.length)]++;
    samples.push(ratioWith(w).ratio);
  }
  samples.sort((x, y) => x - y);
  const perTask = tasks.map((t, i) => ({
    task: t,
    ratio: ratioWith(ones.map((_, j) => j === i ? 1 : 0)).ratio,
  }));
  return {
    tasks,
    sparseFit: main.fs,
    denseFit: main.fd,
    sparseRange: sr,
    denseRange: dr,
    loss,
    covered,
    ratio: main.ratio,
    lo: quantile(samples, (1 - level) / 2),
    hi: quantile(samples, (1 + level) / 2),
    level,
    boots,
    seed,
    perTask,
  };
}

/** |a ∩ b| / |a ∪ b|; two empty sets are identical (1). */
export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  let inter = 0;
  for (const x of a) if (b.has(x)) inter++;
  return inter / (a.size + b.size - inter);
}

export interface Stability {
  seeds: number[];
  /** Node-set Jaccard over every pair of seeds: mean and smallest. */
  jaccardMean: number;
  jaccardMin: number;
  edgesMean: number;
  /** Sample standard deviation of the edge counts (0 for one seed). */
  edgesSd: number;
  edgesMin: number;
  edgesMax: number;
  nodesMean: number;
  /** Nodes found by every seed. */
  core: number;
}

/** How much a circuit changes across pruning seeds; null for fewer than two seeds. */
export function stability(
  circuits: readonly { seed: number; nodes: ReadonlySet<string>; edges: number }[],
): Stability | null {
  if (circuits.length < 2) return null;
  const js: number[] = [];
  for (let i = 0; i < circuits.length; i++) {
    for (let j = i + 1; j < circuits.length; j++) {
      js.push(jaccard(circuits[i].nodes, circuits[j].nodes));
    }
  }
  const e = circuits.map((c) => c.edges);
  const n = e.length;
  const mean = e.reduce((s, x) => s + x, 0) / n;
  const sd = Math.sqrt(e.reduce((s, x) => s + (x - mean) ** 2, 0) / (n - 1));
  let core = 0;
  for (const id of circuits[0].nodes) if (circuits.every((c) => c.nodes.has(id))) core++;
  return {
    seeds: circuits.map((c) => c.seed),
    jaccardMean: js.reduce((s, x) => s + x, 0) / js.length,
    jaccardMin: Math.min(...js),
    edgesMean: mean,
    edgesSd: sd,
    edgesMin: Math.min(...e),
    edgesMax: Math.max(...e),
    nodesMean: circuits.reduce((s, c) => s + c.nodes.size, 0) / n,
    core,
  };
}
