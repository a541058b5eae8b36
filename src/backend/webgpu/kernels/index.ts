/**
 * Every WGSL kernel, one spec per WASM kernel name it stands in for (the GPU's side of
 * Backend.run), plus the GPU-only kernels of src/backend/webgpu/ops.ts. Tests and the WebGPU
 * benchmark iterate over this table.
 */
import type { GpuKernelSpec } from "../wgsl.ts";
import { ABLATE } from "./ablate.ts";
import { ABSTOPK } from "./abstopk.ts";
import { ADAMW } from "./adamw.ts";
import { ATTENTION } from "./attention.ts";
import { ELEMENTWISE } from "./elementwise.ts";
import { EMBEDDING } from "./embedding.ts";
import { GELU } from "./gelu.ts";
import { GEMM } from "./gemm.ts";
import { REDUCE } from "./reduce.ts";
import { RMSNORM } from "./rmsnorm.ts";
import { SPARSE } from "./sparse.ts";
import { TOPK } from "./topk.ts";
import { XENT } from "./xent.ts";

export const GPU_KERNELS: GpuKernelSpec[] = [
  ...ELEMENTWISE,
  ...EMBEDDING,
  ...RMSNORM,
  ...ABSTOPK,
  ...GELU,
  ...GEMM,
  ...ATTENTION,
  ...XENT,
  ...ADAMW,
  ...REDUCE,
  ...ABLATE,
  ...TOPK,
  ...SPARSE,
];
