/**
 * The parameter table: every tensor's reference name, shape, sparsity class and init, and its place
 * in one contiguous buffer (llm.c style). Gradients and Adam moments use the same offsets in their
 * own buffers, so optimizer steps and the gradient RMS run over one span.
 *
 * Names and [out, in] layouts are those of openai/circuit_sparsity's checkpoints (docs/method.md §6).
 */
import { dims, type ModelConfig } from "./config.ts";

/**
 * How top-k treats a tensor (docs/method.md §2): "block" matrices keep pfrac/ef² with the j=4 per-neuron
 * protection along `axis`; "embed" (wte, lm_head) and "bias" keep pfrac/ef; "dense" (norm
 * weights, bigram table, sink logits) are never sparsified.
 */
export type SparsityClass = "block" | "embed" | "bias" | "dense";

export interface ParamSpec {
  name: string;
  shape: number[];
  size: number;
  /** Offset in floats within the parameter buffer. */
  offset: number;
  cls: SparsityClass;
  /** Neuron axis for the j-protection of block matrices: rows (c_fc, c_attn) or columns (c_proj). */
  axis: "row" | "col" | "none";
  /** Init: "normal" with std, "ones", "zeros". */
  init: "normal" | "ones" | "zeros";
  std: number;
  /** Decoupled weight decay applies (every ≥2-D parameter except the bigram table). */
  decay: boolean;
}

export interface LayerParams {
  ln1: ParamSpec;
  /** RMSNorm weights of the position channels read by c_attn and c_fc (null without positions). */
  lnPos1: ParamSpec | null;
  lnPos2: ParamSpec | null;
  cAttnW: ParamSpec;
  cAttnB: ParamSpec;
  attnProjW: ParamSpec;
  attnProjB: ParamSpec;
  sink: ParamSpec | null;
  ln2: ParamSpec;
  fcW: ParamSpec;
  fcB: ParamSpec;
  mlpProjW: ParamSpec;
  mlpProjB: ParamSpec;
}

export interface ParamLayout {
  specs: ParamSpec[];
  /** Total floats. */
  total: number;
  wte: ParamSpec;
  /**
   * Learned positions, when the config has them: [n_ctx, d_pos_emb] read by the blocks, or
   * [n_ctx, d_model] added to the token embeddings (addPosEmb).
   */
  wpe: ParamSpec | null;
  layers: LayerParams[];
  lnF: ParamSpec;
  lmHead: ParamSpec;
  bigram: ParamSpec | null;
}

/** Computes the layout of every parameter (the one place sizes are derived). */
export function paramLayout(cfg: ModelConfig): ParamLayout {
  const { V, C, M, HD, H, L, P } = dims(cfg);
  const specs: ParamSpec[] = [];
  let offset = 0;
  const add = (
    name: string,
    shape: number[],
    cls: SparsityClass,
    init: ParamSpec["init"],
    std = 0,
    axis: ParamSpec["axis"] = "none",
  ): ParamSpec => {
    const size = shape.reduce((a, b) => a * b, 1);
    // Keep every tensor 16-byte aligned for the SIMD kernels.
    offset = Math.ceil(offset / 4) * 4;
    const spec: ParamSpec = {
      name,
      shape,
      size,
      offset,
      cls,
      axis,
      init,
      std,
      decay: shape.length >= 2 && name !== "bigram_table",
    };
    offset += size;
    specs.push(spec);
    return spec;
  };
  const projStd = 0.02 / Math.sqrt(2 * L);
  const wte = add("transformer.wte.weight", [V, C], "embed", "normal", 0.02);
  // Read as P channels of each block's input, or added to the token embeddings (C wide).
  const wpeWidth = P > 0 ? P : cfg.addPosEmb ? C : 0;
  const wpe = wpeWidth > 0
    ? add("transformer.wpe.weight", [cfg.nCtx, wpeWidth], "embed", "normal", 0.02)
    : null;
  // c_attn and c_fc read the normalised residual, then the normalised positions: C + P inputs.
  const CP = C + P;
  const layers: LayerParams[] = [];
  for (let i = 0; i < L; i++) {
    const p = `transformer.h.${i}`;
    layers.push({
      ln1: add(`${p}.ln_1.weight`, [C], "dense", "ones"),
      lnPos1: P > 0 ? add(`${p}.ln_p1.weight`, [P], "dense", "ones") : null,
      cAttnW: add(`${p}.attn.c_attn.weight`, [3 * HD, CP], "block", "normal", 0.02, "row"),
      cAttnB: add(`${p}.attn.c_attn.bias`, [3 * HD], "bias", "zeros"),
      attnProjW: add(`${p}.attn.c_proj.weight`, [C, HD], "block", "normal", projStd, "col"),
      attnProjB: add(`${p}.attn.c_proj.bias`, [C], "bias", "zeros"),
      sink: cfg.sink ? add(`${p}.attn.attn_imp.sink_logit`, [H], "dense", "zeros") : null,
      ln2: add(`${p}.ln_2.weight`, [C], "dense", "ones"),
      lnPos2: P > 0 ? add(`${p}.ln_p2.weight`, [P], "dense", "ones") : null,
      fcW: add(`${p}.mlp.c_fc.weight`, [M, CP], "block", "normal", 0.02, "row"),
      fcB: add(`${p}.mlp.c_fc.bias`, [M], "bias", "zeros"),
      mlpProjW: add(`${p}.mlp.c_proj.weight`, [C, M], "block", "normal", projStd, "col"),
      mlpProjB: add(`${p}.mlp.c_proj.bias`, [C], "bias", "zeros"),
    });
  }
  const lnF = add("transformer.ln_f.weight", [C], "dense", "ones");
  const lmHead = add("lm_head.weight", [V, C], "embed", "normal", 0.02);
  const bigram = cfg.bigram ? add("bigram_table", [V, V], "dense", "zeros") : null;
  return { specs, total: Math.ceil(offset / 4) * 4, wte, wpe, layers, lnF, lmHead, bigram };
}

/**
 * The weights the model multiplies through a Linear (src/model/linear.ts), layer by layer, then
 * lm_head: the ones with compressed forms, which an opened model may keep in those alone.
 */
export function linearWeights(layout: ParamLayout): ParamSpec[] {
  return [
    ...layout.layers.flatMap((p) => [p.cAttnW, p.attnProjW, p.fcW, p.mlpProjW]),
    layout.lmHead,
  ];
}

/** The density top-k leaves a tensor of this class at the end of the anneal (docs/method.md §2). */
export function targetDensity(cls: SparsityClass, pfrac: number, ef: number): number {
  switch (cls) {
    case "block":
      return Math.min(1, pfrac / (ef * ef));
    case "embed":
    case "bias":
      return Math.min(1, pfrac / ef);
    case "dense":
      return 1;
  }
}

/**
 * paramLayout(cfg).total without building the layout (whose tables grow with the layer count):
 * every layer adds the same span, so two layouts of one and two layers give it for any count.
 */
export function paramFloats(cfg: ModelConfig): number {
  const one = paramLayout({ ...cfg, nLayer: 1 }).total;
  const two = paramLayout({ ...cfg, nLayer: 2 }).total;
  return one + (cfg.nLayer - 1) * (two - one);
}
