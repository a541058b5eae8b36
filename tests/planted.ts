/**
 * Models built by hand with a known circuit planted among dense random distractors, for testing
 * that pruning recovers exactly the circuit (tests/planted_test.ts, bench/planted_bench.ts).
 *
 * The task: a prompt of filler tokens holds one signal token, X1 (answer A) or X2 (answer B); a
 * pair's two prompts differ only in that token. X1 and X2 share every embedding channel except
 * the sign of channel SIG, so the answer can only flow through the planted nodes: no distractor
 * weight reads or writes a planted channel (SIG, MARK, RELAY, OUT) or a planted q/k/v/neuron.
 * Three shapes:
 *
 *  - `mlp`: X is the last token; layer 1's MLP reads SIG into one neuron that writes OUT, which
 *    the unembedding reads (3 nodes, 2 edges; the existing hand-built test's path).
 *  - `head`: X sits anywhere; a layer-1 head whose query is a constant bias, whose key reads MARK
 *    (1 on X, 0 elsewhere) and whose value reads SIG copies X's sign to the last position and
 *    writes OUT (5 nodes, 3 edges: the query is constant, so mean-ablating it changes nothing).
 *    Fillers carry random SIG values, so without the key the head's average is noise.
 *  - `mlp_head`: as `head`, but a layer-0 MLP neuron turns SIG into RELAY and the head's value
 *    reads RELAY (8 nodes, 5 edges: a two-layer path through a residual channel).
 *
 * The readout weight is fitted so the full model's task loss is `fullLoss` (0.05 moderate to 1e-5
 * extremely sure); the planted write's bias is set so X1 and X2 sit on either side of zero.
 *
 * `PlantedOptions` widen the model, add layers of distractors after the circuit's two, and thin
 * the blocks' distractor weights to a density, as in a trained weight-sparse model: 4 layers at
 * ef 8 have the `paper` preset's 22,528 nodes, at ef 32 an ef-8 model's 90,112.
 */
import type { Backend } from "../src/backend/backend.ts";
import { PairScorer, type PromptItem } from "../src/eval/task_eval.ts";
import type { ModelConfig } from "../src/model/config.ts";
import { Model } from "../src/model/model.ts";
import { rowsPerPass } from "../src/model/memory.ts";
import { nodeIndex, type NodeLocation } from "../src/model/nodes.ts";
import type { ParamSpec } from "../src/model/params.ts";
import { nodeMeansOf } from "../src/prune/means.ts";
import { corpusPrefix, Tokenizer } from "../src/data/tokenizer.ts";
import { TRAIN_SEED } from "../src/data/corpus/index.ts";
import { Rng } from "../src/util/rng.ts";

export type PlantedShape = "mlp" | "head" | "mlp_head";
export const PLANTED_SHAPES: readonly PlantedShape[] = ["mlp", "head", "mlp_head"];

/** 2 layers of d_model 64, 4 heads of 16, 256 neurons: 2 × (4·64 + 3·64 + 256) = 1408 nodes. */
export const PLANTED_CONFIG: ModelConfig = {
  vocabSize: 300,
  nLayer: 2,
  baseDModel: 64,
  baseDMlp: 256,
  ef: 1,
  dHead: 16,
  nCtx: 8,
  afrac: 1,
  sink: false,
  bigram: false,
  dPosEmb: 0,
};

const X1 = 10, X2 = 11, A = 20, B = 21, FILLER0 = 30, FILLERS = 64;
/** Residual channels of the planted circuit; every other channel is a distractor's. */
const SIG = 0, MARK = 1, RELAY = 2, OUT = 3, PLANTED_CHANNELS = 4;
/** The planted neuron, the planted head, and the head's q/k channel and v channel within it. */
const NEURON = 7, HEAD = 1, QK = 0, V = 1;

let tokenizer: Tokenizer | null = null;
/** A 300-id tokenizer (eot = 299) for the 300-token test models; only its eot is used. */
export function tok300(): Tokenizer {
  tokenizer ??= Tokenizer.train(corpusPrefix(TRAIN_SEED, 20_000), 300);
  return tokenizer;
}

/** A planted model and what a test needs to prune it. */
export interface Planted {
  shape: PlantedShape;
  model: Model;
  scorer: PairScorer;
  /** Node means over a stream of task-like token sequences (mean ablation). */
  means: Float32Array;
  /** The planted nodes (model-wide indices, ascending) and their edge count. */
  planted: number[];
  edges: number;
  /** The fitted readout weight and the full model's task loss on the fitting pairs. */
  readout: number;
  fullLoss: number;
  /** `pairs` pairs (2 items each) drawn from `seed`. */
  items: (pairs: number, seed: number) => PromptItem[];
}

/** The model's shape and its distractors (see the file comment). */
export interface PlantedOptions {
  /** Width factor: d_model 64·ef, 256·ef neurons (default 1). */
  ef?: number;
  /** Layers, at least 2 (default 2); the circuit sits in layers 0 and 1, later ones hold only distractors. */
  layers?: number;
  /**
   * The fraction of each block matrix's distractor entries that are nonzero (default 1: dense),
   * drawn at random with the variance of each output kept (std / √density). Embedding and
   * unembedding stay dense.
   */
  density?: number;
}

/** Nodes of a planted model: layers × (7·64 + 256)·ef. */
export function plantedNodes(opts: PlantedOptions = {}): number {
  return (opts.layers ?? PLANTED_CONFIG.nLayer) * (7 * 64 + 256) * (opts.ef ?? 1);
}

/** Pairs of prompts: fillers with X1 or X2 (last for `mlp`, anywhere otherwise). */
function plantedItems(shape: PlantedShape, pairs: number, seed: number): PromptItem[] {
  const rng = new Rng(seed).fork(0x504C4E54);
  const out: PromptItem[] = [];
  for (let p = 0; p < pairs; p++) {
    const f = 2 + rng.int(4);
    const fill = Array.from({ length: f }, () => FILLER0 + rng.int(FILLERS));
    const at = shape === "mlp" ? f : rng.int(f + 1);
    const with_ = (x: number) => [...fill.slice(0, at), x, ...fill.slice(at)];
    out.push({ tokens: with_(X1), correct: A, wrong: B }, {
      tokens: with_(X2),
      correct: B,
      wrong: A,
    });
  }
  return out;
}

/** Builds a planted model of a shape whose full loss is `fullLoss` (see the file comment). */
export function plantedModel(
  be: Backend,
  shape: PlantedShape,
  fullLoss: number,
  seed = 1,
  opts: PlantedOptions = {},
): Planted {
  const density = opts.density ?? 1;
  const cfg = { ...PLANTED_CONFIG, ef: opts.ef ?? 1, nLayer: opts.layers ?? PLANTED_CONFIG.nLayer };
  if (!(cfg.nLayer >= 2) || !(density > 0 && density <= 1)) {
    throw new Error(`a planted model needs ≥ 2 layers and a density in (0, 1]`);
  }
  const m = new Model(be, cfg, { training: false });
  const L = m.layout, d = m.d, { C, M, HD } = d;
  for (const s of L.specs) m.view(s).fill(s.init === "ones" ? 1 : 0);
  const rng = new Rng(seed).fork(0x44495354);
  const gauss = () => {
    const u = 1 - rng.float(), v = rng.float();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  };
  const set = (spec: ParamSpec, r: number, c: number, x: number) => {
    m.view(spec)[r * spec.shape[1] + c] = x;
  };
  // Rows (or columns) that carry the planted circuit: no distractor weight touches them.
  const plantedHead = (l: number) => shape !== "mlp" && l === 1;
  const plantedNeuron = (l: number) =>
    (shape === "mlp" && l === 1) || (shape === "mlp_head" && l === 0);
  const distractorChannel = (c: number) => c >= PLANTED_CHANNELS;
  const distractorQkv = (l: number, row: number) =>
    !plantedHead(l) || Math.floor((row % HD) / cfg.dHead) !== HEAD;
  // Distractors N(0, std²) where rowOk and colOk; with p < 1 each entry is kept with probability
  // p, at std / √p (the same variance per output).
  const noise = (
    spec: ParamSpec,
    rowOk: (r: number) => boolean,
    colOk: (c: number) => boolean,
    std: number,
    p = 1,
  ) => {
    const [rows, cols] = spec.shape;
    if (p === 1) {
      for (let r = 0; r < rows; r++) {
        if (!rowOk(r)) continue;
        for (let c = 0; c < cols; c++) if (colOk(c)) set(spec, r, c, std * gauss());
      }
      return;
    }
    // Each entry kept with probability p: the gaps between kept entries are geometric.
    const logq = Math.log1p(-p), s = std / Math.sqrt(p);
    for (let i = -1;;) {
      i += 1 + Math.floor(Math.log(1 - rng.float()) / logq);
      if (i >= rows * cols) break;
      const r = Math.floor(i / cols), c = i % cols;
      if (rowOk(r) && colOk(c)) set(spec, r, c, s * gauss());
    }
  };
  const Cd = C - PLANTED_CHANNELS;
  // Embeddings: N(0, 1) on the distractor channels, the same for X1 and X2.
  noise(L.wte, () => true, distractorChannel, 1);
  for (let c = PLANTED_CHANNELS; c < C; c++) set(L.wte, X2, c, m.view(L.wte)[X1 * C + c]);
  set(L.wte, X1, SIG, 1);
  set(L.wte, X2, SIG, -1);
  set(L.wte, X1, MARK, 1);
  set(L.wte, X2, MARK, 1);
  for (let t = FILLER0; t < FILLER0 + FILLERS; t++) set(L.wte, t, SIG, gauss());
  L.layers.forEach((p, l) => {
    const qkvOk = (r: number) => distractorQkv(l, r),
      neuronOk = (n: number) => !plantedNeuron(l) || n !== NEURON;
    noise(p.cAttnW, qkvOk, distractorChannel, 1 / Math.sqrt(Cd), density);
    noise(p.attnProjW, distractorChannel, (j) => qkvOk(2 * HD + j), 0.5 / Math.sqrt(HD), density);
    noise(p.fcW, neuronOk, distractorChannel, 1 / Math.sqrt(Cd), density);
    noise(p.mlpProjW, distractorChannel, neuronOk, 0.5 / Math.sqrt(M), density);
  });
  // The unembedding: random rows; A and B share theirs but for a small difference (distractor
  // noise in the answer) and the planted ±w/2 on OUT.
  noise(L.lmHead, () => true, distractorChannel, 0.1);
  for (let c = PLANTED_CHANNELS; c < C; c++) {
    set(L.lmHead, B, c, m.view(L.lmHead)[A * C + c] + 0.02 * gauss());
  }
  // The planted path.
  const l1 = L.layers[1], l0 = L.layers[0];
  const q = HEAD * cfg.dHead + QK, k = HD + HEAD * cfg.dHead + QK, v = HEAD * cfg.dHead + V;
  let write: { bias: ParamSpec; row: number };
  if (shape === "mlp") {
    set(l1.fcW, NEURON, SIG, 3);
    set(l1.mlpProjW, OUT, NEURON, 1);
    write = { bias: l1.mlpProjB, row: OUT };
  } else {
    if (shape === "mlp_head") {
      set(l0.fcW, NEURON, SIG, 3);
      set(l0.mlpProjW, RELAY, NEURON, 1);
    }
    m.view(l1.cAttnB)[q] = 4;
    set(l1.cAttnW, k, MARK, 25);
    set(l1.cAttnW, 2 * HD + v, shape === "head" ? SIG : RELAY, 1);
    set(l1.attnProjW, OUT, v, 1);
    write = { bias: l1.attnProjB, row: OUT };
  }
  m.refresh(true);
  const tok = tok300();
  const fit = plantedItems(shape, 128, seed ^ 0x5EED);
  centre(m, fit, write, tok.eot);
  // Passes of up to 4096 tokens, fewer where a wide model leaves less memory (as prune's).
  const rows = rowsPerPass(m, cfg.nCtx, 4096 / cfg.nCtx, true);
  const scorer = new PairScorer(m, tok, 1024, rows * cfg.nCtx, { ablated: true });
  const readout = fitReadout(m, scorer, fit, fullLoss);
  const means = streamMeans(m, tok.eot, seed);
  const node = (layer: number, location: NodeLocation, index: number) =>
    nodeIndex(d, m.nodes, { layer, location, index });
  const planted = shape === "mlp"
    ? [node(1, "mlp.act_in", SIG), node(1, "mlp.post_act", NEURON), node(1, "mlp.resid_delta", OUT)]
    : [
      ...(shape === "mlp_head"
        ? [
          node(0, "mlp.act_in", SIG),
          node(0, "mlp.post_act", NEURON),
          node(0, "mlp.resid_delta", RELAY),
        ]
        : []),
      node(1, "attn.act_in", MARK),
      node(1, "attn.act_in", shape === "head" ? SIG : RELAY),
      node(1, "attn.k", HEAD * cfg.dHead + QK),
      node(1, "attn.v", v),
      node(1, "attn.resid_delta", OUT),
    ];
  return {
    shape,
    model: m,
    scorer,
    means,
    planted: planted.sort((a, b) => a - b),
    edges: { mlp: 2, head: 3, mlp_head: 5 }[shape],
    readout,
    fullLoss: scorer.score(fit).meanLoss,
    items: (pairs, s) => plantedItems(shape, pairs, s),
  };
}

/** The residual channel `row` at each item's last position, before ln_f (one forward per item). */
function finalChannel(m: Model, items: readonly PromptItem[], row: number, eot: number): number[] {
  return items.map((it) => {
    const toks = Int32Array.from([eot, ...it.tokens]);
    const T = toks.length;
    m.forward(toks, null, 1, T);
    return m.be.arena.f32(m.acts.resF, m.d.C * T)[row * T + T - 1];
  });
}

/** Sets the planted write's bias so the answer channel is centred between X1 and X2 items. */
function centre(
  m: Model,
  items: readonly PromptItem[],
  w: { bias: ParamSpec; row: number },
  eot: number,
) {
  const x = finalChannel(m, items, w.row, eot);
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  m.view(w.bias)[w.row] -= mean;
}

/** Fits the readout ±w/2 on OUT (bisection on log w) so the full model's loss is `target`. */
function fitReadout(m: Model, scorer: PairScorer, items: PromptItem[], target: number): number {
  const lm = m.layout.lmHead, C = m.d.C;
  const lossAt = (w: number) => {
    m.view(lm)[A * C + OUT] = w / 2;
    m.view(lm)[B * C + OUT] = -w / 2;
    m.lmHead.refresh(true);
    return scorer.score(items).meanLoss;
  };
  let lo = Math.log(1e-2), hi = Math.log(1e4);
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (lossAt(Math.exp(mid)) > target) lo = mid;
    else hi = mid;
  }
  const w = Math.exp(hi);
  lossAt(w);
  return w;
}

/** Node means over 64 rows × 8 tokens × 16 batches of fillers with X1 or X2 sprinkled in. */
function streamMeans(m: Model, eot: number, seed: number): Float32Array {
  const B = 64, T = m.cfg.nCtx;
  const rng = new Rng(seed).fork(0x4D45414E);
  const toks = new Int32Array(B * T);
  return nodeMeansOf(m, B, T, 16, () => {
    for (let r = 0; r < B; r++) {
      toks[r * T] = eot;
      for (let t = 1; t < T; t++) {
        const u = rng.int(12);
        toks[r * T + t] = u === 0 ? X1 : u === 1 ? X2 : FILLER0 + rng.int(FILLERS);
      }
    }
    return toks;
  });
}
