/** Every kernel wrapper, for callers that use many (the model, the trainer, the viewer). */
export * from "./abstopk.ts";
export * from "./adamw.ts";
export * from "./attention.ts";
export * from "./embedding.ts";
export * from "./gelu.ts";
export * from "./gemm.ts";
export * from "./random.ts";
export * from "./reduce.ts";
export * from "./residual.ts";
export * from "./rmsnorm.ts";
export * from "./sparse.ts";
export * from "./topk.ts";
export * from "./xent.ts";
export * from "./ablate.ts";
export * from "./prune.ts";
export * from "./gather.ts";
