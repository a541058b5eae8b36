// The WebAssembly compute core: every kernel module, exported flat.
export * from "./kernels/common";
export * from "./kernels/gemm";
export * from "./kernels/peak";
export * from "./kernels/attention";
export * from "./kernels/sparse";
export * from "./kernels/topk";
export * from "./kernels/residual";
export * from "./kernels/rmsnorm";
export * from "./kernels/ablate";
export * from "./kernels/abstopk";
export * from "./kernels/gelu";
export * from "./kernels/embedding";
export * from "./kernels/xent";
export * from "./kernels/adamw";
export * from "./kernels/reduce";
export * from "./kernels/random";
