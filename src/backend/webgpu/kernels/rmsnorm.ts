/**
 * RMSNorm over the channels of feature-major [C, N] activations (asm/kernels/rmsnorm.ts), every
 * sum in the WASM kernel's order: per-token sums over c = 0..C−1 (one invocation per token), and
 * dweight[c] over tokens in four lanes n mod 4, combined (l0 + l1) + (l2 + l3), then the last
 * N mod 4 tokens (one invocation per channel). The masked variants read dout as AbsTopK's
 * backward would leave it: 0 + (dout where the mask byte is set, else 0).
 */
import type { GpuKernelSpec } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

const EPS = "1.1920928955078125e-7";

const forward = elementwise(
  "rmsnorm_forward",
  "out:p rstd:p inp:p weight:p C:u N:u",
  `var ss = 0.0;
    for (var c = 0u; c < a.C; c++) {
      let x = ldf(a.inp + c * a.N + i);
      ss = ss + x * x;
    }
    let r = 1.0 / sqrt(ss / f32(a.C) + ${EPS});
    stf(a.rstd + i, r);
    for (var c = 0u; c < a.C; c++) {
      let o = c * a.N + i;
      stf(a.out + o, (ldf(a.inp + o) * r) * ldf(a.weight + c));
    }`,
  { count: "N" },
);

const scaleOnly = elementwise(
  "rmsnorm_scale",
  "out:p rstd:p inp:p weight:p C:u N:u",
  `let c = i / a.N; let n = i - c * a.N;
    stf(a.out + i, (ldf(a.inp + i) * ldf(a.rstd + n)) * ldf(a.weight + c));`,
  { count: "CN", derived: { decl: "CN:u", values: (a) => [a.C * a.N] } },
);

/** dout at element o, masked when the kernel has a mask (byte pointer a.mask, 0 = none). */
const DOUT_MASKED = /* wgsl */ `
fn dout_at(o: u32) -> f32 {
  let d = ldf(a.dout + o);
  if (a.mask == 0u) { return d; }
  return 0.0 + select(0.0, d, ldb(a.mask + o) != 0u);
}`;
const DOUT_PLAIN = "fn dout_at(o: u32) -> f32 { return ldf(a.dout + o); }";

function doutAt(args: string): string {
  return args.includes("mask:") ? DOUT_MASKED : DOUT_PLAIN;
}

/** g[n] = rstd³·Σ_c (dout·w)·x / C, one invocation per token. */
function tokenPass(name: string, args: string): GpuKernelSpec {
  return elementwise(
    name,
    args,
    `var s = 0.0;
    for (var c = 0u; c < a.C; c++) {
      let o = c * a.N + i;
      s = s + (dout_at(o) * ldf(a.weight + c)) * ldf(a.inp + o);
    }
    let r = ldf(a.rstd + i);
    stf(a.g + i, ((s * r) * r) * r / f32(a.C));`,
    { count: "N", extra: doutAt(args) },
  );
}

/**
 * Pass "dw" (first: it reads dout, which dinp may overwrite) accumulates dweight per channel;
 * pass "dx" writes or adds dinp per element.
 */
function backwardPass(name: string, args: string, write: string): GpuKernelSpec {
  return {
    name,
    args,
    derived: { decl: "CN:u", values: (a) => [a.C * a.N] },
    code: `${doutAt(args)}
@compute @workgroup_size(64)
fn dw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let N4 = a.N & ~3u;
  for (var c = gid.x; c < a.C; c += nwg.x * 64u) {
    var l = vec4f(0.0);
    for (var n = 0u; n < N4; n += 4u) {
      for (var j = 0u; j < 4u; j++) {
        let o = c * a.N + n + j;
        l[j] = l[j] + (dout_at(o) * ldf(a.inp + o)) * ldf(a.rstd + n + j);
      }
    }
    var s = (l.x + l.y) + (l.z + l.w);
    for (var n = N4; n < a.N; n++) {
      let o = c * a.N + n;
      s = s + (dout_at(o) * ldf(a.inp + o)) * ldf(a.rstd + n);
    }
    stf(a.dweight + c, ldf(a.dweight + c) + s);
  }
}
@compute @workgroup_size(256)
fn dx(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  for (var i = gid.x; i < a.CN; i += nwg.x * 256u) {
    let c = i / a.N; let n = i - c * a.N;
    let d = dout_at(i);
    let v = ldf(a.rstd + n) * (d * ldf(a.weight + c)) - ldf(a.inp + i) * ldf(a.g + n);
    stf(a.dinp + i, select(ldf(a.dinp + i), 0.0, ${write}) + v);
  }
}`,
    passes: [
      { entry: "dw", grid: (a) => [Math.min(65535, Math.ceil(a.C / 64))] },
      { entry: "dx", grid: (a) => [Math.min(65535, Math.ceil(a.CN / 256))] },
    ],
  };
}

export const RMSNORM: GpuKernelSpec[] = [
  forward,
  scaleOnly,
  tokenPass("rmsnorm_backward_token", "g:p dout:p inp:p weight:p rstd:p C:u N:u"),
  tokenPass("rmsnorm_backward_token_ex", "g:p dout:p mask:b inp:p weight:p rstd:p C:u N:u"),
  backwardPass(
    "rmsnorm_backward",
    "dinp:p dweight:p dout:p inp:p weight:p rstd:p g:p C:u N:u",
    "false",
  ),
  backwardPass(
    "rmsnorm_backward_ex",
    "dinp:p dweight:p dout:p mask:b inp:p weight:p rstd:p g:p C:u N:u write:u",
    "a.write != 0u",
  ),
];
