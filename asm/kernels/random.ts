// Counter-based Gaussian fill for weight initialisation: x[i] = std·z_i, where z_i depends only
// on (seed, stream, i), never on threads or on call order.
//
// Pair j = ⌊i/2⌋ hashes to 64 bits: key = mix(seed·2^32 + stream + φ), h = mix(key + (j+1)·φ)
// with mix the splitmix64 finaliser and φ = 0x9E3779B97F4A7C15. The halves give u1 ∈ (0,1)
// and u2 ∈ [0,1); Box–Muller turns them into z_2j = r·cos θ, z_2j+1 = r·sin θ with
// r = sqrt(−2 ln u1), θ = 2π·u2 (f64, AssemblyScript's Math, compiled into the module).
import { part_start_aligned } from "./common";

const PHI: u64 = 0x9E3779B97F4A7C15;

@inline function mix64(z: u64): u64 {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
  return z ^ (z >> 31);
}

/** x[i] = std · N(0,1) for i < n, drawn from (seed, stream, i) (seed and stream as u32). */
export function randn_fill(x: usize, n: i32, seed: i32, stream: i32, std: f64, tid: i32, nth: i32): void {
  const s = part_start_aligned(n, 2, tid, nth), e = part_start_aligned(n, 2, tid + 1, nth);
  const key = mix64(((<u64><u32>seed) << 32 | <u64><u32>stream) + PHI);
  for (let i = s; i < e; i += 2) {
    const h = mix64(key + (<u64>(i >> 1) + 1) * PHI);
    const u1 = (<f64>(h >> 32) + 0.5) * 2.3283064365386963e-10;
    const u2 = <f64>(h & 0xffffffff) * 2.3283064365386963e-10;
    const r = Math.sqrt(-2 * Math.log(u1)) * std;
    const th = 6.283185307179586 * u2;
    store<f32>(x + (<usize>i << 2), <f32>(r * Math.cos(th)));
    if (i + 1 < e) store<f32>(x + (<usize>i << 2), <f32>(r * Math.sin(th)), 4);
  }
}
