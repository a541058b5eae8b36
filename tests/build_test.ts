/**
 * The kernel build (asm/build.ts): reproducible bytes, the stamp that lets every task skip the
 * compile, and the split that keeps the benchmark peers out of a new user's first install.
 */
import assert from "node:assert/strict";
import { buildPaths, buildWasm, ensureBuilt, isUpToDate, kernelInputsHash } from "../asm/build.ts";
import { sha256Hex } from "../src/util/sha256.ts";

const root = new URL("../", import.meta.url);
const buildDir = new URL("build", root).pathname;

Deno.test("wasm build is reproducible (same source, same bytes), and build/ holds it", async () => {
  const [a, b] = [await buildWasm(), await buildWasm()];
  assert.equal(await sha256Hex(a), await sha256Hex(b));
  const built = await Deno.readFile(buildPaths(buildDir).wasm);
  assert.equal(await sha256Hex(built), await sha256Hex(a), "build/ is stale: deno task build");
  assert.ok(await isUpToDate(buildDir, await kernelInputsHash()), "build/ stamp is stale");
});

Deno.test("an up-to-date build is silent and writes nothing; a changed module is out of date", async () => {
  const out = await Deno.makeTempDir({ prefix: "thinwire-build-" });
  try {
    const src = buildPaths(buildDir), dst = buildPaths(out);
    await Deno.copyFile(src.wasm, dst.wasm);
    await Deno.copyFile(src.stamp, dst.stamp);
    const before = (await Deno.stat(dst.wasm)).mtime;
    const r = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("asm/build.ts", root).pathname, "--out", out],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    assert.equal(r.code, 0, dec.decode(r.stderr));
    assert.equal(dec.decode(r.stdout) + dec.decode(r.stderr), "");
    assert.deepEqual((await Deno.stat(dst.wasm)).mtime, before);
    assert.deepEqual(await ensureBuilt(out), { built: false });

    const inputs = await kernelInputsHash();
    assert.ok(await isUpToDate(out, inputs));
    assert.ok(!(await isUpToDate(out, "0".repeat(64))), "other inputs");
    const bytes = await Deno.readFile(dst.wasm);
    bytes[bytes.length - 1] ^= 1;
    await Deno.writeFile(dst.wasm, bytes);
    assert.ok(!(await isUpToDate(out, inputs)), "a module that is not the one stamped");
    await Deno.remove(dst.stamp);
    assert.ok(!(await isUpToDate(out, inputs)), "no stamp");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("the inputs hash covers every file under asm/ and the compilers' pins", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "thinwire-build-inputs-" });
  try {
    await Deno.mkdir(`${tmp}/asm/kernels`, { recursive: true });
    for (const dir of ["asm", "asm/kernels"]) {
      for await (const e of Deno.readDir(new URL(dir, root))) {
        if (e.isFile) {
          await Deno.copyFile(new URL(`${dir}/${e.name}`, root), `${tmp}/${dir}/${e.name}`);
        }
      }
    }
    await Deno.copyFile(new URL("deno.json", root), `${tmp}/deno.json`);
    const asm = new URL(`file://${tmp}/asm/`), denoJson = new URL(`file://${tmp}/deno.json`);
    const hash = () => kernelInputsHash(asm, denoJson);
    const base = await hash();
    assert.equal(base, await kernelInputsHash(), "the hash depends on where the tree is");

    await Deno.writeTextFile(`${tmp}/asm/kernels/gelu.ts`, "\n", { append: true });
    const edited = await hash();
    assert.notEqual(edited, base, "a kernel's source");
    await Deno.writeTextFile(`${tmp}/asm/kernels/new.ts`, "");
    const added = await hash();
    assert.notEqual(added, edited, "a new file");

    const cfg = JSON.parse(await Deno.readTextFile(`${tmp}/deno.json`));
    cfg.imports.binaryen = "npm:binaryen@131.0.0";
    cfg.version = "9.9.9";
    await Deno.writeTextFile(`${tmp}/deno.json`, JSON.stringify(cfg));
    assert.notEqual(await hash(), added, "the binaryen pin");
    cfg.imports.binaryen = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)))
      .imports.binaryen;
    await Deno.writeTextFile(`${tmp}/deno.json`, JSON.stringify(cfg));
    assert.equal(await hash(), added, "deno.json fields other than the pins do not count");
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("the benchmark peers are pinned in bench/bench.json only, with deno.json's pins", async () => {
  const read = async (p: string) => JSON.parse(await Deno.readTextFile(new URL(p, root)));
  const main = await read("deno.json"), bench = await read("bench/bench.json");
  const peers = ["@tensorflow/tfjs-core", "@tensorflow/tfjs-backend-wasm", "onnxruntime-web"];
  for (const [k, v] of Object.entries(main.imports)) {
    assert.equal(bench.imports[k], v, `bench/bench.json pins ${k} differently`);
  }
  for (const p of peers) {
    assert.ok(bench.imports[p]?.startsWith(`npm:${p}@`), `bench/bench.json lacks ${p}`);
    assert.ok(!(p in main.imports), `deno.json must not pin ${p}`);
  }
  // Deno installs every package of the lockfile on a task's first run: no peer may be in it.
  const lock = await Deno.readTextFile(new URL("deno.lock", root));
  for (const p of peers) assert.ok(!lock.includes(p), `deno.lock holds ${p}`);
  const benchLock = await Deno.readTextFile(new URL("bench/bench.lock", root));
  for (const p of peers) assert.ok(benchLock.includes(`"npm:${p}@`), `bench/bench.lock lacks ${p}`);
});
