/**
 * Causal multi-head attention with the sink (asm/kernels/attention.ts), in the WASM kernel's
 * summation orders: scores over channels in order, the softmax denominator from the sink term
 * then the keys in order, sums along keys (out, dq, the row's dot) in four lanes j mod 4 then
 * (l0 + l1) + (l2 + l3) then the last keys, dk and dv accumulated over query rows in order. exp
 * is the Cephes f32 scheme where the CPU uses musl's expf (a few ulp apart). Passes:
 *   forward  one invocation per (head, sequence, query row);
 *   backward A per query row: dp, dot, dz (into datt), dq, and the row's sink term (scratch);
 *            B per (head, sequence, key): dk, dv; C per (head, sequence): the pair's sink
 *            gradient into datt[h, b, 0, 0], which attention_backward_sink_sum adds over b.
 */
import { EXP, type GpuKernelSpec, strideGrid } from "../wgsl.ts";

const WG = 64;

const COMMON = /* wgsl */ `${EXP}
const FLT_MIN: f32 = 1.17549435e-38;
fn flush(v: f32) -> f32 { return select(v, 0.0, abs(v) < FLT_MIN); }
/** e^d, 0 below −87 (the CPU's exp_flushed). */
fn exp_flushed(d: f32) -> f32 { return select(exp_cephes(d), 0.0, d < -87.0); }
/** Σ_{j<len} p[j]·y[j]: four lanes j mod 4 over whole quads, (l0 + l1) + (l2 + l3), then the rest. */
fn lane_sum(p: u32, y: u32, len: u32) -> f32 {
  let nv = len & ~3u;
  var l = vec4f(0.0);
  for (var j = 0u; j < nv; j += 4u) {
    for (var q = 0u; q < 4u; q++) { l[q] = l[q] + ldf(p + j + q) * ldf(y + j + q); }
  }
  var s = (l.x + l.y) + (l.z + l.w);
  for (var j = nv; j < len; j++) { s = s + ldf(p + j) * ldf(y + j); }
  return s;
}
/** Σ_i x[ch(i), tx]·y[ch(i), ty] over the head's channels, in order. */
fn head_dot(x: u32, tx: u32, y: u32, ty: u32, h: u32) -> f32 {
  var s = 0.0;
  for (var i = 0u; i < a.dh; i++) {
    let c = (h * a.dh + i) * a.N;
    s = s + ldf(x + c + tx) * ldf(y + c + ty);
  }
  return s;
}
`;

const SHAPE = "B:u T:u H:u dh:u";

/** The 1/sqrt(dh) of the CPU kernel (f32 division of f32 sqrt) and N = B·T. */
const derived: GpuKernelSpec["derived"] = {
  decl: "N:u rows:u scale:f",
  values: (a) => [a.B * a.T, a.H * a.B * a.T, Math.fround(1 / Math.fround(Math.sqrt(a.dh)))],
};

const forward: GpuKernelSpec = {
  name: "attention_forward",
  args: `out:p att:p q:p k:p v:p sink:p scratch:x ${SHAPE}`,
  derived,
  code: `${COMMON}
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var r = gid.x; r < a.rows; r += nwg.x * ${WG}u) {
    let t = r % a.T;
    let hb = r / a.T;
    let b = hb % a.B;
    let h = hb / a.B;
    let b0 = b * a.T;
    let len = t + 1u;
    let row = a.att + r * a.T;
    let hasSink = a.sink != 0u;
    var s = 0.0;
    var m = -3.0e38;
    if (hasSink) { s = ldf(a.sink + h); m = s; }
    for (var j = 0u; j < len; j++) {
      let z = head_dot(a.q, b0 + t, a.k, b0 + j, h) * a.scale;
      stf(row + j, z);
      m = max(m, z);
    }
    var sum = 0.0;
    if (hasSink) { sum = exp_flushed(s - m); }
    for (var j = 0u; j < len; j++) {
      let e = exp_flushed(ldf(row + j) - m);
      stf(row + j, e);
      sum = sum + e;
    }
    let inv = 1.0 / sum;
    for (var j = 0u; j < len; j++) { stf(row + j, flush(ldf(row + j) * inv)); }
    for (var j = len; j < a.T; j++) { stf(row + j, 0.0); }
    for (var i = 0u; i < a.dh; i++) {
      let c = (h * a.dh + i) * a.N + b0;
      stf(a.out + c + t, lane_sum(row, a.v + c, len));
    }
  }
}`,
  passes: [{ entry: "main", grid: (a) => strideGrid(a.rows, WG) }],
};

function backward(name: string, write: boolean): GpuKernelSpec {
  const base = (p: string) => (write ? "0.0" : `ldf(${p})`);
  return {
    name,
    args: `dq:p dk:p dv:p datt:p dout:p q:p k:p v:p att:p sink:p scratch:x ${SHAPE}`,
    derived,
    // One sink term per query row, summed per pair in row order by pass C.
    scratch: (a) => 4 * a.H * a.B * a.T,
    code: `${COMMON}
@compute @workgroup_size(${WG})
fn rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var r = gid.x; r < a.rows; r += nwg.x * ${WG}u) {
    let t = r % a.T;
    let hb = r / a.T;
    let b = hb % a.B;
    let h = hb / a.B;
    let b0 = b * a.T;
    let len = t + 1u;
    let prow = a.att + r * a.T;
    let drow = a.datt + r * a.T;
    for (var j = 0u; j < len; j++) { stf(drow + j, head_dot(a.dout, b0 + t, a.v, b0 + j, h)); }
    let dot = lane_sum(prow, drow, len);
    var pm = -1.0;
    var jm = 0u;
    for (var j = 0u; j < len; j++) {
      let p = ldf(prow + j);
      if (p > pm) { pm = p; jm = j; }
      stf(drow + j, flush((p * (ldf(drow + j) - dot)) * a.scale));
    }
    for (var i = 0u; i < a.dh; i++) {
      let c = (h * a.dh + i) * a.N + b0;
      stf(a.dq + c + t, flush(${base("a.dq + c + t")} + lane_sum(drow, a.k + c, len)));
    }
    var term = 0.0;
    if (a.sink != 0u) {
      // p_sink = p_j·e^(s − z_j) at a largest p_j, its score recomputed as the forward did.
      let d = ldf(a.sink + h) - head_dot(a.q, b0 + t, a.k, b0 + jm, h) * a.scale;
      term = select(1.0, pm * exp_cephes(d), d < 64.0) * dot;
    }
    stf(a.scr + r, term);
  }
}
@compute @workgroup_size(${WG})
fn keys(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var r = gid.x; r < a.rows; r += nwg.x * ${WG}u) {
    let j = r % a.T;
    let hb = r / a.T;
    let b = hb % a.B;
    let h = hb / a.B;
    let b0 = b * a.T;
    for (var i = 0u; i < a.dh; i++) {
      let c = (h * a.dh + i) * a.N + b0;
      var dkv = ${base("a.dk + c + j")};
      var dvv = ${base("a.dv + c + j")};
      for (var t = j; t < a.T; t++) {
        let cell = (hb * a.T + t) * a.T + j;
        dkv = dkv + ldf(a.q + c + t) * ldf(a.datt + cell);
        dvv = dvv + ldf(a.dout + c + t) * ldf(a.att + cell);
      }
      stf(a.dk + c + j, flush(dkv));
      stf(a.dv + c + j, flush(dvv));
    }
  }
}
@compute @workgroup_size(${WG})
fn pairs(@builtin(global_invocation_id) gid: vec3u) {
  let hb = gid.x;
  if (hb >= a.H * a.B || a.sink == 0u) { return; }
  var ds = 0.0;
  for (var t = 0u; t < a.T; t++) { ds = ds - ldf(a.scr + hb * a.T + t); }
  stf(a.datt + hb * a.T * a.T, ds);
}`,
    passes: [
      { entry: "rows", grid: (a) => strideGrid(a.rows, WG) },
      { entry: "keys", grid: (a) => strideGrid(a.rows, WG) },
      { entry: "pairs", grid: (a) => [Math.ceil((a.H * a.B) / WG)] },
    ],
  };
}

export const ATTENTION: GpuKernelSpec[] = [
  forward,
  backward("attention_backward", false),
  backward("attention_backward_write", true),
  {
    name: "attention_backward_sink_sum",
    args: "dsink:p datt:p B:u T:u H:u",
    code: `
@compute @workgroup_size(${WG})
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let h = gid.x;
  if (h >= a.H) { return; }
  var s = 0.0;
  for (var b = 0u; b < a.B; b++) { s = s + ldf(a.datt + (h * a.B + b) * a.T * a.T); }
  stf(a.dsink + h, ldf(a.dsink + h) + s);
}`,
    passes: [{ entry: "main", grid: (a) => [Math.ceil(a.H / WG)] }],
  },
];
