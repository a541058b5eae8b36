/**
 * Model configuration (docs/method.md §1) and the width/L0 scaling of §2.
 *
 * Shape letters used across src/model: V vocab, C = d_model, H heads of D = d_head, M = d_mlp,
 * B sequences of T tokens, N = B·T tokens. Activations are feature-major [C, N].
 */
import { UserError } from "../errors.ts";

export interface ModelConfig {
  vocabSize: number;
  nLayer: number;
  /** Width before the expansion factor: d_model = ef × baseDModel. */
  baseDModel: number;
  /** MLP width before the expansion factor: d_mlp = ef × baseDMlp. */
  baseDMlp: number;
  /** Width expansion factor (docs/method.md §2 "Width vs L0"). */
  ef: number;
  dHead: number;
  nCtx: number;
  /** Fraction of activations kept by AbsTopK at the eight locations; 1 disables it. */
  afrac: number;
  /** Attention sink logit per head. */
  sink: boolean;
  /** Dense V×V bigram table added to the logits. */
  bigram: boolean;
  /**
   * Learned absolute positions of this width, concatenated to each block's input as read-only
   * channels through the block's own RMSNorm; 0 = none (the paper's default).
   */
  dPosEmb: number;
  /**
   * Where AbsTopK runs, by the reference's names (GPTConfig.afrac_loctypes); absent = all eight
   * (AFRAC_LOCTYPES). Set only for models that keep fewer (imported ones): absent, config.json
   * and model.safetensors stay as they were before the field existed.
   */
  afracLoctypes?: AfracLoctype[];
  /**
   * Learned absolute positions [n_ctx, d_model] added to the token embeddings (GPT-2's wpe,
   * what the reference does without d_pos_emb); absent = none. Excludes dPosEmb.
   */
  addPosEmb?: boolean;
}

/** AbsTopK's eight places, by the reference's names (circuit_sparsity GPTConfig.afrac_loctypes). */
export const AFRAC_LOCTYPES = [
  "attn_in",
  "attn_q",
  "attn_k",
  "attn_v",
  "attn_out",
  "mlp_in",
  "mlp_neuron",
  "mlp_out",
] as const;

export type AfracLoctype = typeof AFRAC_LOCTYPES[number];

/** The AbsTopK fraction at one place: afrac where the config runs AbsTopK, else 1 (off). */
export function afracAt(c: ModelConfig, loc: AfracLoctype): number {
  return !c.afracLoctypes || c.afracLoctypes.includes(loc) ? c.afrac : 1;
}

/** Derived sizes. */
export interface ModelDims {
  V: number;
  C: number;
  M: number;
  H: number;
  D: number;
  L: number;
  /** H·D: width of q, k, v. */
  HD: number;
  /** Position channels (d_pos_emb, 0 = none). */
  P: number;
  /** Width of a position's embedding: P when read, C when added (addPosEmb), 0 without. */
  PW: number;
}

export function dims(c: ModelConfig): ModelDims {
  const C = Math.round(c.baseDModel * c.ef);
  const M = Math.round(c.baseDMlp * c.ef);
  const H = C / c.dHead;
  const P = c.dPosEmb, PW = c.addPosEmb ? C : P;
  return { V: c.vocabSize, C, M, H, D: c.dHead, L: c.nLayer, HD: H * c.dHead, P, PW };
}

/** AbsTopK keep count for a vector of n entries: floor(afrac·n) (docs/method.md §1), all if afrac = 1. */
export function keepCount(afrac: number, n: number): number {
  return afrac >= 1 ? n : Math.max(1, Math.floor(afrac * n));
}

/** Checks a config for impossible values; throws UserError with one line. */
export function validateModelConfig(c: ModelConfig): void {
  const int = (name: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) {
      throw new UserError(`${name} must be an integer ≥ ${min}, got ${v}`);
    }
  };
  int("vocab size", c.vocabSize, 258);
  int("layers", c.nLayer, 1);
  int("d-model", c.baseDModel, 1);
  int("d-mlp", c.baseDMlp, 1);
  int("d-head", c.dHead, 1);
  int("n-ctx", c.nCtx, 2);
  int("d-pos-emb", c.dPosEmb, 0);
  if (!(c.ef > 0) || !Number.isFinite(c.ef)) throw new UserError(`ef must be > 0, got ${c.ef}`);
  // dims() rounds, so the product is checked before it: --ef 1.3 on d_model 64 gives 83.2.
  for (const [flag, base] of [["d-model", c.baseDModel], ["d-mlp", c.baseDMlp]] as const) {
    const w = base * c.ef;
    if (Math.abs(w - Math.round(w)) > 1e-9 * w) {
      throw new UserError(`ef ${c.ef} × ${flag} ${base} = ${w} is not a whole width`);
    }
  }
  const d = dims(c);
  if (d.C % c.dHead !== 0) {
    throw new UserError(`d_model (${d.C}) must be a multiple of d_head (${c.dHead})`);
  }
  if (!(c.afrac > 0 && c.afrac <= 1)) {
    throw new UserError(`afrac must be in (0, 1], got ${c.afrac}`);
  }
  const locs = c.afracLoctypes;
  if (locs !== undefined) {
    const known = new Set<string>(AFRAC_LOCTYPES);
    if (
      !Array.isArray(locs) || locs.some((l) => !known.has(l)) || new Set(locs).size < locs.length
    ) {
      throw new UserError(
        `afracLoctypes must list distinct names of ${AFRAC_LOCTYPES.join(", ")}, got ` +
          JSON.stringify(locs),
      );
    }
  }
  if (c.addPosEmb !== undefined && typeof c.addPosEmb !== "boolean") {
    throw new UserError(`addPosEmb must be a boolean, got ${JSON.stringify(c.addPosEmb)}`);
  }
  if (c.addPosEmb && c.dPosEmb > 0) {
    throw new UserError("addPosEmb and d-pos-emb exclude each other (positions added or read)");
  }
}
