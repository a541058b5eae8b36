/**
 * What the viewer computes, on the same modules the CLI uses: a run's model opened from its
 * files' bytes (src/run/format.ts), the task's evaluation pairs scored under a node mask
 * (src/eval/task_eval.ts PairScorer, WASM kernels), node activations on prompts and on
 * pretraining text, attention patterns, next-token distributions and the eval table.
 *
 * Browser-safe (no Deno APIs): the page runs it in a dedicated worker (src/view/page/
 * model_worker.ts); tests run it in Deno.
 */
import type { ComputeBackend } from "../backend/backend.ts";
import { corpusSource } from "../data/dataset.ts";
import { TRAIN_SEED } from "../data/corpus/index.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";
import {
  evalTask,
  MAX_PAIRS,
  PairScorer,
  type PromptItem,
  type TaskResult,
} from "../eval/task_eval.ts";
import { accuracyOfLosses, accuracyOfMargins } from "../eval/accuracy.ts";
import type { Model } from "../model/model.ts";
import { nodeAt, nodeId, nodeIndex, nodeRow, parseNodeId } from "../model/nodes.ts";
import { checkMeets, measureCheck } from "../prune/bisect.ts";
import type { Calibration } from "../prune/calibrate.ts";
import { circuitEdges } from "../prune/edges.ts";
import { circuitLoss, measureCircuit } from "../prune/measure.ts";
import { type OnProgress, poolRoles, settingsFromCircuit } from "../prune/settings.ts";
import { MaskedScorer } from "../prune/masked_scorer.ts";
import { circuitJson } from "../prune/circuit_file.ts";
import { type TaskData, taskData } from "../prune/task_data.ts";
import { type Circuit, parseCircuit } from "../run/circuit.ts";
import { circuitFile, parseMeans, RUN_FILES } from "../run/format.ts";
import { type OpenRun, openRun, passTokens, type RunFiles } from "../run/open.ts";
import { type RunConfig } from "../run/config.ts";
import { EVAL_SEED, PRUNE_SEED, TASKS } from "../../tasks/index.ts";
import { LayerCache } from "../prune/layer_cache.ts";
import { lapTimer } from "../util/laps.ts";

/** The run's files as the page has them (JSON already parsed, binaries as bytes). */
export interface ViewFiles extends RunFiles {
  /** means.safetensors, or null when the run has none. */
  means: Uint8Array | null;
}

export interface EngineOptions {
  /** The kernel module's bytes or the compiled module. */
  wasm: Uint8Array | WebAssembly.Module;
  threads: number;
  /** Shared memory (needed for threads > 1; false where the page is not cross-origin isolated). */
  shared: boolean;
  /** The compute-thread script, for threads > 1. */
  workerUrl?: string | URL;
}

/** The most prompts one evaluation takes (the scorer's buffers are allocated once). */
const MAX_PROMPTS = 2 * MAX_PAIRS;

/** Pairs of the quick estimate after a toggle (the first evaluation pairs), before the exact number. */
export const ESTIMATE_PAIRS = 8;

/** One evaluation of the circuit's task under a node set. */
export interface CircuitEval {
  /**
   * Mean task loss with the circuit file's calibration (nats): circuitLoss on the evaluation
   * pairs, so for the file's node set it is losses.circuit_calibrated.
   */
  loss: number;
  /** The same without calibration (raw logits): losses.circuit for the file's nodes. */
  lossRaw: number;
  /**
   * Fraction of prompts whose calibrated P(correct) is above one half, a tie (exactly one half)
   * counted 1/2 (src/eval/accuracy.ts).
   */
  accuracy: number;
  /** Prompts whose calibrated P(correct) is exactly one half (f32). */
  ties: number;
  /** Calibrated P(correct) per prompt of the first example pairs, [2·examples]. */
  pCorrect: number[];
  /** Nodes kept. */
  kept: number;
  /** Evaluation pairs it was computed on: all of them, or the first ESTIMATE_PAIRS. */
  pairs: number;
  /** False for the quick estimate on the first pairs. */
  exact: boolean;
  /** Share of the blocks a full pass would run that ran (the rest were kept from before). */
  blocksRun: number;
  /** Worker-side milliseconds of this evaluation. */
  ms: number;
}

/** The full model on the circuit's task (no ablation, no calibration). */
export interface FullEval {
  loss: number;
  /** As CircuitEval's: ties counted 1/2. */
  accuracy: number;
  ties: number;
  pCorrect: number[];
  ms: number;
}

export interface CircuitTaskInfo {
  task: string;
  pairs: number;
  /** Pairs of the quick estimate (equal to `pairs` when there is none). */
  estimatePairs: number;
  /** The first example pairs: prompts and answers, as in circuit.examples. */
  examples: { prompts: [string, string]; answers: [string, string] }[];
}

/** A prompt as tokens: ids and their text. */
export interface TokenText {
  ids: number[];
  text: string[];
}

/** A node's activation on the two prompts of example pairs (class A = first prompt). */
export interface NodeOnTask {
  pairs: { prompts: [TokenText, TokenText]; acts: [number[], number[]] }[];
  /** Mean activation at positions counted from the prompt's end (index 0 = last token). */
  meanFromEnd: [number[], number[]];
  /** Pairs the means are taken over (the first evaluation pairs, at most 64). */
  meanPairs: number;
}

export interface Snippet {
  /** The quantile of the token's activation among all tokens of the sample (1 = top). */
  quantile: number;
  value: number;
  tokens: string[];
  acts: number[];
  /** Index in tokens of the token the snippet was chosen for. */
  at: number;
}

export interface NodeSnippets {
  snippets: Snippet[];
  /** Tokens the quantiles were taken over, and the data they came from. */
  tokens: number;
  source: string;
  /** Fraction of tokens where the node is nonzero (AbsTopK keeps a fraction of each location). */
  nonzero: number;
  min: number;
  max: number;
}

export interface AttentionView {
  tokens: string[];
  head: number;
  /** [T, T] row-major: query t (row), key s (column); s > t is 0. */
  headPattern: number[];
  /** The channel's own score contribution q_c(t)·k_c(s)/√d_head, [T, T]; null for v channels. */
  channelScores: number[] | null;
}

export interface NextToken {
  token: string;
  id: number;
  p: number;
}

export interface PromptView {
  tokens: string[];
  full: NextToken[];
  circuit: NextToken[] | null;
  truncated: boolean;
}

/** Thrown by an evaluation the page has overtaken with a newer toggle. */
export class Cancelled extends Error {
  constructor() {
    super("cancelled: a newer evaluation was asked for");
  }
}

interface TaskSession {
  circuit: Circuit;
  data: TaskData;
  ms: MaskedScorer;
  /** Kept blocks' inputs for the evaluation pairs, and for the estimate's first pairs. */
  exact: LayerCache;
  estimate: { items: PromptItem[]; cache: LayerCache } | null;
  info: CircuitTaskInfo;
  exampleCount: number;
  full: FullEval | null;
}

const num = (v: unknown, fallback: number) => typeof v === "number" ? v : fallback;

export class Engine {
  readonly #scorer: PairScorer;
  readonly #tokensPerBatch: number;
  /** One MaskedScorer per (ablation, freeze_norm): each owns arena buffers, so they are kept. */
  readonly #masked = new Map<string, MaskedScorer>();
  #session: TaskSession | null = null;
  #corpus: { rows: Int32Array; R: number; T: number } | null = null;
  /** Generation counter the page bumps on each toggle (shared memory), or null. */
  #cancel: Int32Array | null = null;

  private constructor(
    /** The run as the CLI's modules take it. */
    readonly run: OpenRun,
    /** The run's node means (means.safetensors, checked against the weights), or null. */
    readonly means: { mean: Float32Array; tokens: number } | null,
  ) {
    const { model, tokenizer } = run;
    // Tokens per forward pass: the CLI's (the training batch, fewer where the memory holds fewer).
    this.#tokensPerBatch = passTokens(run, true);
    // Its activations at their largest shape (a full scoring batch, with the raw copies an
    // ablation keeps) come first: buffers allocated later never sit below them.
    this.#scorer = new PairScorer(model, tokenizer, MAX_PROMPTS, this.#tokensPerBatch, {
      ablated: true,
    });
  }

  get rc(): RunConfig {
    return this.run.rc;
  }
  get tok(): Tokenizer {
    return this.run.tokenizer;
  }
  get be(): ComputeBackend {
    return this.run.be;
  }
  get model(): Model {
    return this.run.model;
  }
  get weightsSha256(): string {
    return this.run.weightsSha256;
  }
  /** The run's node means (model-wide order), or null without a valid means.safetensors. */
  get nodeMeans(): Float32Array | null {
    return this.means?.mean ?? null;
  }

  /**
   * Opens a run from its files; every problem with them is a one-line UserError naming the file.
   */
  static async open(files: ViewFiles, opts: EngineOptions): Promise<Engine> {
    const run = await openRun(files, {
      threads: opts.threads,
      wasm: opts.wasm,
      shared: opts.shared,
      workerUrl: opts.workerUrl,
    });
    try {
      const means = files.means
        ? parseMeans(files.means, run.model.nodes.total, run.weightsSha256)
        : null;
      return new Engine(run, means);
    } catch (e) {
      run.close();
      throw e;
    }
  }

  close(): void {
    this.run.close();
  }

  /**
   * Lets the page overtake a running evaluation: an evaluation given a generation stops between
   * batches (throwing Cancelled) once flag[0] holds another one. Needs shared memory.
   */
  setCancelFlag(flag: Int32Array | null): void {
    this.#cancel = flag;
  }

  /** A node's ablation value under the circuit's ablation (its mean, or 0), null if unknown. */
  nodeMeanOf(id: string, ablation: "mean" | "zero"): number | null {
    if (ablation === "zero") return 0;
    return this.nodeMeans ? this.nodeMeans[this.nodeIndexOf(id)] : null;
  }

  /** Model-wide index of a node id (UserError when the model has no such node). */
  nodeIndexOf(id: string): number {
    const ref = parseNodeId(id);
    const i = ref ? nodeIndex(this.model.d, this.model.nodes, ref) : -1;
    if (i < 0) throw new UserError(`node ${id}: not a node of this model`);
    return i;
  }

  #maskedScorer(ablation: "mean" | "zero", freezeNorm: boolean): MaskedScorer {
    const key = `${ablation}/${freezeNorm}`;
    let ms = this.#masked.get(key);
    if (!ms) {
      const means = ablation === "mean" ? this.nodeMeans : null;
      ms = new MaskedScorer(this.model, this.#scorer, means, freezeNorm);
      this.#masked.set(key, ms);
    }
    return ms;
  }

  /**
   * Prepares the circuit's task as `deno task prune` measured it: its pruning and evaluation
   * pairs (taskData: PRUNE_SEED, EVAL_SEED and the file's counts), the scorer with the file's
   * ablation and --freeze-norm, the run's node means. Throws a UserError when the circuit
   * belongs to other weights or other means, or cannot be measured.
   */
  setCircuit(c: Circuit, exampleCount = 8): CircuitTaskInfo {
    const run = this.run.path;
    const where = `${run}/${circuitFile(c.task)}`;
    const again = `prune again with deno task prune --model ${run} --task ${c.task}`;
    if (c.model.weights_sha256 !== this.weightsSha256) {
      throw new UserError(
        `${where}: was pruned from other weights (sha256 ${
          c.model.weights_sha256.slice(0, 12)
        }…, model.safetensors is ${this.weightsSha256.slice(0, 12)}…): ${again}`,
      );
    }
    const task = TASKS.find((t) => t.name === c.task);
    if (!task) throw new UserError(`${where}: unknown task '${c.task}'`);
    if (c.pairs.prune_seed !== PRUNE_SEED || c.pairs.eval_seed !== EVAL_SEED) {
      throw new UserError(
        `${where}: pair seeds ${c.pairs.prune_seed}/${c.pairs.eval_seed} are not this ` +
          `version's (${PRUNE_SEED}/${EVAL_SEED}): ${again}`,
      );
    }
    const items = 2 * Math.max(c.pairs.prune_pairs, c.pairs.eval_pairs);
    if (items > MAX_PROMPTS) {
      throw new UserError(`${where}: ${items / 2} pairs in one set (at most ${MAX_PROMPTS / 2})`);
    }
    for (const n of c.nodes) this.nodeIndexOf(n.id);
    if (c.ablation === "mean") {
      if (!this.nodeMeans) {
        throw new UserError(
          `${run}/${RUN_FILES.means}: missing or not from these weights; it is written by ` +
            `deno task prune --model ${run} --task ${c.task}`,
        );
      }
      // The circuit names its nodes' means: the file must still hold the ones it was pruned with.
      const m = this.nodeMeans;
      const off = c.nodes.find((n) => m[this.nodeIndexOf(n.id)] !== n.mean);
      if (off) {
        throw new UserError(
          `${run}/${RUN_FILES.means}: not the means ${circuitFile(c.task)} was pruned with ` +
            `(node ${off.id}: ${m[this.nodeIndexOf(off.id)]} here, ${off.mean} there): ${again}`,
        );
      }
    }
    const data = taskData(this.run, task, c.pairs.prune_pairs, c.pairs.eval_pairs);
    if ("note" in data) throw new UserError(`${where}: ${c.task} is ${data.note}`);
    const ms = this.#maskedScorer(c.ablation, c.freeze_norm);
    const cache = () => new LayerCache(this.model, () => ms.mask, c.freeze_norm);
    const estPairs = Math.min(ESTIMATE_PAIRS, c.pairs.eval_pairs);
    const n = Math.min(exampleCount, data.evalPairs.length);
    const info: CircuitTaskInfo = {
      task: c.task,
      pairs: data.evalPairs.length,
      estimatePairs: estPairs < c.pairs.eval_pairs ? estPairs : data.evalPairs.length,
      examples: data.evalPairs.slice(0, n).map((p) => ({ prompts: p.prompts, answers: p.answers })),
    };
    this.#session = {
      circuit: c,
      data,
      ms,
      exact: cache(),
      estimate: estPairs < c.pairs.eval_pairs
        ? { items: data.evalItems.slice(0, 2 * estPairs), cache: cache() }
        : null,
      info,
      exampleCount: n,
      full: null,
    };
    return info;
  }

  #needSession(): TaskSession {
    if (!this.#session) throw new Error("engine: no circuit set");
    return this.#session;
  }

  /** A cache's resume hooks that also stop at the first batch after the page moved on. */
  #cancellable(cache: LayerCache, generation: number | undefined) {
    const flag = this.#cancel;
    if (generation === undefined || !flag) return cache;
    return {
      start: (k: number, B: number, T: number) => {
        if (Atomics.load(flag, 0) !== generation) throw new Cancelled();
        return cache.start(k, B, T);
      },
      end: (k: number) => cache.end(k),
    };
  }

  /**
   * The circuit's task with only `kept` nodes, everything else ablated (mean or zero, as the
   * file says): circuitLoss on the evaluation pairs with the file's calibration, the number
   * `deno task prune` reports as losses.circuit_calibrated for the file's nodes. With `estimate`,
   * the same on the first ESTIMATE_PAIRS pairs only (exact: false). Blocks before the first
   * layer whose nodes changed since the last call are not rerun (same bits; src/prune/layer_cache.ts).
   * With a generation (setCancelFlag), it may throw Cancelled.
   */
  evaluate(
    kept: readonly string[],
    opts: { estimate?: boolean; generation?: number } = {},
  ): CircuitEval {
    const s = this.#needSession();
    const t0 = performance.now();
    const idx = kept.map((id) => this.nodeIndexOf(id));
    const est = opts.estimate ? s.estimate : null;
    const items = est ? est.items : s.data.evalItems;
    const cache = est ? est.cache : s.exact;
    cache.resetCounts();
    const c = s.circuit.calibration;
    const r = circuitLoss(s.ms, items, idx, c, this.#cancellable(cache, opts.generation));
    const per = s.ms.calibrated(r.scores, c, true).items!;
    const acc = accuracyOfLosses(per);
    return {
      loss: r.calibrated,
      lossRaw: r.raw,
      accuracy: acc.accuracy,
      ties: acc.ties,
      pCorrect: Array.from(per.subarray(0, 2 * s.exampleCount), (l) => Math.exp(-l)),
      kept: new Set(idx).size,
      pairs: items.length / 2,
      exact: !est,
      blocksRun: cache.blocksRun / Math.max(1, cache.blocksFull),
      ms: performance.now() - t0,
    };
  }

  /** The unablated model on the circuit's task (losses.full). */
  evaluateFull(): FullEval {
    const s = this.#needSession();
    if (s.full) return s.full;
    const t0 = performance.now();
    const r = s.ms.score(s.data.evalItems, false);
    const acc = accuracyOfMargins(Array.from(r.correct, (x, i) => x - r.wrong[i]));
    s.full = {
      loss: r.meanLoss,
      accuracy: acc.accuracy,
      ties: acc.ties,
      pCorrect: Array.from(r.losses.subarray(0, 2 * s.exampleCount), (l) => Math.exp(-l)),
      ms: performance.now() - t0,
    };
    return s.full;
  }

  /**
   * A circuit file for the node set `ids`, measured as `deno task prune` measures the circuit
   * it finds (measureCircuit, circuitJson): calibration fitted on the (bisection's) pruning pairs
   * for this set,
   * then on the evaluation pairs the full model, the set alone, the set ablated, random sets with
   * its counts (the file's draws and seed) and each node's delta (the file's delta pairs). The
   * file's settings (ablation, freeze_norm, target, seeds, hyperparameters) carry over; the
   * ranking is the file's order of these nodes, and the curve has the set's own point.
   */
  subgraph(ids: readonly string[], which: string, progress?: OnProgress): Circuit {
    const s = this.#needSession();
    const c = s.circuit;
    const t0 = performance.now();
    const idx = [...new Set(ids.map((id) => this.nodeIndexOf(id)))];
    const kept = [...idx].sort((a, b) => a - b);
    const { timing, lap } = lapTimer();
    const ms = s.ms;
    // As prune calibrates: on the first bisect_pairs pruning pairs (all of them in files written
    // before that setting existed), and checks with that calibration on the pairs after the
    // masks' own.
    const st = settingsFromCircuit(c);
    ms.keepOnly(kept);
    const { bisect: bisectItems, check: checkItems } = poolRoles(s.data.pool, st);
    const fit = ms.measure(bisectItems);
    const calibration: Calibration = fit.c;
    const chk = checkItems.length
      ? measureCheck(ms, checkItems, calibration, st.checkMargin)
      : null;
    const pruningLosses = {
      bisect: { pairs: bisectItems.length / 2, circuit: fit.raw, circuit_calibrated: fit.cal },
      check: chk && chk.losses,
    };
    progress?.("calibrate", 1, 1);
    lap("calibrate");
    const deltaCache = new LayerCache(this.model, () => ms.mask, c.freeze_norm);
    const m = measureCircuit(ms, s.data.evalItems, kept, calibration, st, {
      progress,
      lap,
      deltaResume: deltaCache,
    });
    const order = new Map(c.ranking.map((id, r) => [id, r]));
    const ranking = [...idx].sort((a, b) => {
      const ra = order.get(nodeId(nodeAt(this.model.d, this.model.nodes, a))) ?? Infinity;
      const rb = order.get(nodeId(nodeAt(this.model.d, this.model.nodes, b))) ?? Infinity;
      return ra - rb || a - b;
    });
    const out = circuitJson(
      this.run,
      s.data,
      {
        kept,
        ranking,
        curve: [{ k: kept.length, loss: fit.raw, loss_calibrated: fit.cal }],
        calibration,
        reached: fit.cal <= c.target && !(chk && !checkMeets(chk, c.target, st.checkMargin)),
        checkMargin: st.checkMargin,
        pruningLosses,
        ...m,
        trainLoss: NaN,
        trainOn: kept.length,
        hp: st.hp,
        logitScale: num(c.hyperparameters.logit_scale, 1),
        collapses: [],
        ks: [kept.length],
        trims: [],
        timing,
      },
      st,
      {
        prunePairs: c.pairs.prune_pairs,
        evalPairs: c.pairs.eval_pairs,
        meansTokens: num(c.hyperparameters.means_tokens, this.means?.tokens ?? 0),
        means: c.ablation === "mean" ? this.nodeMeans : null,
        timeS: (performance.now() - t0) / 1000,
      },
    );
    out.hyperparameters = { ...out.hyperparameters, view_subgraph: which };
    // What every reader of circuit files checks.
    return parseCircuit(JSON.parse(JSON.stringify(out)), "the subgraph's circuit file");
  }

  #tokenText(ids: readonly number[]): string[] {
    return ids.map((id) => this.tok.decode([id]));
  }

  /** Runs the unablated model on one sequence (eot + ids, cut from the left to n_ctx). */
  #forwardOne(ids: readonly number[]): { seq: number[]; truncated: boolean } {
    const nCtx = this.rc.model.nCtx;
    let seq = [this.tok.eot, ...ids];
    const truncated = seq.length > nCtx;
    if (truncated) seq = seq.slice(seq.length - nCtx);
    this.model.forward(Int32Array.from(seq), null, 1, seq.length);
    return { seq, truncated };
  }

  #rowValues(id: string, N: number): Float32Array {
    const ref = parseNodeId(id)!;
    this.nodeIndexOf(id);
    const a = this.model.acts.layers[ref.layer];
    return this.be.arena.f32(nodeRow(a, this.model.d, ref, N), N).slice();
  }

  /** The node's activation (unablated model) on both prompts of the first example pairs. */
  nodeOnTask(id: string, pairsShown = 4): NodeOnTask {
    const s = this.#needSession();
    const all = Math.min(s.data.evalItems.length / 2, 64);
    const out: NodeOnTask = { pairs: [], meanFromEnd: [[], []], meanPairs: all };
    const sums: [number[], number[]] = [[], []], counts: [number[], number[]] = [[], []];
    for (let k = 0; k < all; k++) {
      const texts: TokenText[] = [], acts: number[][] = [];
      for (const m of [0, 1] as const) {
        const it = s.data.evalItems[2 * k + m];
        const { seq } = this.#forwardOne(it.tokens);
        const v = Array.from(this.#rowValues(id, seq.length));
        for (let j = 0; j < v.length; j++) {
          const back = v.length - 1 - j;
          sums[m][back] = (sums[m][back] ?? 0) + v[j];
          counts[m][back] = (counts[m][back] ?? 0) + 1;
        }
        texts.push({ ids: seq, text: this.#tokenText(seq) });
        acts.push(v);
      }
      if (k < pairsShown) {
        out.pairs.push({
          prompts: [texts[0], texts[1]],
          acts: [acts[0], acts[1]],
        });
      }
    }
    const depth = Math.min(sums[0].length, sums[1].length, 24);
    for (const m of [0, 1] as const) {
      out.meanFromEnd[m] = Array.from({ length: depth }, (_, j) => sums[m][j] / counts[m][j]);
    }
    return out;
  }

  /**
   * Pretraining rows for snippets: the start of the run's own training stream (the one its node
   * means are taken over, src/prune/means.ts), or the embedded corpus for a --data run.
   */
  #snippetRows(): { rows: Int32Array; R: number; T: number } {
    if (this.#corpus) return this.#corpus;
    const T = this.rc.model.nCtx;
    const R = Math.max(8, Math.ceil(16384 / T));
    const batch = corpusSource(this.tok, (TRAIN_SEED + this.rc.train.seed) >>> 0).nextBatch(R, T);
    const rows = new Int32Array(R * T);
    for (let r = 0; r < R; r++) rows.set(batch.subarray(r * (T + 1), r * (T + 1) + T), r * T);
    this.#corpus = { rows, R, T };
    return this.#corpus;
  }

  /**
   * The node's top and bottom activating snippets over pretraining text, at a few quantiles, each
   * a window of tokens around the chosen token with the node's activation on every token.
   */
  nodeSnippets(id: string, perQuantile = 2, before = 14, after = 4): NodeSnippets {
    const { rows, R, T } = this.#snippetRows();
    const B = Math.max(1, Math.min(R, Math.floor(this.#tokensPerBatch / T)));
    const acts = new Float32Array(R * T);
    for (let r0 = 0; r0 < R; r0 += B) {
      const b = Math.min(B, R - r0);
      this.model.forward(rows.subarray(r0 * T, (r0 + b) * T), null, b, T);
      acts.set(this.#rowValues(id, b * T), r0 * T);
    }
    const order = Array.from(acts.keys()).sort((x, y) => acts[y] - acts[x]);
    const n = order.length;
    let nonzero = 0;
    for (const v of acts) if (v !== 0) nonzero++;
    const quantiles = [1, 0.99, 0.9, 0.5, 0.1, 0.01, 0];
    const used = new Set<number>();
    const snippets: Snippet[] = [];
    for (const q of quantiles) {
      let pos = Math.round((1 - q) * (n - 1));
      let taken = 0;
      // Walk from the quantile's rank towards the middle, skipping overlapping windows.
      const step = q >= 0.5 ? 1 : -1;
      while (taken < perQuantile && pos >= 0 && pos < n) {
        const t = order[pos];
        const row = Math.floor(t / T), col = t % T;
        const key = row * 1000 + Math.floor(col / (before + after + 1));
        if (!used.has(key)) {
          used.add(key);
          const lo = Math.max(0, col - before), hi = Math.min(T, col + after + 1);
          const ids = Array.from(rows.subarray(row * T + lo, row * T + hi));
          snippets.push({
            quantile: q,
            value: acts[t],
            tokens: this.#tokenText(ids),
            acts: Array.from(acts.subarray(row * T + lo, row * T + hi)),
            at: col - lo,
          });
          taken++;
        }
        pos += step;
      }
    }
    const data = this.rc.train.data;
    return {
      snippets,
      tokens: n,
      source: data === "corpus"
        ? "the run's training stream (embedded generator, from its start)"
        : `the embedded corpus (the run trained on ${data}, which a page cannot read)`,
      nonzero: nonzero / n,
      min: acts[order[n - 1]],
      max: acts[order[0]],
    };
  }

  /** The attention pattern of a q/k/v channel's head, and the channel's own scores, on a prompt. */
  attention(id: string, text: string): AttentionView {
    const ref = parseNodeId(id);
    if (!ref || !["attn.q", "attn.k", "attn.v"].includes(ref.location)) {
      throw new UserError(`node ${id}: attention patterns are for q, k and v channels`);
    }
    this.nodeIndexOf(id);
    const { D } = this.model.d;
    const { seq } = this.#forwardOne(this.tok.encode(text));
    const T = seq.length, N = T;
    const head = Math.floor(ref.index / D);
    const a = this.model.acts.layers[ref.layer];
    const att = this.be.arena.f32(a.attnPattern + 4 * head * T * T, T * T);
    let channelScores: number[] | null = null;
    if (ref.location !== "attn.v") {
      const c = ref.index;
      const d = this.model.d,
        at = (location: "attn.q" | "attn.k") =>
          this.be.arena.f32(nodeRow(a, d, { layer: ref.layer, location, index: c }, N), N);
      const q = at("attn.q"), k = at("attn.k");
      channelScores = new Array(T * T).fill(0);
      for (let t = 0; t < T; t++) {
        for (let s = 0; s <= t; s++) channelScores[t * T + s] = q[t] * k[s] / Math.sqrt(D);
      }
    }
    return { tokens: this.#tokenText(seq), head, headPattern: Array.from(att), channelScores };
  }

  #topTokens(N: number, pos: number, k: number): NextToken[] {
    const V = this.model.d.V;
    const logits = this.be.arena.f32(this.model.acts.logits, V * N);
    let max = -Infinity;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[v * N + pos]);
    let sum = 0;
    const p = new Float64Array(V);
    for (let v = 0; v < V; v++) sum += p[v] = Math.exp(logits[v * N + pos] - max);
    const top = Array.from(p.keys()).sort((a, b) => p[b] - p[a]).slice(0, k);
    return top.map((id) => ({ id, token: this.tok.decode([id]), p: p[id] / sum }));
  }

  /**
   * Next-token distribution after `text` for the full model and, when `kept` is given (a circuit
   * is set), for the model with only those nodes (raw logits: the calibration is defined for a
   * task's two candidates only).
   */
  prompt(text: string, kept: readonly string[] | null, k = 10): PromptView {
    const { seq, truncated } = this.#forwardOne(this.tok.encode(text));
    const N = seq.length;
    const full = this.#topTokens(N, N - 1, k);
    let circuit: NextToken[] | null = null;
    const sess = this.#session;
    if (kept && sess) {
      // As the task's scoring runs it: frozen norms take the unablated pass's scales.
      sess.ms.keepOnly(kept.map((id) => this.nodeIndexOf(id)));
      sess.ms.forward(Int32Array.from(seq), 1, N);
      circuit = this.#topTokens(N, N - 1, k);
    }
    return { tokens: this.#tokenText(seq), full, circuit, truncated };
  }

  /** Every edge among `ids` (src/prune/edges.ts, as the circuit file's edges are found). */
  edgesAmong(ids: readonly string[]): { source: string; target: string; weight: number }[] {
    return circuitEdges(this.model, new Set(ids.map((id) => this.nodeIndexOf(id))));
  }

  /** The eval table (`deno task eval`'s numbers) for the full model, one task at a time. */
  evalTask(name: string, pairs: number): TaskResult {
    const task = TASKS.find((t) => t.name === name);
    if (!task) throw new UserError(`unknown task '${name}'`);
    if (2 * pairs > MAX_PROMPTS) throw new UserError(`at most ${MAX_PROMPTS / 2} pairs`);
    return evalTask(this.#scorer, this.tok, task, pairs, 2);
  }
}
