/**
 * Loading the kernel module. Browser-safe: only `fetch` and WebAssembly APIs.
 */

/** Layout of the pool's control block (Int32 slots, then f64 args). */
export const CTRL = { GEN: 0, DONE: 1, FN: 2, NARGS: 3, ERR: 4, INTS: 8, MAX_ARGS: 32 } as const;

/** Initial and maximum memory, in 64 KiB pages (must match asm/build.ts). */
export const MEMORY_PAGES = { initial: 64, maximum: 32768 } as const;

/** Where `deno task build` puts the module, relative to this file. */
export const DEFAULT_WASM_URL = new URL("../../build/thinwire.wasm", import.meta.url);

/**
 * Compiles the kernels; `shared` false first rewrites the module's memory import as unshared
 * (the kernels use no atomics, so the same code runs single-threaded on a plain memory).
 */
export async function compileKernels(
  source: URL | Uint8Array = DEFAULT_WASM_URL,
  shared = true,
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
  if (!shared) bytes = unshareMemoryImport(bytes);
  return await WebAssembly.compile(bytes as BufferSource);
}

export function createMemory(shared = true): WebAssembly.Memory {
  return new WebAssembly.Memory({ ...MEMORY_PAGES, shared });
}

/**
 * A copy of a module whose imported memory is declared unshared: the limits flag of the memory
 * import (0x03, shared with a maximum) becomes 0x01; nothing else moves, as the flag is one byte.
 */
export function unshareMemoryImport(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  let p = 8;
  const leb = () => {
    let v = 0, shift = 0, b: number;
    do {
      b = out[p++];
      v += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while (b & 0x80);
    return v;
  };
  while (p < out.length) {
    const id = out[p++];
    const size = leb();
    const end = p + size;
    if (id !== 2) {
      p = end;
      continue;
    }
    const n = leb();
    for (let i = 0; i < n; i++) {
      // `p += leb()` would read p before leb() advances it.
      for (let name = 0; name < 2; name++) {
        const len = leb();
        p += len;
      }
      const kind = out[p++];
      if (kind === 0x02) {
        if (out[p] === 0x03) out[p] = 0x01;
        return out;
      }
      if (kind === 0x00) leb();
      else if (kind === 0x01) {
        p++;
        const flags = out[p++];
        leb();
        if (flags & 1) leb();
      } else if (kind === 0x03) p += 2;
      else break;
    }
    break;
  }
  throw new Error("kernel module: no shared memory import to rewrite");
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
