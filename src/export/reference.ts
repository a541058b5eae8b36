/**
 * `export --format reference`: a folder that openai/circuit_sparsity's own loader opens,
 * `circuit_sparsity.inference.gpt.load_model(DIR, flash=True, cuda=False)`, with no hand-mapping:
 *
 *   DIR/beeg_config.json   the GPTConfig fields (its dataclass, passed as GPTConfig(**json))
 *   DIR/final_model.pt     the state dict, torch.save's zip format (loads with weights_only=True)
 *   DIR/tokenizer.json     thinwire's tokenizer, to encode prompts (the loader ignores it)
 *
 * `flash=True` because the reference computes the attention sink only in its SDPA path (its
 * loader refuses sink models otherwise); `cuda=False` on a machine without a GPU.
 *
 * Its loader is `load_state_dict(sd, strict=False)`: a tensor left out silently keeps its random
 * init. So the state dict holds every tensor the reference's GPT(config) has, checked against a
 * list derived here from the reference's module structure, not from thinwire's parameter table:
 * a thinwire tensor the reference does not have, or the reverse, is a bug and stops the export.
 * Without learned positions the reference still has `transformer.wpe.weight` [n_ctx, d_model],
 * added to the token embeddings: it gets zeros, the same function (or thinwire's own with
 * addPosEmb, which is exactly that addition). `final_logits_bias` [V] gets
 * zeros too.
 */
import { UserError } from "../errors.ts";
import {
  AFRAC_LOCTYPES,
  afracAt,
  type AfracLoctype,
  dims,
  keepCount,
  type ModelConfig,
} from "../model/config.ts";
import type { Model } from "../model/model.ts";
import { writeAtomic } from "../util/write_atomic.ts";
import type { ExportFormat } from "./format.ts";
import { encodeTorchStateDict, type TorchTensor } from "./torch_pickle.ts";

/**
 * beeg_config.json: every GPTConfig field (circuit_sparsity inference/gpt.py), so nothing falls
 * back to a default that differs from thinwire (its defaults are GPT-2's: tied embeddings, LayerNorm,
 * d_mlp = 4·d_model, AbsTopK at four places). `flash` and `grad_checkpointing` are set by
 * load_model's arguments and are left out.
 */
export function referenceConfig(cfg: ModelConfig, tokenizerName: string): Record<string, unknown> {
  const d = dims(cfg);
  return {
    block_size: cfg.nCtx,
    vocab_size: d.V,
    n_layer: d.L,
    n_head: d.H,
    d_head: d.D,
    d_model: d.C,
    d_mlp: d.M,
    dropout: 0.0,
    // Biases in c_attn, c_proj and c_fc; the norms are RMSNorm (weight only).
    bias: true,
    ln_bias: false,
    rms_norm: true,
    residual_activation_type: "identity",
    activation_type: "gelu",
    afrac: cfg.afrac >= 1 ? null : cfg.afrac,
    afrac_loctypes: (cfg.afracLoctypes ?? AFRAC_LOCTYPES).join(","),
    debug_nans: false,
    tied_unembed: false,
    tokenizer_name: tokenizerName,
    enable_bigram_table: cfg.bigram,
    learnable_bigram_table: cfg.bigram,
    d_pos_emb: d.P > 0 ? d.P : null,
    dropout_cat_pos_emb: false,
    sinusoidal_cat_pos_emb: false,
    enable_sparse_kernels: false,
    sink: cfg.sink,
  };
}

/**
 * The reference keeps int(afrac·n) of n channels and thinwire max(1, ⌊afrac·n⌋): the same unless
 * afrac·n < 1, where the reference would zero the whole location. Such a model has no reference
 * equivalent; say so rather than export a different function.
 */
function checkKeepCounts(cfg: ModelConfig): void {
  for (const [where, n] of Object.entries(locationWidths(cfg))) {
    const afrac = afracAt(cfg, where as AfracLoctype);
    if (afrac < 1 && Math.floor(afrac * n) !== keepCount(afrac, n)) {
      throw new UserError(
        `export --format reference: afrac ${afrac} keeps 0 of the ${n} channels of ${where} ` +
          `in the reference (thinwire keeps 1), so it would compute a different function`,
      );
    }
  }
}

/** Channels AbsTopK runs over at each of its places (the block inputs include the positions). */
export function locationWidths(cfg: ModelConfig): Record<AfracLoctype, number> {
  const d = dims(cfg);
  return {
    attn_in: d.C + d.P,
    attn_q: d.HD,
    attn_k: d.HD,
    attn_v: d.HD,
    attn_out: d.C,
    mlp_in: d.C + d.P,
    mlp_neuron: d.M,
    mlp_out: d.C,
  };
}

/** The reference GPT(config)'s state-dict keys and shapes (flash=True: no causal-mask buffers). */
export function referenceKeys(cfg: ModelConfig): { name: string; shape: number[] }[] {
  const { V, C, M, H, HD, L, P } = dims(cfg);
  const CP = C + P;
  const keys: { name: string; shape: number[] }[] = [
    { name: "transformer.wte.weight", shape: [V, C] },
    // nn.Embedding(block_size, d_pos_emb or d_model)
    { name: "transformer.wpe.weight", shape: [cfg.nCtx, P > 0 ? P : C] },
  ];
  for (let i = 0; i < L; i++) {
    const h = `transformer.h.${i}`;
    keys.push(
      { name: `${h}.ln_1.weight`, shape: [C] },
      { name: `${h}.attn.c_attn.weight`, shape: [3 * HD, CP] },
      { name: `${h}.attn.c_attn.bias`, shape: [3 * HD] },
      { name: `${h}.attn.c_proj.weight`, shape: [C, HD] },
      { name: `${h}.attn.c_proj.bias`, shape: [C] },
    );
    if (cfg.sink) keys.push({ name: `${h}.attn.attn_imp.sink_logit`, shape: [H] });
    keys.push(
      { name: `${h}.ln_2.weight`, shape: [C] },
      { name: `${h}.mlp.c_fc.weight`, shape: [M, CP] },
      { name: `${h}.mlp.c_fc.bias`, shape: [M] },
      { name: `${h}.mlp.c_proj.weight`, shape: [C, M] },
      { name: `${h}.mlp.c_proj.bias`, shape: [C] },
    );
    // BlockCatPosEmb's position norms.
    if (P > 0) {
      keys.push({ name: `${h}.ln_p1.weight`, shape: [P] }, {
        name: `${h}.ln_p2.weight`,
        shape: [P],
      });
    }
  }
  keys.push(
    { name: "transformer.ln_f.weight", shape: [C] },
    { name: "lm_head.weight", shape: [V, C] },
    { name: "final_logits_bias", shape: [V] },
  );
  if (cfg.bigram) keys.push({ name: "bigram_table", shape: [V, V] });
  return keys;
}

/** Names the reference has and thinwire's model does not: the zeros that make it the same function. */
const ZERO_FILLED = new Set(["transformer.wpe.weight", "final_logits_bias"]);

/** The state dict for final_model.pt: every reference key, from the model's weights or zeros. */
export function referenceStateDict(model: Model): TorchTensor[] {
  const ours = new Map(model.layout.specs.map((s) => [s.name, s]));
  const keys = referenceKeys(model.cfg);
  const theirs = new Set(keys.map((k) => k.name));
  const foreign = [...ours.keys()].filter((n) => !theirs.has(n));
  if (foreign.length > 0) {
    throw new Error(
      `reference export: thinwire tensor(s) ${foreign.join(", ")} have no reference name`,
    );
  }
  return keys.map(({ name, shape }) => {
    const spec = ours.get(name);
    if (!spec) {
      if (!ZERO_FILLED.has(name)) {
        throw new Error(`reference export: no thinwire tensor for ${name}`);
      }
      return { name, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) };
    }
    if (spec.shape.join() !== shape.join()) {
      throw new Error(`reference export: ${name} is [${spec.shape}] here, [${shape}] there`);
    }
    return { name, shape, data: model.weights(spec) };
  });
}

export const referenceFormat: ExportFormat = {
  async write(run, out) {
    checkKeepCounts(run.rc.model);
    const files: [string, Uint8Array | string][] = [
      [
        "beeg_config.json",
        JSON.stringify(referenceConfig(run.rc.model, run.tokenizer.name), null, 2) + "\n",
      ],
      ["final_model.pt", encodeTorchStateDict(referenceStateDict(run.model), "final_model")],
      ["tokenizer.json", JSON.stringify(run.tokenizer.toJSON()) + "\n"],
    ];
    for (const [name, data] of files) await writeAtomic(`${out}/${name}`, data);
    return files.map(([name]) => `${out}/${name}`);
  },
};
