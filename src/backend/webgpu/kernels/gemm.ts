/**
 * Dense f32 GEMM (asm/kernels/gemm.ts): C[M,N] (+)= op(A)·op(B) + bias[M], row-major, with the
 * WASM kernel's one summation order per element (acc = its initial value, then acc + A·B for
 * k = 0..K−1, a multiply then an add), so a device without FMA contraction gives the same bits.
 * Register-tiled: a workgroup of 16×16 invocations owns a 64×64 tile of C, each invocation 4×4
 * elements (rows and columns 16 apart), with 16-step slices of op(A) and op(B) staged in
 * workgroup memory. The bias gradient sums each channel in the WASM kernel's four-lane order.
 */
import type { GpuKernelSpec } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

const TILE = 64;
const KS = 16;

const CODE = /* wgsl */ `
var<workgroup> As: array<f32, ${KS * TILE}>;
var<workgroup> Bs: array<f32, ${KS * TILE}>;

fn a_at(i: u32, k: u32) -> f32 {
  if (a.transA != 0u) { return ldf(a.A + k * a.M + i); }
  return ldf(a.A + i * a.K + k);
}
fn b_at(k: u32, j: u32) -> f32 {
  if (a.transB != 0u) { return ldf(a.B + j * a.K + k); }
  return ldf(a.B + k * a.N + j);
}

@compute @workgroup_size(16, 16)
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u,
        @builtin(local_invocation_index) li: u32) {
  let m0 = wid.y * ${TILE}u;
  let n0 = wid.x * ${TILE}u;
  var acc: array<array<f32, 4>, 4>;
  for (var r = 0u; r < 4u; r++) {
    let i = m0 + lid.y + 16u * r;
    for (var c = 0u; c < 4u; c++) {
      let j = n0 + lid.x + 16u * c;
      var v = 0.0;
      if (i < a.M && j < a.N) {
        if (a.accumulate != 0u) {
          v = ldf(a.Cm + i * a.N + j);
          if (a.bias != 0u) { v = v + ldf(a.bias + i); }
        } else if (a.bias != 0u) {
          v = ldf(a.bias + i);
        }
      }
      acc[r][c] = v;
    }
  }
  for (var k0 = 0u; k0 < a.K; k0 += ${KS}u) {
    let kc = min(${KS}u, a.K - k0);
    // Neighbouring invocations read neighbouring addresses: along k when the operand is stored
    // k-contiguous (A plain, B transposed), along m or n otherwise.
    for (var q = 0u; q < ${(KS * TILE) / 256}u; q++) {
      let e = li + 256u * q;
      let ka = select(e % ${KS}u, e / ${TILE}u, a.transA != 0u);
      let xa = select(e / ${KS}u, e % ${TILE}u, a.transA != 0u);
      As[ka * ${TILE}u + xa] = select(0.0, a_at(m0 + xa, k0 + ka), m0 + xa < a.M && ka < kc);
      let kb = select(e / ${TILE}u, e % ${KS}u, a.transB != 0u);
      let xb = select(e % ${TILE}u, e / ${KS}u, a.transB != 0u);
      Bs[kb * ${TILE}u + xb] = select(0.0, b_at(k0 + kb, n0 + xb), n0 + xb < a.N && kb < kc);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < kc; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var r = 0u; r < 4u; r++) { av[r] = As[kk * ${TILE}u + lid.y + 16u * r]; }
      for (var c = 0u; c < 4u; c++) { bv[c] = Bs[kk * ${TILE}u + lid.x + 16u * c]; }
      for (var r = 0u; r < 4u; r++) {
        for (var c = 0u; c < 4u; c++) { acc[r][c] = acc[r][c] + av[r] * bv[c]; }
      }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let i = m0 + lid.y + 16u * r;
    for (var c = 0u; c < 4u; c++) {
      let j = n0 + lid.x + 16u * c;
      if (i < a.M && j < a.N) { stf(a.Cm + i * a.N + j, acc[r][c]); }
    }
  }
}
`;

function gemm(name: string): GpuKernelSpec {
  return {
    name,
    args: "M:u N:u K:u A:p transA:u B:p transB:u Cm:p bias:p accumulate:u scratch:x",
    code: CODE,
    passes: [{
      entry: "main",
      grid: (a) => [Math.ceil(a.N / TILE), Math.ceil(a.M / TILE)],
    }],
    skip: (a) => a.M === 0 || a.N === 0,
  };
}

export const GEMM: GpuKernelSpec[] = [
  { name: "gemm_f32_scratch_bytes", args: "", code: "", passes: [], result: () => 0 },
  gemm("gemm_f32_4x8_loadsplat"),
  gemm("gemm_f32_4x8_mixsplat"),
  gemm("gemm_f32_6x8_mixsplat"),
  elementwise(
    "bias_backward_f32",
    "dbias:p dout:p C:u N:u",
    `let N4 = a.N & ~3u;
    var l = vec4f(0.0);
    for (var n = 0u; n < N4; n += 4u) {
      for (var j = 0u; j < 4u; j++) { l[j] = l[j] + ldf(a.dout + i * a.N + n + j); }
    }
    var s = (l.x + l.y) + (l.z + l.w);
    for (var n = N4; n < a.N; n++) { s = s + ldf(a.dout + i * a.N + n); }
    stf(a.dbias + i, ldf(a.dbias + i) + s);`,
    { count: "C" },
  ),
];
