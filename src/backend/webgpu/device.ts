/**
 * WebGPU device acquisition for the optional GPU path (docs/webgpu.md). Deno exposes
 * `navigator.gpu` headless; on a machine without a GPU, Mesa's lavapipe (a Vulkan driver on the
 * CPU, Debian's mesa-vulkan-drivers + libvulkan1) is a fallback adapter. No adapter at all is a
 * UserError: one line, exit 2.
 */
import { UserError } from "../../errors.ts";

/** What a run reports about the device it used (adapter info and the limits that matter here). */
export interface GpuInfo {
  description: string;
  vendor: string;
  architecture: string;
  fallback: boolean;
  features: string[];
  maxStorageBufferBindingSize: number;
  maxBufferSize: number;
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupsPerDimension: number;
  minUniformBufferOffsetAlignment: number;
  subgroupMinSize: number;
  subgroupMaxSize: number;
}

export interface GpuDevice {
  adapter: GPUAdapter;
  device: GPUDevice;
  info: GpuInfo;
}

/** The limits requested at the adapter's maximum (the defaults cap storage bindings at 128 MiB). */
const MAX_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
  "maxComputeWorkgroupSizeY",
  "maxComputeWorkgroupsPerDimension",
  "maxStorageBuffersPerShaderStage",
] as const;

/** Why WebGPU is unavailable here, or null when navigator.gpu exists. */
function missingApi(): string | null {
  // Typed loosely: a worker (the WebGPU backend's device thread) has a WorkerNavigator.
  const nav = globalThis.navigator as { gpu?: GPU } | undefined;
  return nav?.gpu ? null : "this runtime has no navigator.gpu";
}

/**
 * The adapter (high-performance preference) and a device with the adapter's maximum limits and
 * those of `features` the adapter has. Throws UserError when there is no WebGPU or no adapter.
 */
export async function requestGpu(features: GPUFeatureName[] = []): Promise<GpuDevice> {
  const missing = missingApi();
  if (missing) throw new UserError(`webgpu: ${missing}`);
  // Mesa's Vulkan loader probes Wayland and prints "XDG_RUNTIME_DIR is invalid" twice on stderr
  // when the variable is unset (headless machines, CI); a harmless value silences it.
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) Deno.env.set("XDG_RUNTIME_DIR", "/tmp");
  } catch {
    // Without --allow-env the probe's two lines stay; nothing else changes.
  }
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new UserError(
      "webgpu: no WebGPU adapter (no GPU driver; on Debian, apt-get install " +
        "mesa-vulkan-drivers libvulkan1 gives a CPU fallback)",
    );
  }
  const requiredLimits: Record<string, number> = {};
  const lim = adapter.limits as unknown as Record<string, number>;
  for (const name of MAX_LIMITS) {
    if (typeof lim[name] === "number") requiredLimits[name] = lim[name];
  }
  const device = await adapter.requestDevice({
    requiredLimits,
    requiredFeatures: features.filter((f) => adapter.features.has(f)),
  });
  const ai = adapter.info as GPUAdapterInfo & {
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
    isFallbackAdapter?: boolean;
  };
  const dl = device.limits;
  return {
    adapter,
    device,
    info: {
      description: ai.description || ai.device || "unknown",
      vendor: ai.vendor,
      architecture: ai.architecture,
      fallback: ai.isFallbackAdapter ?? false,
      features: [...adapter.features].sort(),
      maxStorageBufferBindingSize: dl.maxStorageBufferBindingSize,
      maxBufferSize: dl.maxBufferSize,
      maxComputeWorkgroupStorageSize: dl.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: dl.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupsPerDimension: dl.maxComputeWorkgroupsPerDimension,
      minUniformBufferOffsetAlignment: dl.minUniformBufferOffsetAlignment,
      subgroupMinSize: ai.subgroupMinSize ?? 0,
      subgroupMaxSize: ai.subgroupMaxSize ?? 0,
    },
  };
}

/**
 * Null when a WebGPU adapter exists, else the one-line reason (tests and benchmarks print it
 * and skip their WebGPU part).
 */
export async function gpuUnavailable(): Promise<string | null> {
  try {
    const g = await requestGpu();
    g.device.destroy();
    return null;
  } catch (e) {
    if (e instanceof UserError) return e.message;
    throw e;
  }
}

/** One line describing the device: adapter, fallback or not, binding and buffer limits. */
export function describeGpu(info: GpuInfo): string {
  const mib = (b: number) => `${Math.floor(b / 2 ** 20)} MiB`;
  return `${info.description}${info.fallback ? " (fallback adapter)" : ""}, storage binding ` +
    `${mib(info.maxStorageBufferBindingSize)}, buffer ${mib(info.maxBufferSize)}, workgroup ` +
    `memory ${info.maxComputeWorkgroupStorageSize} B`;
}
