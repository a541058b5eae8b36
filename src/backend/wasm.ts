/**
 * Loading the kernel module. Browser-safe: only `fetch` and WebAssembly APIs.
 */

/** Layout of the pool's control block (Int32 slots, then f64 args). */
export const CTRL = { GEN: 0, DONE: 1, FN: 2, NARGS: 3, ERR: 4, INTS: 8, MAX_ARGS: 32 } as const;

/** Initial and maximum memory, in 64 KiB pages (must match asm/build.ts). */
export const MEMORY_PAGES = { initial: 64, maximum: 32768 } as const;

/** Where `deno task build` puts the module, relative to this file. */
export const DEFAULT_WASM_URL = new URL("../../build/thinwire.wasm", import.meta.url);

export async function compileKernels(
  source: URL | Uint8Array = DEFAULT_WASM_URL,
): Promise<WebAssembly.Module> {
  let bytes: Uint8Array;
  if (source instanceof Uint8Array) bytes = source;
  else {
    let res: Response;
    try {
      res = await fetch(source);
    } catch {
      throw new Error(`cannot load ${source.href}: run \`deno task build\` first`);
    }
    if (!res.ok) throw new Error(`cannot load ${source.href}: HTTP ${res.status}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  }
  return await WebAssembly.compile(bytes as BufferSource);
}

export function createMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ ...MEMORY_PAGES, shared: true });
}

export async function instantiateKernels(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
): Promise<WebAssembly.Exports> {
  const inst = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort(msg: number, file: number, line: number, col: number) {
        throw new Error(`wasm abort at ${line}:${col} (msg@${msg}, file@${file})`);
      },
    },
  });
  return inst.exports;
}
