// The WebAssembly compute core: every kernel module, exported flat.
export * from "./kernels/common";
export * from "./kernels/gemm";
export * from "./kernels/peak";
export * from "./kernels/attention";
export * from "./kernels/sparse";
export * from "./kernels/topk";
