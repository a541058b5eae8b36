/**
 * Every named activation of a forward pass, under the reference's hook names (openai/
 * circuit_sparsity `inference/gpt.py`: `hook_save(name)` inside `hook_namespace(str(layer))`, and
 * `hook_namespace("attn" | "mlp")` inside the block), as token-major tensors: what its
 * `hook_recorder()` records for a batch of one, with the batch axis dropped.
 *
 *   {i}.resid_in          [T, C]        the residual stream entering block i
 *   {i}.attn.act_in       [T, C + P]    AbsTopK([RMSNorm_1(x); RMSNorm_p1(pos)])
 *   {i}.attn.q / k / v    [T, H·D]      after their AbsTopK, head h in columns h·D..(h+1)·D
 *   {i}.attn.y            [T, H·D]      the heads' outputs side by side, before c_proj
 *   {i}.attn.resid_delta  [T, C]        AbsTopK(c_proj(y)), added to the residual
 *   {i}.resid_mid         [T, C]        the residual between attention and MLP
 *   {i}.mlp.act_in        [T, C + P]    AbsTopK([RMSNorm_2(x); RMSNorm_p2(pos)])
 *   {i}.mlp.post_act      [T, M]        AbsTopK(GELU(c_fc(h)))
 *   {i}.mlp.resid_delta   [T, C]        AbsTopK(c_proj(u)), added to the residual
 *   final_resid           [T, C]        the residual entering ln_f
 *   {i}.attn.pattern      [H, T, T]     softmax weights, [h, query, key], zero above the diagonal;
 *                                       with a sink a row sums to 1 − P(sink). NOT a reference
 *                                       hook: its SDPA keeps the pattern internal.
 *
 * The mapping from names to Model buffers is `hookBuffers`, the one place that knows the Model's
 * activation layout; everything else here is generic.
 */
import type { NamedTensor } from "../model/safetensors.ts";
import type { Model } from "../model/model.ts";
import { locationRows, type NodeLocation } from "../model/nodes.ts";

/** One named activation as the Model holds it: `rows` feature rows of a [rows, N] buffer. */
export interface HookBuffer {
  name: string;
  /** Byte offset of the [rows, N] feature-major buffer. */
  ptr: number;
  rows: number;
  /** False for names thinwire adds (attention patterns); true for the reference's hook names. */
  reference: boolean;
}

/** The reference's hook names → the Model's activation buffers, in forward order. */
export function hookBuffers(model: Model): { hooks: HookBuffer[]; patterns: HookBuffer[] } {
  const { C, HD, P, H } = model.d;
  const a = model.acts;
  const N = a.N;
  const hooks: HookBuffer[] = [];
  const patterns: HookBuffer[] = [];
  const hook = (name: string, ptr: number, rows: number) =>
    hooks.push({ name, ptr, rows, reference: true });
  a.layers.forEach((s, i) => {
    // Node locations through the table; the block inputs' hooks hold the position rows too
    // (C + P channels), as the reference's do. gpt.py saves k before q and v; order within the
    // file does not matter to readers.
    const node = (loc: NodeLocation, extraRows = 0) => {
      const r = locationRows(s, model.d, loc, N);
      hook(`${i}.${loc}`, r.ptr, r.rows + extraRows);
    };
    hook(`${i}.resid_in`, s.residIn, C);
    node("attn.act_in", P);
    node("attn.q");
    node("attn.k");
    node("attn.v");
    hook(`${i}.attn.y`, s.attnY, HD);
    node("attn.resid_delta");
    hook(`${i}.resid_mid`, s.residMid, C);
    node("mlp.act_in", P);
    node("mlp.post_act");
    node("mlp.resid_delta");
    patterns.push({ name: `${i}.attn.pattern`, ptr: s.attnPattern, rows: H, reference: false });
  });
  hook("final_resid", a.resF, C);
  return { hooks, patterns };
}

/** [rows, N] feature-major → [N, rows] token-major. */
function tokenMajor(src: Float32Array, rows: number, N: number): Float32Array {
  const out = new Float32Array(rows * N);
  for (let r = 0; r < rows; r++) {
    for (let n = 0; n < N; n++) out[n * rows + r] = src[r * N + n];
  }
  return out;
}

/**
 * The last forward pass (one sequence: B = 1) as named tensors: `logits` [T, V], every hook of
 * `hookBuffers` [T, width], and each layer's attention pattern [H, T, T]. Copies, not views.
 */
export function activationTensors(model: Model): NamedTensor[] {
  const a = model.acts;
  if (a.B !== 1) throw new Error(`activationTensors: the last forward had B = ${a.B}, not 1`);
  const { T, N } = a;
  const arena = model.be.arena;
  model.downloadActs();
  const { V, H } = model.d;
  const { hooks, patterns } = hookBuffers(model);
  const out: NamedTensor[] = [{
    name: "logits",
    shape: [T, V],
    data: tokenMajor(arena.f32(a.logits, V * N), V, N),
  }];
  for (const h of hooks) {
    out.push({
      name: h.name,
      shape: [T, h.rows],
      data: tokenMajor(arena.f32(h.ptr, h.rows * N), h.rows, N),
    });
  }
  for (const p of patterns) {
    // The kernel's layout [H, B, T, T] is already [H, T, T] at B = 1.
    out.push({ name: p.name, shape: [H, T, T], data: arena.f32(p.ptr, H * T * T).slice() });
  }
  return out;
}
