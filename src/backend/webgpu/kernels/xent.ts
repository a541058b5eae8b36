/**
 * Losses on feature-major logits [V, N] (asm/kernels/xent.ts). Cross-entropy: one invocation per
 * token for the column's max and Σ exp (v in order, the CPU's Cephes exp: the same bits), then
 * one per logit for the gradient. log is WGSL's (the CPU has musl's logf). The pair loss runs its
 * items in order in one invocation (items may share logits), in f32 where the CPU uses f64.
 */
import { EXP, type GpuKernelSpec, strideGrid } from "../wgsl.ts";

const FLUSH = /* wgsl */ `
const FLT_MIN: f32 = 1.17549435e-38;
fn flush(v: f32) -> f32 { return select(v, 0.0, abs(v) < FLT_MIN); }
`;

/** Writes max and Σexp of token n's column at mx + n and sum + n. */
const COLUMN = /* wgsl */ `${EXP}${FLUSH}
fn column_stats(n: u32, mx: u32, sum: u32) {
  var m = ldf(a.logits + n);
  for (var v = 1u; v < a.V; v++) { m = max(m, ldf(a.logits + v * a.N + n)); }
  var s = 0.0;
  for (var v = 0u; v < a.V; v++) { s = s + exp_cephes(ldf(a.logits + v * a.N + n) - m); }
  stf(mx + n, m);
  stf(sum + n, s);
}
`;

const INV_SCALE = /* wgsl */ `
/** (1/Σexp)·scale, or 0 for an ignored token (its gradient column is 0). */
fn inv_scale(n: u32, sum: u32) -> f32 {
  if (ldi(a.targets + n) < 0) { return 0.0; }
  return (1.0 / ldf(sum + n)) * a.scale;
}
`;

/** dlogits[v, n] = flush(e^(l − max)·inv − [v = target]·scale): one invocation per logit. */
const GRAD_PASS = /* wgsl */ `
@compute @workgroup_size(256)
fn grad(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var i = gid.x; i < a.VN; i += nwg.x * 256u) {
    let v = i / a.N;
    let n = i - v * a.N;
    let ex = exp_cephes(ldf(a.logits + i) - ldf(a.mx + n));
    let hot = select(0.0, a.scale, ldi(a.targets + n) == i32(v));
    stf(a.dlogits + i, flush(ex * ldf(a.inv + n) - hot));
  }
}`;

const SOFTPLUS = /* wgsl */ `${EXP}
/** log(1 + x) for 0 ≤ x ≤ 1: a series below 0.1 (no f32 log1p in WGSL). */
fn log1p_small(x: f32) -> f32 {
  if (x < 0.1) {
    return x * (1.0 - x * (0.5 - x * (1.0 / 3.0 - x * (0.25 - x * (0.2 - x / 6.0)))));
  }
  return log(1.0 + x);
}
fn softplus(d: f32) -> f32 { return max(d, 0.0) + log1p_small(exp_cephes(-abs(d))); }
`;

export const XENT: GpuKernelSpec[] = [
  {
    name: "crossentropy_forward",
    args: "losses:p logits:p targets:p V:u N:u scratch:p",
    code: `${COLUMN}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var n = gid.x; n < a.N; n += nwg.x * 64u) {
    column_stats(n, a.scratch, a.scratch + a.N);
    let t = ldi(a.targets + n);
    var loss = 0.0;
    if (t >= 0) {
      loss = (ldf(a.scratch + n) - ldf(a.logits + u32(t) * a.N + n)) + log(ldf(a.scratch + a.N + n));
    }
    stf(a.losses + n, loss);
  }
}`,
    passes: [{ entry: "main", grid: (a) => strideGrid(a.N, 64) }],
  },
  {
    name: "crossentropy_backward",
    args: "dlogits:p logits:p targets:p V:u N:u scale:f scratch:p",
    derived: {
      decl: "VN:u mx:u inv:u",
      values: (a) => [a.V * a.N, a.scratch >>> 2, (a.scratch >>> 2) + a.N],
    },
    code: `${COLUMN}${INV_SCALE}
@compute @workgroup_size(64)
fn stats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var n = gid.x; n < a.N; n += nwg.x * 64u) {
    column_stats(n, a.mx, a.inv);
    stf(a.inv + n, inv_scale(n, a.inv));
  }
}
${GRAD_PASS}`,
    passes: [
      { entry: "stats", grid: (a) => strideGrid(a.N, 64) },
      { entry: "grad", grid: (a) => strideGrid(a.VN, 256) },
    ],
  },
  {
    name: "crossentropy_backward_stats",
    args: "dlogits:p logits:p targets:p V:u N:u scale:f stats:p inv:p",
    derived: { decl: "VN:u mx:u", values: (a) => [a.V * a.N, a.stats >>> 2] },
    code: `${COLUMN}${INV_SCALE}
@compute @workgroup_size(64)
fn invs(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var n = gid.x; n < a.N; n += nwg.x * 64u) { stf(a.inv + n, inv_scale(n, a.stats + a.N)); }
}
${GRAD_PASS}`,
    passes: [
      { entry: "invs", grid: (a) => strideGrid(a.N, 64) },
      { entry: "grad", grid: (a) => strideGrid(a.VN, 256) },
    ],
  },
  {
    name: "pair_loss_forward",
    args: "losses:p logits:p pos:p ia:p ib:p count:u V:u N:u",
    code: `${SOFTPLUS}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var i = gid.x; i < a.count; i += nwg.x * 64u) {
    let col = mem[a.pos + i];
    let la = ldf(a.logits + mem[a.ia + i] * a.N + col);
    let lb = ldf(a.logits + mem[a.ib + i] * a.N + col);
    stf(a.losses + i, softplus(lb - la));
  }
}`,
    passes: [{ entry: "main", grid: (a) => strideGrid(a.count, 64) }],
  },
  {
    name: "pair_loss_backward",
    args: "dlogits:p logits:p pos:p ia:p ib:p count:u V:u N:u scale:f s:f",
    code: `${EXP}
@compute @workgroup_size(1)
fn main() {
  for (var i = 0u; i < a.count; i++) {
    let col = mem[a.pos + i];
    let pa = a.dlogits + mem[a.ia + i] * a.N + col;
    let pb = a.dlogits + mem[a.ib + i] * a.N + col;
    let d = a.s * (ldf(a.logits + mem[a.ib + i] * a.N + col) - ldf(a.logits + mem[a.ia + i] * a.N + col));
    let g = a.scale * a.s / (1.0 + exp_cephes(-d));
    stf(pb, ldf(pb) + g);
    stf(pa, ldf(pa) - g);
  }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
  {
    // GPU only (ops.meanLoss's GPU form): out = mean of losses over tokens with target ≥ 0 (all
    // when targets is 0), 0 when none count. One workgroup: contiguous chunks summed in order,
    // then a fixed tree (f32; the CPU sums in f64).
    name: "mean_loss_to",
    args: "losses:p targets:p N:u out:p",
    code: `
var<workgroup> part: array<f32, 256>;
var<workgroup> cnt: array<u32, 256>;
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32) {
  let chunk = (a.N + 255u) / 256u;
  let s0 = min(a.N, t * chunk);
  let s1 = min(a.N, s0 + chunk);
  var s = 0.0;
  var c = 0u;
  for (var n = s0; n < s1; n++) {
    if (a.targets != 0u && ldi(a.targets + n) < 0) { continue; }
    s = s + ldf(a.losses + n);
    c += 1u;
  }
  part[t] = s;
  cnt[t] = c;
  workgroupBarrier();
  for (var w = 128u; w > 0u; w >>= 1u) {
    if (t < w) { part[t] = part[t] + part[t + w]; cnt[t] += cnt[t + w]; }
    workgroupBarrier();
  }
  if (t == 0u) { stf(a.out, select(0.0, part[0] / f32(cnt[0]), cnt[0] > 0u)); }
}`,
    passes: [{ entry: "main", grid: () => [1] }],
  },
];
