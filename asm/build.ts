/**
 * Compiles the AssemblyScript kernels (asm/index.ts) into build/thinwire.wasm.
 *
 * asc emits WebAssembly with SIMD (128-bit, non-relaxed) and shared memory for the worker threads;
 * binaryen's optimiser (the library behind `wasm-opt`) then runs -O3. Both steps are pure functions
 * of the source, so the same source gives the same bytes (tests/build_test.ts checks this).
 *
 * Usage: deno run -A asm/build.ts [--out DIR]
 */
import asc from "assemblyscript/asc";
import binaryen from "binaryen";
import { writeAtomic } from "../src/util/write_atomic.ts";

const here = new URL(".", import.meta.url);

/** Compiles and optimises the kernels, returning the final .wasm bytes. */
export async function buildWasm(): Promise<Uint8Array> {
  const entry = new URL("index.ts", here).pathname;
  let binary: Uint8Array | undefined;
  let log = "";
  const { error } = await asc.main(
    [
      entry,
      "--outFile",
      "thinwire.wasm",
      "--runtime",
      "stub",
      "--enable",
      "simd",
      "--enable",
      "threads",
      "--disable",
      "relaxed-simd",
      "--importMemory",
      "--sharedMemory",
      "--initialMemory",
      "64",
      "--maximumMemory",
      "32768",
      "--noAssert",
      "--optimizeLevel",
      "3",
      "--shrinkLevel",
      "0",
      "--converge",
    ],
    {
      writeFile(name: string, contents: Uint8Array | string) {
        if (name.endsWith(".wasm")) binary = contents as Uint8Array;
      },
      stdout: { write: (s: string) => (log += s, true) },
      stderr: { write: (s: string) => (log += s, true) },
    } as unknown as Parameters<typeof asc.main>[1],
  );
  if (error || !binary) throw new Error(`asc failed: ${error?.message ?? "no output"}\n${log}`);

  // wasm-opt pass over asc's output (binaryen.js is the same optimiser as the wasm-opt binary).
  const mod = binaryen.readBinary(binary);
  mod.setFeatures(
    binaryen.Features.MVP | binaryen.Features.SIMD128 | binaryen.Features.Atomics |
      binaryen.Features.MutableGlobals | binaryen.Features.BulkMemory |
      binaryen.Features.NontrappingFPToInt | binaryen.Features.SignExt,
  );
  binaryen.setOptimizeLevel(3);
  binaryen.setShrinkLevel(0);
  mod.optimize();
  if (!mod.validate()) throw new Error("binaryen: optimised module does not validate");
  const out = mod.emitBinary();
  mod.dispose();
  return out;
}

if (import.meta.main) {
  const i = Deno.args.indexOf("--out");
  const outDir = i >= 0 ? Deno.args[i + 1] : new URL("../build", here).pathname;
  const bytes = await buildWasm();
  await Deno.mkdir(outDir, { recursive: true });
  const path = `${outDir}/thinwire.wasm`;
  await writeAtomic(path, bytes);
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes as BufferSource));
  const hex = Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
  console.error(`built ${path} (${bytes.length} bytes, sha256 ${hex.slice(0, 16)})`);
}
