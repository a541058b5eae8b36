/**
 * The backend a command computes on (`--backend cpu|webgpu`): the CPU's WebAssembly backend, or
 * the WebGPU one (src/backend/webgpu/webgpu_backend.ts), which needs a WebGPU adapter: without
 * one, creating it is a one-line UserError (exit 2). Deno only; the browser viewer creates its
 * CPU backend itself (src/run/open.ts).
 */
import { Backend, type BackendKind, type BackendOptions, type ComputeBackend } from "./backend.ts";
import { WebGpuBackend } from "./webgpu/webgpu_backend.ts";

/** The CPU backend's options, and which backend (default "cpu"). */
export interface ComputeOptions extends BackendOptions {
  backend?: BackendKind;
}

/** The backends `--backend` names. */
export const BACKEND_KINDS: readonly BackendKind[] = ["cpu", "webgpu"];

export async function createBackend(opts: ComputeOptions = {}): Promise<ComputeBackend> {
  const { backend = "cpu", ...cpu } = opts;
  return backend === "webgpu" ? await WebGpuBackend.create() : await Backend.create(cpu);
}

/** True for a backend, false for the options of one (what openRun and loadRun accept). */
export function isBackend(b: ComputeBackend | BackendOptions): b is ComputeBackend {
  return typeof (b as ComputeBackend).run === "function";
}

/** What a command's last line says it ran on: "2 thread(s)", or the WebGPU adapter. */
export function backendLabel(be: ComputeBackend): string {
  if (be instanceof WebGpuBackend) {
    return `WebGPU (${be.info.description}${be.info.fallback ? ", a fallback adapter" : ""})`;
  }
  return `${be.threads} thread(s)`;
}
