// Column gathers and scatters of feature-major [C, N] activations: the model computes logits only
// at the token positions a loss reads (a pair loss reads one position per prompt), so the final
// norm's output is gathered to [C, R] before lm_head and its gradient scattered back. Threads
// split channels; copies and single adds, so results do not depend on the split.
import { part_start } from "./common";

/** out[c, r] = inp[c, idx[r]] for c < C, r < R (inp [C, N], out [C, R], idx i32 [R]). */
export function gather_cols_f32(out: usize, inp: usize, idx: usize, C: i32, N: i32, R: i32, tid: i32, nth: i32): void {
  const cs = part_start(C, tid, nth), ce = part_start(C, tid + 1, nth);
  for (let c = cs; c < ce; c++) {
    const src = inp + ((<usize>c * <usize>N) << 2), dst = out + ((<usize>c * <usize>R) << 2);
    for (let r = 0; r < R; r++) {
      store<f32>(dst + (<usize>r << 2), load<f32>(src + (<usize>load<i32>(idx + (<usize>r << 2)) << 2)));
    }
  }
}

/** out[c, idx[r]] += inp[c, r] for c < C, r in order (out [C, N], inp [C, R]). */
export function scatter_add_cols_f32(out: usize, inp: usize, idx: usize, C: i32, N: i32, R: i32, tid: i32, nth: i32): void {
  const cs = part_start(C, tid, nth), ce = part_start(C, tid + 1, nth);
  for (let c = cs; c < ce; c++) {
    const dst = out + ((<usize>c * <usize>N) << 2), src = inp + ((<usize>c * <usize>R) << 2);
    for (let r = 0; r < R; r++) {
      const p = dst + (<usize>load<i32>(idx + (<usize>r << 2)) << 2);
      store<f32>(p, load<f32>(p) + load<f32>(src + (<usize>r << 2)));
    }
  }
}
