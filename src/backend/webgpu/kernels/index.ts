/**
 * Every WGSL kernel, one spec per WASM kernel name (the GPU's side of Backend.run). Tests and the
 * WebGPU benchmark iterate over this table.
 */
import type { GpuKernelSpec } from "../wgsl.ts";
import { ABSTOPK } from "./abstopk.ts";
import { ELEMENTWISE } from "./elementwise.ts";
import { EMBEDDING } from "./embedding.ts";
import { GELU } from "./gelu.ts";
import { GEMM } from "./gemm.ts";
import { RMSNORM } from "./rmsnorm.ts";

export const GPU_KERNELS: GpuKernelSpec[] = [
  ...ELEMENTWISE,
  ...EMBEDDING,
  ...RMSNORM,
  ...ABSTOPK,
  ...GELU,
  ...GEMM,
];
