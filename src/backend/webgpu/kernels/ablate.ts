/**
 * Node ablation and the mask optimiser of circuit pruning (asm/kernels/ablate.ts, prune.ts).
 * The mask gradient sums tokens per channel in the CPU's four-lane order. The node means' f64
 * token sums are kept, in the same 8 bytes per channel, as an unevaluated pair of f32 (hi, lo)
 * updated by error-free transformations (about 48 significant bits; WGSL has no f64), guarded
 * against the compiler folding them away; f64_to_f32_scaled reads that pair. The sigmoid of
 * the surrogate gradient is f32 where the CPU uses f64.
 */
import { EXP, type GpuKernelSpec } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

const cn: GpuKernelSpec["derived"] = { decl: "CN:u", values: (a) => [a.C * a.N] };

/**
 * Pair (hi, lo) arithmetic. opq() passes a value through an integer XOR with a uniform that is
 * always 0: the compiler cannot see through it, so it cannot reassociate (s − x) into y and
 * erase the rounding error these steps recover (Vulkan lets drivers reassociate float adds).
 */
const PAIR = /* wgsl */ `
fn opq(x: f32) -> f32 { return bitcast<f32>(bitcast<u32>(x) ^ a.zero); }
fn two_sum(x: f32, y: f32) -> vec2f {
  let s = opq(x + y);
  let yy = opq(s - x);
  let xx = opq(s - yy);
  return vec2f(s, (x - xx) + (y - yy));
}
/** (hi, lo) + (h2, l2), renormalised. */
fn pair_add(p: vec2f, q: vec2f) -> vec2f {
  let s = two_sum(p.x, q.x);
  let e = s.y + (p.y + q.y);
  let hi = opq(s.x + e);
  return vec2f(hi, e - opq(hi - s.x));
}
`;

export const ABLATE: GpuKernelSpec[] = [
  elementwise(
    "ablate_forward",
    "x:p raw:p m:p mu:p C:u N:u",
    `let c = i / a.N;
    let v = ldf(a.x + i);
    if (a.raw != 0u) { stf(a.raw + i, v); }
    let mc = ldf(a.m + c);
    var muc = 0.0;
    if (a.mu != 0u) { muc = ldf(a.mu + c); }
    stf(a.x + i, mc * v + (1.0 - mc) * muc);`,
    { count: "CN", derived: cn },
  ),
  {
    name: "ablate_backward",
    args: "dinp:p dm:p dout:p raw:p m:p mu:p C:u N:u",
    derived: cn,
    code: `
fn mu_at(c: u32) -> f32 { if (a.mu == 0u) { return 0.0; } return ldf(a.mu + c); }
@compute @workgroup_size(64)
fn dm(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let N4 = a.N & ~3u;
  for (var c = gid.x; c < a.C; c += nwg.x * 64u) {
    let muc = mu_at(c);
    var l = vec4f(0.0);
    for (var n = 0u; n < N4; n += 4u) {
      for (var j = 0u; j < 4u; j++) {
        let o = c * a.N + n + j;
        l[j] = l[j] + (ldf(a.raw + o) - muc) * ldf(a.dout + o);
      }
    }
    var s = (l.x + l.y) + (l.z + l.w);
    for (var n = N4; n < a.N; n++) {
      let o = c * a.N + n;
      s = s + (ldf(a.raw + o) - muc) * ldf(a.dout + o);
    }
    stf(a.dm + c, ldf(a.dm + c) + s);
  }
}
@compute @workgroup_size(256)
fn dx(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var i = gid.x; i < a.CN; i += nwg.x * 256u) {
    stf(a.dinp + i, ldf(a.m + i / a.N) * ldf(a.dout + i));
  }
}`,
    passes: [
      { entry: "dm", grid: (a) => [Math.min(65535, Math.ceil(a.C / 64))] },
      { entry: "dx", grid: (a) => [Math.min(65535, Math.ceil(a.CN / 256))] },
    ],
  },
  elementwise(
    "row_sum_f64",
    "acc:p x:p C:u N:u",
    `var s = vec2f(0.0, 0.0);
    for (var n = 0u; n < a.N; n++) { s = pair_add(s, vec2f(ldf(a.x + i * a.N + n), 0.0)); }
    let o = a.acc + 2u * i;
    let r = pair_add(vec2f(ldf(o), ldf(o + 1u)), s);
    stf(o, r.x);
    stf(o + 1u, r.y);`,
    { count: "C", derived: { decl: "zero:u", values: () => [0] }, extra: PAIR },
  ),
  elementwise(
    "f64_to_f32_scaled",
    "out:p acc:p n:u scale:f",
    "stf(a.out + i, ldf(a.acc + 2u * i) * a.scale + ldf(a.acc + 2u * i + 1u) * a.scale);",
  ),
  elementwise(
    "mask_surrogate_grad",
    "g:p tau:p dm:p n:u invT:f kcoef:f",
    `let sg = 1.0 / (1.0 + exp_cephes(-ldf(a.tau + i) * a.invT));
    stf(a.g + i, ((ldf(a.dm + i) + a.kcoef) * (sg * (1.0 - sg))) * a.invT);`,
    { extra: EXP },
  ),
  elementwise(
    "mask_edge_grad",
    "dm:p m:p ptr:p idx:p n:u ecoef:f",
    `var s = 0.0;
    let e = ldi(a.ptr + i + 1u);
    for (var k = ldi(a.ptr + i); k < e; k++) { s += ldf(a.m + u32(ldi(a.idx + u32(k)))); }
    stf(a.dm + i, ldf(a.dm + i) + a.ecoef * s);`,
  ),
  elementwise(
    "mask_clamp_heaviside",
    "m:p tau:p n:u",
    `let t = min(1.0, max(-1.0, ldf(a.tau + i)));
    stf(a.tau + i, t);
    stf(a.m + i, select(0.0, 1.0, t > 0.0));`,
  ),
];
