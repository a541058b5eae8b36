/**
 * Evaluating a model on the task suite (docs/method.md §3): minimal pairs of prompts, each scored by
 * the loss over its two candidate tokens. Pure (the viewer runs it too); src/eval/run_eval.ts
 * evaluates a run folder, validation loss included.
 *
 * Each task member is a prompt whose correct next token is `a` and whose alternative is `b`.
 * Task loss is the binary cross-entropy restricted to the two candidates at the prompt's last
 * position, averaged per sequence: mean over members of softplus(l_b − l_a) (the released viewer
 * stores the pair sum, twice this). Accuracy is the fraction of members with l_a > l_b.
 *
 * Prompts run in batches of B rows of T tokens, each row `<|endoftext|>` + the prompt, left-aligned
 * and padded after with `<|endoftext|>`: attention is causal, so the padding cannot reach the
 * prompt's last position, and a model with positions sees the prompt at positions 0, 1, … as in
 * training. The leading `<|endoftext|>` is what the
 * model saw before every training document (src/data/dataset.ts). Every number that decides a
 * result (losses, their means, logit differences) is computed by WASM kernels.
 */
import { accuracyOfMargins } from "./accuracy.ts";
import { add, gatherCols, meanLosses, pairLossForward, scale } from "../backend/ops/index.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import type { Model } from "../model/model.ts";
import { EVAL_SEED, makePairs, type Task, type TaskPair } from "../../tasks/index.ts";

/**
 * The most pairs one set of a task may have (eval's --pairs, prune's pair sets): beyond it more
 * pairs change no reported digit, and it is what the viewer scores in one go.
 */
export const MAX_PAIRS = 2048;

/** Task loss under which a task counts as solved (docs/method.md §3: the pruning target). */
export const SOLVED_LOSS = 0.15;

/** One prompt to score: its tokens (without the leading eot), the correct and the other token. */
export interface PromptItem {
  tokens: readonly number[];
  correct: number;
  wrong: number;
}

/** Scores of n prompts, in the order given. */
export interface PromptScores {
  /** softplus(l_wrong − l_correct) per prompt, nats. */
  losses: Float32Array;
  /** Logits of the correct and of the wrong token at the prompt's last position. */
  correct: Float32Array;
  wrong: Float32Array;
  /** correct − wrong per prompt (computed in WASM). */
  diff: Float32Array;
  /** Mean of `losses` and of correct − wrong (both computed in WASM). */
  meanLoss: number;
  meanDiff: number;
  /** Prompts longer than n_ctx (with the leading eot), cut from the left. */
  truncated: number;
}

/** One forward batch of a `score` call, for callers that run a backward on it (pruning). */
export interface ScoredBatch {
  /** Rows (prompts) and tokens per row of this batch. */
  B: number;
  T: number;
  /** Columns of model.acts.logits ([V, N]: one per row, the row's last position). */
  N: number;
  /** Arena pointers of the rows' pair-loss items (pos = logit column, a = correct, b = wrong). */
  pos: number;
  a: number;
  b: number;
}

export interface ScoreOptions {
  /** Called after each batch's forward (its logits still in model.acts). */
  onBatch?: (batch: ScoredBatch) => void;
  /**
   * Every RMSNorm uses the scale of the unablated model on the same batch (pruning's
   * --freeze-norm): each batch runs twice, first without the ablation to record the scales.
   */
  freezeNorm?: boolean;
  /** Work to skip per batch, from earlier passes over the same items (the viewer's toggles). */
  resume?: BatchResume;
}

/**
 * Lets a caller that scores one item list again and again under masks differing in a few nodes
 * (the viewer's live toggles) skip the blocks a change cannot reach. Batches are numbered in the
 * order they run, which is the same for the same items.
 */
export interface BatchResume {
  /**
   * Before batch k's forward (B rows of T tokens; call model.prepare(B, T) to write into its
   * activations). Returns the first block to run, having written that block's input when it is
   * not 0, and whether it wrote every frozen norm scale (then freezeNorm's unablated pass is
   * skipped; without them fromLayer must be 0, as that pass overwrites the residuals).
   */
  start(k: number, B: number, T: number): { fromLayer: number; frozen: boolean };
  /** After batch k's forward (its activations and logits in model.acts). */
  end(k: number): void;
}

/**
 * Batched scoring of prompts on one model (under whatever ablation the model has set). Its small
 * buffers are allocated once, on construction.
 */
export class PairScorer {
  readonly capacity: number;
  readonly #model: Model;
  /** The tokenizer's end-of-text id: the document start every prompt is scored after. */
  readonly #eot: number;
  readonly #tokensPerBatch: number;
  // Arena byte offsets, `capacity` entries each.
  readonly #losses: number;
  readonly #pos: number;
  readonly #a: number;
  readonly #b: number;
  /** Flat indices of each row's correct and wrong logit in its batch's [V, B] logits. */
  readonly #fa: number;
  readonly #fb: number;
  readonly #lc: number;
  readonly #lwNeg: number;
  readonly #diff: number;
  /** 0, 1, 2, …: a batch's rows as columns of its [V, B] logits. */
  readonly #rows: number;

  /**
   * @param tokenizer the one the prompts were encoded with (its eot starts every prompt)
   * @param capacity most prompts one `score` call takes
   * @param tokensPerBatch rows per forward are chosen so that B·T stays under this (at least one
   *   row); the trainer's batch×n_ctx is known to fit in memory
   * @param opts.ablated its passes run under a node ablation (pruning, the viewer): the
   *   activations it reserves keep the raw copies an ablation needs
   */
  constructor(
    model: Model,
    tokenizer: Tokenizer,
    capacity: number,
    tokensPerBatch: number,
    opts: { ablated?: boolean } = {},
  ) {
    if (tokenizer.vocabSize !== model.d.V) {
      throw new Error(`PairScorer: tokenizer of ${tokenizer.vocabSize} ids, model of ${model.d.V}`);
    }
    this.#model = model;
    this.#eot = tokenizer.eot;
    this.capacity = capacity;
    this.#tokensPerBatch = tokensPerBatch;
    const arena = model.be.arena;
    const buf = (what: string) => arena.tensor([capacity], what).ptr;
    this.#losses = buf("pair losses");
    this.#pos = buf("pair positions");
    this.#a = buf("correct tokens");
    this.#b = buf("wrong tokens");
    this.#fa = buf("correct logit indices");
    this.#fb = buf("wrong logit indices");
    this.#lc = buf("correct logits");
    this.#lwNeg = buf("wrong logits");
    this.#diff = buf("logit differences");
    this.#rows = buf("logit columns");
    arena.i32(this.#rows, capacity).set(Int32Array.from({ length: capacity }, (_, r) => r));
    model.be.upload(this.#rows, 4 * capacity);
    // Its largest pass's activations, now: a larger pass after its user's own buffers would
    // allocate new ones above them and leave the old span behind.
    this.reserveActs(opts.ablated ?? false);
  }

  /**
   * Reserves the model's activations for this scorer's largest pass (model.reserveActs; `raw`
   * for passes under an ablation): B·T stays within tokensPerBatch, or one row of at most n_ctx.
   */
  reserveActs(raw: boolean): void {
    const T = this.#model.cfg.nCtx;
    this.#model.reserveActs(Math.ceil(this.#tokensPerBatch / T), T, raw);
  }

  /** Scores `items` (at most `capacity`). */
  score(items: readonly PromptItem[], opts: ScoreOptions = {}): PromptScores {
    const n = items.length;
    if (n > this.capacity) throw new Error(`PairScorer: ${n} prompts, capacity ${this.capacity}`);
    const model = this.#model, be = model.be, arena = be.arena;
    const { V } = model.d;
    const nCtx = model.cfg.nCtx;
    const eot = this.#eot;
    let truncated = 0;
    const seqs = items.map((it) => {
      const s = [eot, ...it.tokens];
      if (s.length <= nCtx) return s;
      truncated++;
      return s.slice(s.length - nCtx);
    });
    // Similar lengths share a batch, so little of each row is padding.
    const order = seqs.map((_, i) => i).sort((x, y) => seqs[x].length - seqs[y].length);
    for (let start = 0, k = 0; start < n; k++) {
      let end = start + 1;
      while (end < n && (end + 1 - start) * seqs[order[end]].length <= this.#tokensPerBatch) end++;
      const B = end - start, T = seqs[order[end - 1]].length;
      const tokens = new Int32Array(B * T).fill(eot);
      const pos = arena.i32(this.#pos + start * 4, B);
      const a = arena.i32(this.#a + start * 4, B);
      const b = arena.i32(this.#b + start * 4, B);
      const fa = arena.i32(this.#fa + start * 4, B), fb = arena.i32(this.#fb + start * 4, B);
      for (let r = 0; r < B; r++) {
        const it = items[order[start + r]], s = seqs[order[start + r]];
        tokens.set(s, r * T);
        pos[r] = r * T + s.length - 1;
        a[r] = it.correct;
        b[r] = it.wrong;
        fa[r] = it.correct * B + r;
        fb[r] = it.wrong * B + r;
      }
      for (const p of [this.#pos, this.#a, this.#b, this.#fa, this.#fb]) {
        be.upload(p + start * 4, 4 * B);
      }
      // Logits only at each row's last position: column r of [V, B] is row r's prediction.
      const cols = { ptr: this.#pos + start * 4, count: B };
      const plan = opts.resume?.start(k, B, T) ?? { fromLayer: 0, frozen: false };
      if (opts.freezeNorm && !plan.frozen && plan.fromLayer !== 0) {
        throw new Error("PairScorer: resuming a frozen-norm pass needs the frozen scales");
      }
      const fwd = { logitCols: cols, fromLayer: plan.fromLayer };
      if (opts.freezeNorm) {
        model.forwardFrozenNorms(tokens, B, T, { ...fwd, recorded: plan.frozen });
      } else model.forward(tokens, null, B, T, fwd);
      opts.resume?.end(k);
      const logits = model.acts.logits;
      pairLossForward(be, {
        losses: this.#losses + start * 4,
        logits,
        pos: this.#rows,
        a: this.#a + start * 4,
        b: this.#b + start * 4,
        count: B,
        V,
        N: B,
      });
      // Each row's two candidate logits, picked from [V, B] seen as one row of V·B, before the
      // next batch overwrites them: no read per batch (on a GPU, no wait).
      const pick = { inp: logits, C: 1, N: V * B, R: B };
      gatherCols(be, { ...pick, out: this.#lc + start * 4, idx: this.#fa + start * 4 });
      gatherCols(be, { ...pick, out: this.#lwNeg + start * 4, idx: this.#fb + start * 4 });
      opts.onBatch?.({
        B,
        T,
        N: B,
        pos: this.#rows,
        a: this.#a + start * 4,
        b: this.#b + start * 4,
      });
      start = end;
    }
    // Means and differences in WASM (or on the GPU), over the batch order, read in one go; then
    // back to the caller's order.
    scale(be, { x: this.#lwNeg, n, factor: -1 });
    add(be, { out: this.#diff, a: this.#lc, b: this.#lwNeg, n });
    const [mLoss, mDiff] = meanLosses(be, [
      { losses: this.#losses, N: n },
      { losses: this.#diff, N: n },
    ], [[this.#losses, 4 * n], [this.#diff, 4 * n], [this.#lc, 4 * n], [this.#lwNeg, 4 * n]]);
    const sorted = arena.f32(this.#losses, n), diffs = arena.f32(this.#diff, n);
    const lc = arena.f32(this.#lc, n), lwNeg = arena.f32(this.#lwNeg, n);
    const out: PromptScores = {
      losses: new Float32Array(n),
      correct: new Float32Array(n),
      wrong: new Float32Array(n),
      diff: new Float32Array(n),
      meanLoss: mLoss,
      meanDiff: mDiff,
      truncated,
    };
    for (let k = 0; k < n; k++) {
      out.losses[order[k]] = sorted[k];
      out.correct[order[k]] = lc[k];
      out.wrong[order[k]] = -lwNeg[k];
      out.diff[order[k]] = diffs[k];
    }
    return out;
  }
}

/** One example pair as shown by `--show`: P(correct) = exp(−loss) for each member. */
export interface PairExample {
  prompts: [string, string];
  answers: [string, string];
  /** null when the task is not measurable under this tokenizer. */
  probCorrect: [number | null, number | null];
}

export interface TaskResult {
  task: string;
  pairs: number;
  measurable: boolean;
  /** Why the task is not measurable (null when it is). */
  note: string | null;
  /** Mean per-sequence binary cross-entropy over both members of every pair (nats). */
  loss: number | null;
  /** Fraction of members whose correct token has the larger logit, ties counted 1/2 (accuracy.ts). */
  accuracy: number | null;
  /** Mean of l_correct − l_wrong (nats). */
  logitDiff: number | null;
  /**
   * Fraction of pairs where the model prefers the same token for both members (one of them is
   * then wrong): near 1, the model ignores the detail the pair differs in.
   */
  sameAnswer: number | null;
  /** loss < SOLVED_LOSS. */
  solved: boolean;
  truncated: number;
  examples: PairExample[];
}

/** The token id of a candidate, or a reason it has none. */
export function candidateId(tok: Tokenizer, text: string): number | string {
  const id = tok.singleToken(text);
  if (id !== null) return id;
  const shown = JSON.stringify(text).slice(1, -1);
  return `not measurable: '${shown}' is ${tok.encode(text).length} tokens under this tokenizer`;
}

/**
 * The scored prompts of `count` pairs of `task` from `seed`: items 2k and 2k+1 are pair k's two
 * prompts (each with its own correct token; item 2k's is the pair's first answer). A task whose
 * candidates are not single tokens of `tok` gives a note instead.
 */
export function taskItems(
  tok: Tokenizer,
  task: Task,
  seed: number,
  count: number,
): { pairs: TaskPair[]; items: PromptItem[]; note: null } | { pairs: TaskPair[]; note: string } {
  const pairs = makePairs(task, seed, count);
  const items: PromptItem[] = [];
  for (const p of pairs) {
    const ids = p.answers.map((t) => candidateId(tok, t));
    const why = ids.find((x) => typeof x === "string");
    if (why !== undefined) return { pairs, note: why as string };
    for (const i of [0, 1]) {
      items.push({
        tokens: tok.encode(p.prompts[i]),
        correct: ids[i] as number,
        wrong: ids[1 - i] as number,
      });
    }
  }
  return { pairs, items, note: null };
}

/** Evaluates one task on `pairs` pairs from EVAL_SEED, keeping the first `show` as examples. */
export function evalTask(
  scorer: PairScorer,
  tok: Tokenizer,
  task: Task,
  pairs: number,
  show = 0,
): TaskResult {
  const built = taskItems(tok, task, EVAL_SEED, pairs);
  const set = built.pairs;
  const base = { task: task.name, pairs, truncated: 0 };
  if (built.note !== null) {
    return {
      ...base,
      measurable: false,
      note: built.note,
      loss: null,
      accuracy: null,
      logitDiff: null,
      sameAnswer: null,
      solved: false,
      examples: set.slice(0, show).map((q) => ({
        prompts: q.prompts,
        answers: q.answers,
        probCorrect: [null, null],
      })),
    };
  }
  const items = built.items;
  const s = scorer.score(items);
  const margin = Array.from(s.correct, (c, i) => c - s.wrong[i]);
  let same = 0;
  // Members 2k and 2k+1 swap the candidates: one right and one wrong is the same token twice
  // (a tie prefers no token).
  for (let k = 0; k < set.length; k++) if (margin[2 * k] * margin[2 * k + 1] < 0) same++;
  return {
    ...base,
    measurable: true,
    note: null,
    loss: s.meanLoss,
    accuracy: accuracyOfMargins(margin).accuracy,
    logitDiff: s.meanDiff,
    sameAnswer: same / set.length,
    solved: s.meanLoss < SOLVED_LOSS,
    truncated: s.truncated,
    examples: set.slice(0, show).map((q, k) => ({
      prompts: q.prompts,
      answers: q.answers,
      probCorrect: [Math.exp(-s.losses[2 * k]), Math.exp(-s.losses[2 * k + 1])],
    })),
  };
}
