/**
 * Adam (asm/kernels/adamw.ts): the scalars are rounded to f32 on the host exactly as the WASM
 * kernel rounds them (bias corrections from f64 powers), then each entry takes the kernel's f32
 * operations: the same bits where the device rounds like IEEE and the compiler keeps the order.
 * The dense step is elementwise; the CSR step runs one invocation per row over its entries.
 */
import type { GpuKernelSpec, KernelArgs } from "../wgsl.ts";
import { elementwise } from "./elementwise.ts";

const f = Math.fround;

/** b1, b2, 1 − b1, 1 − b2, 1/(1 − b1^t), 1/(1 − b2^t), lr, eps: as adam_step computes them. */
const hyper: GpuKernelSpec["derived"] = {
  decl: "b1:f b2:f omb1:f omb2:f ibc1:f ibc2:f lr32:f eps32:f",
  values: (a: KernelArgs) => [
    f(a.beta1),
    f(a.beta2),
    f(1 - a.beta1),
    f(1 - a.beta2),
    f(1 / (1 - Math.pow(a.beta1, a.t))),
    f(1 / (1 - Math.pow(a.beta2, a.t))),
    f(a.lr),
    f(a.eps),
  ],
};

/** Updates m, v and returns the new parameter value for gradient g at word offset o. */
const STEP = /* wgsl */ `
fn adam_at(o: u32, g: f32) -> f32 {
  let mi = a.b1 * ldf(a.m + o) + a.omb1 * g;
  let vi = a.b2 * ldf(a.v + o) + a.omb2 * (g * g);
  stf(a.m + o, mi);
  stf(a.v + o, vi);
  let den = sqrt(vi * a.ibc2) + a.eps32;
  return ldf(a.param + o) - a.lr32 * ((mi * a.ibc1) / den);
}
`;

export const ADAMW: GpuKernelSpec[] = [
  elementwise(
    "adam_step",
    "param:p grad:p m:p v:p n:u lr:x beta1:x beta2:x eps:x t:x",
    "stf(a.param + i, adam_at(i, ldf(a.grad + i)));",
    { derived: hyper, extra: STEP },
  ),
  elementwise(
    "adam_step_csr_f32",
    "rowPtr:p idx:p R:u K:u grad:p param:p m:p v:p lr:x beta1:x beta2:x eps:x t:x factor:f",
    `let row = i * a.K;
    for (var e = mem[a.rowPtr + i]; e < mem[a.rowPtr + i + 1u]; e++) {
      let o = row + mem[a.idx + e];
      stf(a.param + o, adam_at(o, ldf(a.grad + e)) * a.factor);
    }`,
    { count: "R", derived: hyper, extra: STEP },
  ),
];
