/**
 * Exact (erf) GELU, elementwise (asm/kernels/gelu.ts), with the WASM kernel's formulas in scalar
 * form: 1 + erf(x/√2) from musl's rational erff below a = |x|/√2 = 0.84375 and the fitted erfc
 * tail t·exp(−a² + P(t)) above (−a² carried as hi + lo), flushed to 0 from |x| = 9 on; gradients
 * whose result is subnormal become 0. Same constants and operation order as the WASM kernel.
 */
import { EXP, type GpuKernelSpec } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

const PHI = /* wgsl */ `${EXP}
const INV_SQRT2: f32 = 0.70710678118654752;
const INV_SQRT_2PI: f32 = 0.39894228040143268;
const AX_MAX: f32 = 9.0;
const FLT_MIN: f32 = 1.17549435e-38;

fn half_square_hi(ax: f32) -> f32 {
  let z = bitcast<f32>(bitcast<u32>(ax) & 0xffffe000u);
  return (-0.5 * z) * z;
}
fn half_square_lo(ax: f32) -> f32 {
  let z = bitcast<f32>(bitcast<u32>(ax) & 0xffffe000u);
  return (0.5 * (z - ax)) * (z + ax);
}
fn phi2_small(x: f32) -> f32 {
  let a = abs(x) * INV_SQRT2;
  let z = a * a;
  let r = 1.2837916613e-01 + z * (-3.2504209876e-01 + z * (-2.8481749818e-02 +
    z * (-5.7702702470e-03 + z * -2.3763017452e-05)));
  let s = 1.0 + z * (3.9791721106e-01 + z * (6.5022252500e-02 + z * (5.0813062117e-03 +
    z * (1.3249473704e-04 + z * -3.9602282413e-06))));
  let ay = a * (r / s);
  if (x >= 0.0) { return 1.0 + (a + ay); }
  if (bitcast<i32>(a) < 0x3e800000) { return 1.0 - (a + ay); }
  return 0.5 - ((a - 0.5) + ay);
}
fn phi2_tail(x: f32) -> f32 {
  let ax = abs(x);
  let axc = select(ax, AX_MAX, AX_MAX < ax);
  let t = 1.0 / (1.0 + 0.5 * (axc * INV_SQRT2));
  var p: f32 = -8.014082164e-02;
  p = 3.703292906e-01 + t * p;
  p = -4.774692059e-01 + t * p;
  p = -3.966340721e-01 + t * p;
  p = 1.689513683e+00 + t * p;
  p = -1.715363145e+00 + t * p;
  p = 7.568045855e-01 + t * p;
  p = -4.021582603e-01 + t * p;
  p = 1.550035626e-01 + t * p;
  p = 3.648358881e-01 + t * p;
  p = 1.000819087e+00 + t * p;
  p = -1.265540719e+00 + t * p;
  let tail = t * exp_hilo(half_square_hi(axc), half_square_lo(axc) + p);
  let erfc = select(tail, 0.0, ax >= AX_MAX);
  return select(2.0 - erfc, erfc, x < 0.0);
}
/** 1 + erf(x/√2); the range test on the bits of a, as musl's. */
fn phi2(x: f32) -> f32 {
  if (bitcast<i32>(abs(x) * INV_SQRT2) >= 0x3f580000) { return phi2_tail(x); }
  return phi2_small(x);
}
fn flush(v: f32) -> f32 { return select(v, 0.0, abs(v) < FLT_MIN); }
/** dinp's new value: base + d·gelu'(x) (flushed), phi = phi2(x). */
fn grad(base: f32, d: f32, x: f32, phi: f32) -> f32 {
  let axc = min(abs(x), AX_MAX);
  let pdf = select(exp_hilo(half_square_hi(axc), half_square_lo(axc)) * INV_SQRT_2PI, 0.0,
    abs(x) >= AX_MAX);
  let g = 0.5 * phi + x * pdf;
  return flush(base + d * g);
}
`;

/**
 * d = dout[i], masked as AbsTopK's backward leaves it when the kernel has a mask. The write
 * kernels give d = ±0 the +0 that 0 + d·gelu'(x) is for finite x, as the CPU's do.
 */
const MASKED_D =
  "var d = ldf(a.dout + i);\n    if (a.mask != 0u) { d = 0.0 + select(0.0, d, ldb(a.mask + i) != 0u); }";

export const GELU: GpuKernelSpec[] = [
  { name: "gelu_scratch_bytes", args: "", code: "", passes: [], result: () => 0 },
  elementwise(
    "gelu_forward",
    "out:p inp:p n:u scratch:x",
    "let x = ldf(a.inp + i); stf(a.out + i, (0.5 * x) * phi2(x));",
    { extra: PHI },
  ),
  elementwise(
    "gelu_forward_phi",
    "out:p phi:p inp:p n:u scratch:x",
    "let x = ldf(a.inp + i); let p = phi2(x); stf(a.out + i, (0.5 * x) * p); stf(a.phi + i, p);",
    { extra: PHI },
  ),
  elementwise(
    "gelu_backward",
    "dinp:p dout:p inp:p n:u scratch:x",
    "let x = ldf(a.inp + i); stf(a.dinp + i, grad(ldf(a.dinp + i), ldf(a.dout + i), x, phi2(x)));",
    { extra: PHI },
  ),
  elementwise(
    "gelu_backward_write",
    "dinp:p dout:p mask:b inp:p n:u scratch:x",
    `${MASKED_D}
    let x = ldf(a.inp + i); stf(a.dinp + i, select(grad(0.0, d, x, phi2(x)), 0.0, d == 0.0));`,
    { extra: PHI },
  ),
  elementwise(
    "gelu_backward_write_phi",
    "dinp:p dout:p mask:b inp:p phi:p n:u",
    `${MASKED_D}
    stf(a.dinp + i, select(grad(0.0, d, ldf(a.inp + i), ldf(a.phi + i)), 0.0, d == 0.0));`,
    { extra: PHI },
  ),
];
