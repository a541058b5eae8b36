// WASM SIMD peak: the f32x4 multiply-then-add rate a kernel could reach with no memory traffic.
//
// Twelve independent chains x = x·m + a (one f32x4 mul, then one add, per chain and step) keep
// both the multiply and the add units busy: twelve chains cover the mul+add latency on current
// x86 and ARM cores, and fit in the 15 vector registers V8 allocates on x86, with m and a (on
// this machine 10 chains fall short of the peak and 14 spill). Every step depends on the last,
// so nothing can be hoisted out of the loop. m and a come in as arguments: as constants they
// would be rematerialised inside the loop by V8. m = 1 - 2^-10 and a = 2^-10 (say) hold x near 1
// (no overflow, no denormals).

/**
 * Runs `steps` steps of 12 f32x4 chains (96 flops per step, counting mul and add) and writes a
 * sum of the chains to out[tid] so the work is not dead code. Every thread runs all steps.
 */
export function peak_f32x4_mul_add(
  steps: i32, mul: f32, add: f32, out: usize, tid: i32, nth: i32,
): void {
  const m = f32x4.splat(mul);
  const a = f32x4.splat(add);
  const t = <f32>tid;
  let x0 = f32x4.splat(t), x1 = f32x4.splat(t + 0.1), x2 = f32x4.splat(t + 0.2);
  let x3 = f32x4.splat(t + 0.3), x4 = f32x4.splat(t + 0.4), x5 = f32x4.splat(t + 0.5);
  let x6 = f32x4.splat(t + 0.6), x7 = f32x4.splat(t + 0.7), x8 = f32x4.splat(t + 0.8);
  let x9 = f32x4.splat(t + 0.9), x10 = f32x4.splat(t + 1.1), x11 = f32x4.splat(t + 1.2);
  for (let s = 0; s < steps; s++) {
    x0 = f32x4.add(f32x4.mul(x0, m), a);
    x1 = f32x4.add(f32x4.mul(x1, m), a);
    x2 = f32x4.add(f32x4.mul(x2, m), a);
    x3 = f32x4.add(f32x4.mul(x3, m), a);
    x4 = f32x4.add(f32x4.mul(x4, m), a);
    x5 = f32x4.add(f32x4.mul(x5, m), a);
    x6 = f32x4.add(f32x4.mul(x6, m), a);
    x7 = f32x4.add(f32x4.mul(x7, m), a);
    x8 = f32x4.add(f32x4.mul(x8, m), a);
    x9 = f32x4.add(f32x4.mul(x9, m), a);
    x10 = f32x4.add(f32x4.mul(x10, m), a);
    x11 = f32x4.add(f32x4.mul(x11, m), a);
  }
  const s0 = f32x4.add(f32x4.add(x0, x1), f32x4.add(x2, x3));
  const s1 = f32x4.add(f32x4.add(x4, x5), f32x4.add(x6, x7));
  const s2 = f32x4.add(f32x4.add(x8, x9), f32x4.add(x10, x11));
  v128.store(out + (<usize>tid << 4), f32x4.add(f32x4.add(s0, s1), s2));
}
