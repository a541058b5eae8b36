/**
 * Compiles the AssemblyScript kernels (asm/index.ts) into build/thinwire.wasm, when they changed.
 *
 * asc emits WebAssembly with SIMD (128-bit, non-relaxed) and shared memory for the worker threads;
 * binaryen's optimiser (the library behind `wasm-opt`) then runs -O3. Both steps are pure functions
 * of the source, so the same source gives the same bytes (tests/build_test.ts checks this). That is
 * what lets every task skip the compile (about 12 s of CPU): build/thinwire.stamp.json records a
 * hash of everything the bytes depend on (every file under asm/, this script's options included,
 * and the compilers' pins in deno.json) and the hash of the module written from them. While both
 * still match, this script prints nothing and exits.
 *
 * Usage: deno run -A asm/build.ts [--out DIR] [--force]
 */
import { exitOnUserError, parseFlags } from "../src/cli_flags.ts";
import { sha256Hex } from "../src/util/sha256.ts";
import { writeAtomic } from "../src/util/write_atomic.ts";
import { gemmMicroKernels, GENERATED_GEMM_PATH } from "./gen_gemm.ts";

const here = new URL(".", import.meta.url);

/** Compiles and optimises the kernels, returning the final .wasm bytes. */
export async function buildWasm(): Promise<Uint8Array> {
  // Loaded here, not at the top: asc and binaryen.js take about half a second each to load, which
  // the up-to-date check must not pay.
  const [{ default: asc }, { default: binaryen }] = await Promise.all([
    import("assemblyscript/asc"),
    import("binaryen"),
  ]);
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
      // The generated micro-kernels exist only here; every other file is read from disk.
      readFile(name: string, baseDir: string) {
        const path = `${baseDir}/${name}`.replace(/^\.\//, "");
        if (path.endsWith(`asm/${GENERATED_GEMM_PATH}`)) return gemmMicroKernels();
        try {
          return Deno.readTextFileSync(path);
        } catch {
          return null;
        }
      },
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

/** The import-map keys whose pins decide the compilers' versions (asc pins its own binaryen). */
const COMPILER_IMPORTS = ["assemblyscript", "assemblyscript/asc", "binaryen"] as const;

/**
 * SHA-256 (hex) over every file under `asmDir` (relative path and content, sorted by path) and the
 * compiler pins of `denoJson`'s import map: what the module's bytes are a function of.
 */
export async function kernelInputsHash(
  asmDir: URL = here,
  denoJson: URL = new URL("../deno.json", here),
): Promise<string> {
  const files: string[] = [];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(new URL(rel || ".", asmDir))) {
      const p = rel + e.name;
      if (e.isDirectory) await walk(p + "/");
      else files.push(p);
    }
  };
  await walk("");
  files.sort();
  const lines: string[] = [];
  for (const f of files) {
    lines.push(`${f}\t${await sha256Hex(await Deno.readFile(new URL(f, asmDir)))}`);
  }
  const imports = JSON.parse(await Deno.readTextFile(denoJson)).imports ?? {};
  for (const k of COMPILER_IMPORTS) {
    if (typeof imports[k] !== "string") throw new Error(`${denoJson.pathname}: no import '${k}'`);
    lines.push(`import ${k}\t${imports[k]}`);
  }
  return await sha256Hex(lines.join("\n"));
}

/** What build/thinwire.stamp.json holds: the inputs hash and the hash of the module built. */
export interface BuildStamp {
  inputs: string;
  wasm: string;
}

/** The module's and the stamp's paths in `outDir`. */
export function buildPaths(outDir: string): { wasm: string; stamp: string } {
  return { wasm: `${outDir}/thinwire.wasm`, stamp: `${outDir}/thinwire.stamp.json` };
}

/** True when `outDir` holds a module stamped with `inputs` and its bytes still match the stamp. */
export async function isUpToDate(outDir: string, inputs: string): Promise<boolean> {
  const paths = buildPaths(outDir);
  let stamp: BuildStamp, wasm: Uint8Array;
  try {
    stamp = JSON.parse(await Deno.readTextFile(paths.stamp));
    wasm = await Deno.readFile(paths.wasm);
  } catch {
    return false;
  }
  return stamp?.inputs === inputs && stamp.wasm === await sha256Hex(wasm);
}

/**
 * Builds into `outDir` unless it is up to date (or `force`); returns whether it built. The module
 * is written before its stamp, so a build killed in between leaves a stale stamp: the next run
 * builds again.
 */
export async function ensureBuilt(
  outDir: string,
  opts: { force?: boolean; onBuild?: () => void } = {},
): Promise<
  { built: false } | { built: true; bytes: number; sha256: string }
> {
  const inputs = await kernelInputsHash();
  if (!opts.force && await isUpToDate(outDir, inputs)) return { built: false };
  opts.onBuild?.();
  const bytes = await buildWasm();
  const paths = buildPaths(outDir);
  await Deno.mkdir(outDir, { recursive: true });
  await writeAtomic(paths.wasm, bytes);
  const stamp: BuildStamp = { inputs, wasm: await sha256Hex(bytes) };
  await writeAtomic(paths.stamp, JSON.stringify(stamp, null, 2) + "\n");
  return { built: true, bytes: bytes.length, sha256: stamp.wasm };
}

if (import.meta.main) {
  try {
    const { values } = parseFlags("build", {
      args: Deno.args,
      strict: true,
      options: { out: { type: "string" }, force: { type: "boolean" }, help: { type: "boolean" } },
    });
    if (values.help) {
      console.log(
        "usage: deno task build [--out DIR] [--force]\n\n" +
          "Compiles asm/ into DIR/thinwire.wasm (default build/) unless DIR/thinwire.stamp.json\n" +
          "shows it was built from the same sources and compilers; --force builds anyway.",
      );
      Deno.exit(0);
    }
    const outDir = values.out ?? new URL("../build", here).pathname;
    const r = await ensureBuilt(outDir, {
      force: values.force,
      onBuild: () => console.error("compiling the kernels (asm/ or the compilers changed)…"),
    });
    if (r.built) {
      console.error(
        `built ${buildPaths(outDir).wasm} (${r.bytes} bytes, sha256 ${r.sha256.slice(0, 16)})`,
      );
    }
  } catch (e) {
    exitOnUserError(e);
  }
}
