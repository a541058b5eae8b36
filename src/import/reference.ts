/**
 * `import --format reference`: an openai/circuit_sparsity model folder (what its
 * `load_model(DIR)` reads) as a thinwire model computing the same function:
 *
 *   DIR/beeg_config.json   GPTConfig's fields; absent ones take GPTConfig's defaults, as
 *                          GPTConfig(**json) does
 *   DIR/final_model.pt     the state dict, torch.save's zip (src/import/torch_load.ts)
 *
 * Every GPTConfig field is mapped to ModelConfig or refused by name (GPT_CONFIG_FIELDS says
 * which; docs/import.md explains each). The function is the reference's flash=True path, the
 * one with the attention sink; its other path computes the same function without a sink.
 *
 * Stricter than the reference's loader, whose load_state_dict(strict=False) keeps the random init
 * of a missing tensor and ignores an extra one: here the state dict must hold exactly the
 * tensors the config implies, each of its shape. Tolerated, as the loader tolerates them: no
 * final_logits_bias (zeros), the causal-mask buffers of a model saved with flash=False, and
 * one of wte / lm_head when they are tied.
 */
import { UserError } from "../errors.ts";
import { locationWidths, referenceKeys } from "../export/reference.ts";
import {
  AFRAC_LOCTYPES,
  keepCount,
  type ModelConfig,
  validateModelConfig,
} from "../model/config.ts";
import { ARENA_BYTES, formatBytes, inferenceBytes, openedWeightBytes } from "../model/memory.ts";
import { linearWeights, paramLayout } from "../model/params.ts";
import type { NamedTensor } from "../model/safetensors.ts";
import type { TorchStateDict } from "./torch_load.ts";

/**
 * The most parameters an import takes: it holds them as float32 on the host (the mapped tensors,
 * then model.safetensors, then the run opened from it: about 12 bytes a parameter at its peak).
 * 2 GiB of float32; the reference's largest released model, csp_yolo2, has 475M.
 */
export const MAX_IMPORT_PARAMS = 2 ** 29;

/** How each GPTConfig field (and load_model's aliases) is taken, for docs and errors. */
export const GPT_CONFIG_FIELDS = {
  block_size: "nCtx (--n-ctx may crop it, as GPT.crop_block_size does)",
  vocab_size: "vocabSize (the tokenizer must have as many ids)",
  n_layer: "nLayer",
  n_head: "with d_head: n_head · d_head must equal d_model (thinwire has d_model/d_head heads)",
  d_head: "dHead (default d_model / n_head)",
  d_model: "baseDModel, with ef 1",
  d_mlp: "baseDMlp (default 4 · d_model); n_mlp is its old name",
  dropout: "ignored: load_model puts the model in eval mode",
  bias: "true: the biases as stored; false: zero biases (the same function)",
  ln_bias: "ignored under rms_norm (RMSNorm has no bias)",
  rms_norm: "must be true (LayerNorm is refused)",
  residual_activation_type: 'must be "identity" ("relu" is refused)',
  activation_type: 'must be "gelu" ("relu" is refused)',
  afrac: "afrac (null = 1, AbsTopK off)",
  afrac_loctypes:
    "afracLoctypes: any subset of the eight places; resid_post_attn and resid_post_mlp are refused",
  debug_nans: "ignored (assertions only)",
  tied_unembed: "wte and lm_head get the one tensor (both copies equal)",
  tokenizer_name: "picks the tokenizer: thinwire's own by name, else --tokenizer FILE",
  grad_checkpointing: "ignored (training only; load_model sets it)",
  enable_bigram_table: "bigram",
  learnable_bigram_table: "ignored (a buffer or a parameter: the table is in the state dict)",
  d_pos_emb: "dPosEmb (null: the additive wpe, below)",
  dropout_cat_pos_emb: "ignored (training only)",
  sinusoidal_cat_pos_emb: "ignored: the sinusoids are in the state dict's wpe",
  enable_sparse_kernels: "ignored (an implementation choice, the same function)",
  flash: "ignored (load_model sets it); thinwire computes the flash path",
  sink: "sink (absent = false, as load_model has it)",
  n_mlp: "old name of d_mlp (load_model renames it)",
  use_tied_aux_matrix: "must be false (load_model asserts it)",
} as const;

/** GPTConfig's defaults (circuit_sparsity inference/gpt.py), for fields the JSON leaves out. */
const DEFAULTS: Record<string, unknown> = {
  block_size: 1024,
  vocab_size: 50304,
  n_layer: 12,
  n_head: 12,
  d_head: null,
  d_model: 768,
  dropout: 0.0,
  bias: true,
  ln_bias: true,
  rms_norm: false,
  residual_activation_type: "identity",
  activation_type: "gelu",
  afrac: null,
  afrac_loctypes: "attn_in,attn_out,mlp_in,mlp_out",
  debug_nans: false,
  tied_unembed: true,
  tokenizer_name: "tinypython_2k",
  grad_checkpointing: true,
  d_mlp: null,
  enable_bigram_table: false,
  learnable_bigram_table: false,
  d_pos_emb: null,
  dropout_cat_pos_emb: false,
  sinusoidal_cat_pos_emb: false,
  enable_sparse_kernels: false,
  flash: true,
  sink: false,
};

/** beeg_config.json mapped: the model (positions still undecided) and what the weights need. */
export interface MappedConfig {
  /** The model, without addPosEmb: whether wpe is added is decided by its values. */
  model: ModelConfig;
  /** GPTConfig.block_size: the rows of the file's wpe. */
  blockSize: number;
  /** GPTConfig.bias: false = the file has no Linear biases. */
  bias: boolean;
  tied: boolean;
  tokenizerName: string;
}

/**
 * Maps beeg_config.json's parsed contents to a thinwire model; refuses, in one line naming the
 * field, what thinwire's model cannot express. `nCtx` crops block_size (null: keep it).
 */
export function mapReferenceConfig(
  json: unknown,
  where: string,
  nCtx: number | null,
): MappedConfig {
  const bad = (why: string): never => {
    throw new UserError(`${where}: ${why}`);
  };
  if (typeof json !== "object" || json === null || Array.isArray(json)) bad("not a JSON object");
  const raw = { ...(json as Record<string, unknown>) };
  for (const k of Object.keys(raw)) {
    if (!Object.hasOwn(GPT_CONFIG_FIELDS, k)) {
      bad(
        `${JSON.stringify(k)} is not a GPTConfig field (the reference's GPTConfig(**json) fails)`,
      );
    }
  }
  // load_model's own edits before GPTConfig(**json).
  if ("n_mlp" in raw) raw.d_mlp = raw.n_mlp, delete raw.n_mlp;
  if ("use_tied_aux_matrix" in raw) {
    if (raw.use_tied_aux_matrix !== false) {
      bad("use_tied_aux_matrix must be false (load_model asserts it)");
    }
    delete raw.use_tied_aux_matrix;
  }
  const c = { ...DEFAULTS, ...raw };
  const int = (k: string, orNull = false): number | null => {
    const v = c[k];
    if (orNull && v === null) return null;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 1) {
      bad(`${k} must be an integer ≥ 1${orNull ? " or null" : ""}, got ${JSON.stringify(v)}`);
    }
    return v as number;
  };
  const bool = (k: string): boolean => {
    if (typeof c[k] !== "boolean") bad(`${k} must be true or false, got ${JSON.stringify(c[k])}`);
    return c[k] as boolean;
  };
  const str = (k: string): string => {
    if (typeof c[k] !== "string") bad(`${k} must be a string, got ${JSON.stringify(c[k])}`);
    return c[k] as string;
  };
  const must = (k: string, want: unknown, why: string) => {
    if (c[k] !== want) bad(`${k} ${JSON.stringify(c[k])} is not supported: ${why}`);
  };
  // Fields that do not change the function still have to be what GPTConfig would accept.
  for (
    const k of [
      "debug_nans",
      "grad_checkpointing",
      "dropout_cat_pos_emb",
      "enable_sparse_kernels",
      "flash",
      "learnable_bigram_table",
      "sinusoidal_cat_pos_emb",
      "ln_bias",
    ]
  ) {
    bool(k);
  }
  const dropout = c.dropout;
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) {
    bad(`dropout must be a number in [0, 1), got ${JSON.stringify(dropout)}`);
  }
  must("rms_norm", true, "thinwire's model normalises with RMSNorm, not LayerNorm");
  must("residual_activation_type", "identity", "thinwire's residual stream has no activation");
  must("activation_type", "gelu", "thinwire's MLP neurons are GELU");
  const blockSize = int("block_size")!;
  const vocab = int("vocab_size")!;
  const layers = int("n_layer")!;
  const heads = int("n_head")!;
  const dModel = int("d_model")!;
  if (dModel % heads !== 0) {
    bad(`d_model ${dModel} is not a multiple of n_head ${heads} (GPTConfig asserts it)`);
  }
  const dHead = int("d_head", true) ?? Math.floor(dModel / heads);
  if (heads * dHead !== dModel) {
    bad(
      `n_head ${heads} · d_head ${dHead} = ${heads * dHead} is not supported: thinwire's ` +
        `attention has d_model / d_head heads (d_model ${dModel})`,
    );
  }
  const dMlp = int("d_mlp", true) ?? 4 * dModel;
  const dPos = int("d_pos_emb", true) ?? 0;
  const afracRaw = c.afrac;
  if (afracRaw !== null && (typeof afracRaw !== "number" || !(afracRaw > 0 && afracRaw <= 1))) {
    bad(`afrac must be null or a number in (0, 1], got ${JSON.stringify(afracRaw)}`);
  }
  const afrac = (afracRaw as number | null) ?? 1;
  const names = str("afrac_loctypes").split(",").filter((s) => s !== "");
  const known = new Set<string>(AFRAC_LOCTYPES);
  for (const n of names) {
    if (!known.has(n)) {
      bad(
        `afrac_loctypes names ${JSON.stringify(n)}: thinwire runs AbsTopK only at ` +
          `${AFRAC_LOCTYPES.join(", ")}${
            n.startsWith("resid_post") ? " (not on the residual stream)" : ""
          }`,
      );
    }
  }
  const locs = AFRAC_LOCTYPES.filter((l) => names.includes(l));
  const bias = bool("bias");
  const tied = bool("tied_unembed");
  const sink = bool("sink");
  const bigram = bool("enable_bigram_table");
  const tokenizerName = str("tokenizer_name");
  if (nCtx !== null && nCtx > blockSize) {
    throw new UserError(`import: --n-ctx ${nCtx} is more than the model's block_size ${blockSize}`);
  }
  const model: ModelConfig = {
    vocabSize: vocab,
    nLayer: layers,
    baseDModel: dModel,
    baseDMlp: dMlp,
    ef: 1,
    dHead,
    nCtx: nCtx ?? blockSize,
    afrac: locs.length === 0 ? 1 : afrac,
    sink,
    bigram,
    dPosEmb: dPos,
  };
  // Absent when AbsTopK runs at all eight places (or nowhere): the form a trained run has.
  if (model.afrac < 1 && locs.length < AFRAC_LOCTYPES.length) model.afracLoctypes = locs;
  try {
    validateModelConfig(model);
  } catch (e) {
    if (e instanceof UserError) bad(`thinwire cannot hold this model: ${e.message}`);
    throw e;
  }
  // With the learned positions, which the weights decide on (mapStateDict).
  const most = { ...model, addPosEmb: model.dPosEmb === 0 };
  const lay = paramLayout(most);
  if (lay.total > MAX_IMPORT_PARAMS) {
    bad(
      `the model has ${(lay.total / 1e6).toFixed(0)}M parameters: an import holds them as ` +
        `float32 on the host and takes at most ${(MAX_IMPORT_PARAMS / 1e6).toFixed(0)}M ` +
        `(2 GiB of them)`,
    );
  }
  // An opened model keeps its sparse linear weights' nonzeros only (src/run/open.ts): at the
  // least it needs every other parameter and one sequence's activations. The weights decide the
  // rest, which opening the run checks.
  const empty = new Map(linearWeights(lay).map((s) => [s.name, 0]));
  const least = (n: number) => {
    const c = { ...most, nCtx: n };
    return inferenceBytes(c, 1, openedWeightBytes(c, empty));
  };
  if (least(model.nCtx) > ARENA_BYTES) {
    // The longest context that would fit (the need grows with n_ctx).
    let lo = 1, hi = model.nCtx;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (least(mid) <= ARENA_BYTES) lo = mid;
      else hi = mid;
    }
    bad(
      `the model needs at least ${formatBytes(least(model.nCtx))} of WebAssembly memory to ` +
        `open (its embeddings, positions, bigram table and norms, and one sequence of ` +
        `${model.nCtx} tokens), which holds ${formatBytes(ARENA_BYTES)}` +
        (lo >= 2 && least(lo) <= ARENA_BYTES
          ? `: --n-ctx ${lo} or fewer keeps fewer positions (the nonzeros of its weights come on top)`
          : ": it does not fit at any n_ctx"),
    );
  }
  const widths = locationWidths(model);
  for (const l of locs) {
    if (afrac < 1 && Math.floor(afrac * widths[l]) !== keepCount(afrac, widths[l])) {
      bad(
        `afrac ${afrac} keeps int(${afrac}·${widths[l]}) = 0 channels of ${l}: the reference ` +
          `zeroes it, thinwire keeps at least one`,
      );
    }
  }
  return { model, blockSize, bias, tied, tokenizerName };
}

/** What the state dict held besides the weights thinwire keeps. */
export interface MappedWeights {
  /** The final model: positions decided (added only if the file's wpe is not all zero). */
  model: ModelConfig;
  /** thinwire's tensors, in its parameter order. */
  tensors: NamedTensor[];
  /** One line per thing worth saying (tolerated tensors, cropped positions, zero biases). */
  notes: string[];
}

/**
 * The state dict mapped onto the model's parameters: exactly the tensors the config implies, of
 * their shapes, all finite. `log` hears about each tensor read (for a progress bar).
 */
export function mapStateDict(
  sd: TorchStateDict,
  m: MappedConfig,
  where: string,
  log: (done: number, total: number) => void = () => {},
): MappedWeights {
  const bad = (why: string): never => {
    throw new UserError(`${where}: ${why}`);
  };
  const cfg = m.model;
  const notes: string[] = [];
  const expected = new Map(
    referenceKeys({ ...cfg, nCtx: m.blockSize }).map((k) => [k.name, k.shape] as const),
  );
  if (!m.bias) {
    for (const n of [...expected.keys()]) {
      if (/\.(c_attn|c_proj|c_fc)\.bias$/.test(n)) expected.delete(n);
    }
    notes.push("bias false: the Linear biases are zeros");
  }
  const optional = new Set(["final_logits_bias"]);
  const masks = new Set<string>();
  for (let i = 0; i < cfg.nLayer; i++) masks.add(`transformer.h.${i}.attn.bias`);
  if (m.tied) optional.add("transformer.wte.weight").add("lm_head.weight");
  const extra = [...sd.tensors.keys()].filter((n) => !expected.has(n) && !masks.has(n));
  if (extra.length > 0) {
    const shown = extra.slice(0, 3).map((n) => JSON.stringify(n.slice(0, 80))).join(", ");
    bad(
      `unexpected tensor(s) ${shown}${extra.length > 3 ? ` and ${extra.length - 3} more` : ""} ` +
        `that beeg_config.json does not imply`,
    );
  }
  for (const [name, shape] of expected) {
    const t = sd.tensors.get(name);
    if (!t) {
      if (optional.has(name)) continue;
      bad(`tensor ${name} is missing (beeg_config.json implies it, [${shape.join(", ")}])`);
    }
    if (t!.shape.join() !== shape.join() || t!.shape.length !== shape.length) {
      bad(
        `tensor ${name} has shape [${t!.shape.join(", ")}], beeg_config.json implies ` +
          `[${shape.join(", ")}]`,
      );
    }
  }
  if (m.tied && !sd.tensors.has("transformer.wte.weight") && !sd.tensors.has("lm_head.weight")) {
    bad("tensor transformer.wte.weight is missing (and lm_head.weight, tied to it)");
  }
  const total = expected.size;
  let done = 0;
  const values = new Map<string, Float32Array>();
  const read = (name: string): Float32Array => {
    const data = sd.tensors.get(name)!.read();
    let nonfinite = 0;
    for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) nonfinite++;
    if (nonfinite > 0) bad(`tensor ${name} has ${nonfinite} NaN/Inf value(s) of ${data.length}`);
    log(++done, total);
    return data;
  };
  for (const name of expected.keys()) if (sd.tensors.has(name)) values.set(name, read(name));
  // A flash=False model saved its causal masks (buffers "bias"); load_model(flash=True) ignores
  // them, and thinwire's attention is causal: they must be just that.
  const maskNames = [...masks].filter((n) => sd.tensors.has(n));
  for (const n of maskNames) {
    const t = sd.tensors.get(n)!, B = m.blockSize;
    if (t.shape.join() !== [1, 1, B, B].join()) {
      bad(`tensor ${n} has shape [${t.shape.join(", ")}], a causal mask needs [1, 1, ${B}, ${B}]`);
    }
    const v = t.read();
    for (let i = 0; i < B; i++) {
      for (let j = 0; j < B; j++) {
        if ((v[i * B + j] !== 0) !== (j <= i)) bad(`tensor ${n} is not the causal mask (row ${i})`);
      }
    }
  }
  if (maskNames.length > 0) {
    notes.push(`ignored ${maskNames.length} causal-mask buffer(s) (saved with flash=False)`);
  }
  if (m.tied) {
    const w = values.get("transformer.wte.weight"), h = values.get("lm_head.weight");
    if (w && h && !w.every((x, i) => Object.is(x, h[i]) || x === h[i])) {
      bad("tied_unembed is true but transformer.wte.weight and lm_head.weight differ");
    }
    values.set("transformer.wte.weight", (w ?? h)!);
    values.set("lm_head.weight", (h ?? w)!);
  }
  const flb = values.get("final_logits_bias");
  if (flb && flb.some((x) => x !== 0)) {
    bad("final_logits_bias is not all zeros: thinwire's model has no logit bias");
  }
  // wpe: the first nCtx rows. Read as channels with d_pos_emb; added otherwise, if not all zero.
  const model: ModelConfig = { ...cfg };
  const wpeFull = values.get("transformer.wpe.weight")!;
  const width = expected.get("transformer.wpe.weight")![1];
  const wpe = wpeFull.subarray(0, cfg.nCtx * width);
  if (cfg.nCtx < m.blockSize) {
    notes.push(`positions cropped to the first ${cfg.nCtx} of ${m.blockSize}`);
  }
  if (cfg.dPosEmb === 0) {
    if (wpe.some((x) => x !== 0)) {
      model.addPosEmb = true;
      notes.push("learned positions added to the token embeddings (wpe is not all zero)");
    } else {
      notes.push("no positions (wpe is all zero)");
    }
  }
  values.set("transformer.wpe.weight", wpe);
  const layout = paramLayout(model);
  const tensors = layout.specs.map((s): NamedTensor => {
    const v = values.get(s.name);
    if (!v && !(/\.bias$/.test(s.name) && !m.bias)) {
      throw new Error(`import: no value for ${s.name}`);
    }
    const data = v ?? new Float32Array(s.size);
    if (data.length !== s.size) {
      throw new Error(`import: ${s.name} has ${data.length} of ${s.size}`);
    }
    return { name: s.name, shape: s.shape, data };
  });
  return { model, tensors, notes };
}
