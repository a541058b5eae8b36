/**
 * What the viewer computes, on the same modules the CLI uses: a run's model opened from its
 * files' bytes (src/run/format.ts), the task's evaluation pairs scored under a node mask
 * (src/eval/task_eval.ts PairScorer, WASM kernels), node activations on prompts and on
 * pretraining text, attention patterns, next-token distributions and the eval table.
 *
 * Browser-safe (no Deno APIs): the page runs it in a dedicated worker (src/view/page/
 * model_worker.ts); tests run it in Deno.
 */
import { Backend } from "../backend/backend.ts";
import { corpusSource } from "../data/dataset.ts";
import { TRAIN_SEED } from "../data/corpus/index.ts";
import type { Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";
import { evalTask, PairScorer, type PromptItem, type TaskResult } from "../eval/task_eval.ts";
import type { LayerActs, Model } from "../model/model.ts";
import { nodeIndex, type NodeRef, parseNodeId } from "../model/nodes.ts";
import type { Circuit } from "../run/circuit.ts";
import {
  configTokenizerName,
  parseMeans,
  parseModelFile,
  parseRunConfig,
  parseTokenizer,
  RUN_FILES,
} from "../run/format.ts";
import { buildModel } from "../run/run_dir.ts";
import type { RunConfig } from "../train/config.ts";
import { makePairs, TASKS } from "../../tasks/index.ts";

/** The run's files as the page has them (JSON already parsed, binaries as bytes). */
export interface RunFiles {
  /** The run folder's name (for messages and commands). */
  run: string;
  config: unknown;
  tokenizer: unknown;
  model: Uint8Array;
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

/** Prompts scored per forward pass: the CLI's choice (train batch × n_ctx). */
function tokensPerBatch(rc: RunConfig): number {
  return Math.max(rc.train.batchSize * rc.model.nCtx, rc.model.nCtx);
}

/** The most prompts one evaluation takes (the scorer's buffers are allocated once). */
const MAX_PROMPTS = 4096;

/** One evaluation of the circuit's task under a node set. */
export interface CircuitEval {
  /** Mean task loss with the circuit's calibration (nats); equals losses.circuit_calibrated for the file's node set. */
  loss: number;
  /** The same without calibration (raw logits). */
  lossRaw: number;
  /** Fraction of prompts whose calibrated logit difference favours the correct token. */
  accuracy: number;
  /** P(correct) per prompt of the first `examples` pairs, calibrated, [2·examples]. */
  pCorrect: number[];
  /** Nodes kept. */
  kept: number;
  /** Worker-side milliseconds of this evaluation. */
  ms: number;
}

/** The full model on the circuit's task (no ablation, no calibration). */
export interface FullEval {
  loss: number;
  accuracy: number;
  pCorrect: number[];
  ms: number;
}

export interface CircuitTaskInfo {
  task: string;
  pairs: number;
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

/** Where a node's activation lives in one layer's buffers: buffer offset and row. */
export function nodeBuffer(a: LayerActs, n: NodeRef, HD: number): { ptr: number; row: number } {
  switch (n.location) {
    case "attn.act_in":
      return { ptr: a.ain, row: n.index };
    case "attn.q":
      return { ptr: a.qkv, row: n.index };
    case "attn.k":
      return { ptr: a.qkv, row: HD + n.index };
    case "attn.v":
      return { ptr: a.qkv, row: 2 * HD + n.index };
    case "attn.resid_delta":
      return { ptr: a.ao, row: n.index };
    case "mlp.act_in":
      return { ptr: a.min, row: n.index };
    case "mlp.post_act":
      return { ptr: a.u, row: n.index };
    case "mlp.resid_delta":
      return { ptr: a.mo, row: n.index };
  }
}

const softplus = (x: number) => x > 30 ? x : Math.log1p(Math.exp(x));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

interface TaskSession {
  circuit: Circuit;
  items: PromptItem[];
  info: CircuitTaskInfo;
  exampleCount: number;
}

export class Engine {
  readonly mask: number;
  readonly mean: number;
  readonly #scorer: PairScorer;
  #session: TaskSession | null = null;
  #corpus: { rows: Int32Array; R: number; T: number } | null = null;

  private constructor(
    readonly files: RunFiles,
    readonly rc: RunConfig,
    readonly tok: Tokenizer,
    readonly be: Backend,
    readonly model: Model,
    readonly weightsSha256: string,
    /** The run's node means (model-wide order), or null without a valid means.safetensors. */
    readonly nodeMeans: Float32Array | null,
  ) {
    const arena = be.arena;
    this.mask = arena.tensor([model.nodes.total], "viewer mask").ptr;
    this.mean = arena.tensor([model.nodes.total], "viewer means").ptr;
    this.#scorer = new PairScorer(model, tok, MAX_PROMPTS, tokensPerBatch(rc));
  }

  /**
   * Opens a run from its files; every problem with them is a one-line UserError naming the file.
   */
  static async open(files: RunFiles, opts: EngineOptions): Promise<Engine> {
    const where = (f: string) => `${files.run}/${f}`;
    const rc = parseRunConfig(files.config, where(RUN_FILES.config));
    const tok = parseTokenizer(
      files.tokenizer,
      rc,
      configTokenizerName(files.config),
      where(RUN_FILES.tokenizer),
    );
    const tensors = parseModelFile(files.model, rc.model, where(RUN_FILES.model));
    const digest = await crypto.subtle.digest("SHA-256", files.model as BufferSource);
    const sha = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
    const be = await Backend.create({
      threads: opts.threads,
      wasm: opts.wasm,
      shared: opts.shared,
      workerUrl: opts.workerUrl,
    });
    try {
      const model = buildModel(be, rc, tensors, where(RUN_FILES.model));
      const means = files.means ? parseMeans(files.means, model.nodes.total, sha) : null;
      return new Engine(files, rc, tok, be, model, sha, means?.mean ?? null);
    } catch (e) {
      be.close();
      throw e;
    }
  }

  close(): void {
    this.be.close();
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

  /**
   * Prepares the circuit's task: its evaluation pairs (eval_seed, eval_pairs) and the ablation
   * means. Throws a UserError when the circuit belongs to other weights or means are missing.
   */
  setCircuit(c: Circuit, exampleCount = 8): CircuitTaskInfo {
    const where = `${this.files.run}/circuits/${c.task}.json`;
    if (c.model.weights_sha256 !== this.weightsSha256) {
      throw new UserError(
        `${where}: was pruned from other weights (sha256 ${
          c.model.weights_sha256.slice(0, 12)
        }…, ` +
          `model.safetensors is ${this.weightsSha256.slice(0, 12)}…): prune again with ` +
          `deno task prune --model ${this.files.run} --task ${c.task}`,
      );
    }
    if (c.freeze_norm) {
      throw new UserError(
        `${where}: was pruned with --freeze-norm, which the viewer cannot evaluate yet`,
      );
    }
    const task = TASKS.find((t) => t.name === c.task);
    if (!task) throw new UserError(`${where}: unknown task '${c.task}'`);
    if (2 * c.pairs.eval_pairs > MAX_PROMPTS) {
      throw new UserError(
        `${where}: ${c.pairs.eval_pairs} evaluation pairs (at most ${MAX_PROMPTS / 2})`,
      );
    }
    const means = this.be.arena.f32(this.mean, this.model.nodes.total);
    if (c.ablation === "mean") {
      if (!this.nodeMeans) {
        throw new UserError(
          `${this.files.run}/${RUN_FILES.means}: missing or not from these weights; it is written ` +
            `by deno task prune --model ${this.files.run} --task ${c.task}`,
        );
      }
      means.set(this.nodeMeans);
    } else means.fill(0);
    for (const n of c.nodes) this.nodeIndexOf(n.id);
    const pairs = makePairs(task, c.pairs.eval_seed, c.pairs.eval_pairs);
    const items: PromptItem[] = [];
    for (const p of pairs) {
      const ids = p.answers.map((a) => this.tok.singleToken(a));
      if (ids[0] === null || ids[1] === null) {
        throw new UserError(`${where}: task ${c.task} is not measurable with this tokenizer`);
      }
      for (const i of [0, 1]) {
        items.push({
          tokens: this.tok.encode(p.prompts[i]),
          correct: ids[i]!,
          wrong: ids[1 - i]!,
        });
      }
    }
    const n = Math.min(exampleCount, pairs.length);
    const info: CircuitTaskInfo = {
      task: c.task,
      pairs: pairs.length,
      examples: pairs.slice(0, n).map((p) => ({ prompts: p.prompts, answers: p.answers })),
    };
    this.#session = { circuit: c, items, info, exampleCount: n };
    return info;
  }

  #needSession(): TaskSession {
    if (!this.#session) throw new Error("engine: no circuit set");
    return this.#session;
  }

  /** Sets the mask to keep exactly `kept` (node ids) and turns ablation on. */
  #ablate(kept: readonly string[]): number {
    const m = this.be.arena.f32(this.mask, this.model.nodes.total);
    m.fill(0);
    for (const id of kept) m[this.nodeIndexOf(id)] = 1;
    this.model.setAblation({ mask: this.mask, mean: this.mean, dmask: 0 });
    return kept.length;
  }

  /**
   * The circuit's task with only `kept` nodes (everything else ablated to its mean, or zero),
   * calibrated with the circuit's scale and shift: per pair, z = scale·(l_A − l_B) + shift on
   * the logit difference of the pair's two candidates (A = the first prompt's answer).
   */
  evaluate(kept: readonly string[]): CircuitEval {
    const s = this.#needSession();
    const t0 = performance.now();
    const count = this.#ablate(kept);
    const r = this.#scorer.score(s.items);
    this.model.setAblation(null);
    const { scale, shift } = s.circuit.calibration;
    let loss = 0, right = 0;
    const p: number[] = [];
    for (let i = 0; i < s.items.length; i++) {
      const d = r.correct[i] - r.wrong[i];
      // Member 0's correct answer is A, member 1's is B: l_A − l_B = ±d.
      const z = scale * (i % 2 === 0 ? d : -d) + shift;
      const margin = i % 2 === 0 ? z : -z;
      loss += softplus(-margin);
      if (margin > 0) right++;
      if (i < 2 * s.exampleCount) p.push(sigmoid(margin));
    }
    return {
      loss: loss / s.items.length,
      lossRaw: r.meanLoss,
      accuracy: right / s.items.length,
      pCorrect: p,
      kept: count,
      ms: performance.now() - t0,
    };
  }

  /** The unablated model on the circuit's task. */
  evaluateFull(): FullEval {
    const s = this.#needSession();
    const t0 = performance.now();
    this.model.setAblation(null);
    const r = this.#scorer.score(s.items);
    let right = 0;
    for (let i = 0; i < s.items.length; i++) if (r.correct[i] > r.wrong[i]) right++;
    return {
      loss: r.meanLoss,
      accuracy: right / s.items.length,
      pCorrect: Array.from(r.losses.subarray(0, 2 * s.exampleCount), (l) => Math.exp(-l)),
      ms: performance.now() - t0,
    };
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
    const { ptr, row } = nodeBuffer(a, ref, this.model.d.HD);
    return this.be.arena.f32(ptr + 4 * row * N, N).slice();
  }

  /** The node's activation (unablated model) on both prompts of the first example pairs. */
  nodeOnTask(id: string, pairsShown = 4): NodeOnTask {
    const s = this.#needSession();
    this.model.setAblation(null);
    const out: NodeOnTask = { pairs: [], meanFromEnd: [[], []] };
    const sums: [number[], number[]] = [[], []], counts: [number[], number[]] = [[], []];
    const all = Math.min(s.items.length / 2, 64);
    for (let k = 0; k < all; k++) {
      const texts: TokenText[] = [], acts: number[][] = [];
      for (const m of [0, 1] as const) {
        const it = s.items[2 * k + m];
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

  /** Pretraining rows for snippets: the run's own corpus stream (or the embedded one). */
  #snippetRows(): { rows: Int32Array; R: number; T: number } {
    if (this.#corpus) return this.#corpus;
    const T = this.rc.model.nCtx;
    const R = Math.max(8, Math.ceil(16384 / T));
    const batch = corpusSource(this.tok, TRAIN_SEED).nextBatch(R, T);
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
    this.model.setAblation(null);
    const { rows, R, T } = this.#snippetRows();
    const B = Math.max(1, Math.min(R, Math.floor(tokensPerBatch(this.rc) / T)));
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
        ? "the run's training corpus (embedded generator, TRAIN_SEED)"
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
    this.model.setAblation(null);
    const { D, HD } = this.model.d;
    const { seq } = this.#forwardOne(this.tok.encode(text));
    const T = seq.length, N = T;
    const head = Math.floor(ref.index / D);
    const a = this.model.acts.layers[ref.layer];
    const att = this.be.arena.f32(a.att + 4 * head * T * T, T * T);
    let channelScores: number[] | null = null;
    if (ref.location !== "attn.v") {
      const c = ref.index;
      const q = this.be.arena.f32(a.qkv + 4 * c * N, N);
      const k = this.be.arena.f32(a.qkv + 4 * (HD + c) * N, N);
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
    this.model.setAblation(null);
    const { seq, truncated } = this.#forwardOne(this.tok.encode(text));
    const N = seq.length;
    const full = this.#topTokens(N, N - 1, k);
    let circuit: NextToken[] | null = null;
    if (kept && this.#session) {
      this.#ablate(kept);
      this.model.forward(Int32Array.from(seq), null, 1, N);
      circuit = this.#topTokens(N, N - 1, k);
      this.model.setAblation(null);
    }
    return { tokens: this.#tokenText(seq), full, circuit, truncated };
  }

  /**
   * Every edge among `ids` (PAPER §4's four kinds: a nonzero weight between two nodes of one
   * layer): act_in → q/k/v (c_attn), v → attn.resid_delta (attn.c_proj), act_in → post_act
   * (c_fc), post_act → mlp.resid_delta (mlp.c_proj). Weights are [out, in] matrices.
   */
  edgesAmong(ids: readonly string[]): { source: string; target: string; weight: number }[] {
    const { C, HD, M, P } = this.model.d;
    const byLayer = new Map<number, Map<string, number[]>>();
    for (const id of ids) {
      this.nodeIndexOf(id);
      const r = parseNodeId(id)!;
      const m = byLayer.get(r.layer) ?? new Map<string, number[]>();
      byLayer.set(r.layer, m);
      m.set(r.location, [...(m.get(r.location) ?? []), r.index]);
    }
    const out: { source: string; target: string; weight: number }[] = [];
    for (const [l, locs] of byLayer) {
      const p = this.model.layout.layers[l];
      const link = (
        from: string,
        to: string,
        w: Float32Array,
        cols: number,
        rowOffset: number,
      ) => {
        for (const i of locs.get(from) ?? []) {
          for (const o of locs.get(to) ?? []) {
            const v = w[(rowOffset + o) * cols + i];
            if (v !== 0) {
              out.push({ source: `${l}.${from}.${i}`, target: `${l}.${to}.${o}`, weight: v });
            }
          }
        }
      };
      const cAttn = this.model.view(p.cAttnW), fc = this.model.view(p.fcW);
      link("attn.act_in", "attn.q", cAttn, C + P, 0);
      link("attn.act_in", "attn.k", cAttn, C + P, HD);
      link("attn.act_in", "attn.v", cAttn, C + P, 2 * HD);
      link("attn.v", "attn.resid_delta", this.model.view(p.attnProjW), HD, 0);
      link("mlp.act_in", "mlp.post_act", fc, C + P, 0);
      link("mlp.post_act", "mlp.resid_delta", this.model.view(p.mlpProjW), M, 0);
    }
    return out;
  }

  /** The eval table (`deno task eval`'s numbers) for the full model, one task at a time. */
  evalTask(name: string, pairs: number): TaskResult {
    const task = TASKS.find((t) => t.name === name);
    if (!task) throw new UserError(`unknown task '${name}'`);
    if (2 * pairs > MAX_PROMPTS) throw new UserError(`at most ${MAX_PROMPTS / 2} pairs`);
    this.model.setAblation(null);
    return evalTask(this.#scorer, this.tok, task, pairs, 2);
  }
}
