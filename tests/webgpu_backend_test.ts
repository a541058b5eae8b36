/**
 * The WebGPU backend's own mechanics (src/backend/webgpu/gpu_backend.ts): uploads and downloads
 * of ragged ranges, the device buffer growing under live data, more dispatches than one
 * submission holds, the arena's device limit and unknown kernels as KernelErrors.
 */
import assert from "node:assert/strict";
import * as ops from "../src/backend/ops/index.ts";
import { KernelError } from "../src/errors.ts";
import { randArray } from "./util.ts";
import { asBackend, gpuTest } from "./webgpu_util.ts";

await gpuTest("webgpu backend: memory, submissions, limits", async (t, g) => {
  const be = asBackend(g);

  await t.step(
    "a host write reaches the device only through upload; download brings it back",
    async () => {
      const mark = g.arena.mark();
      const x = g.arena.tensor([37]);
      const data = randArray(37, 1);
      g.arena.view(x).set(data);
      g.upload(x.ptr, 4 * 37);
      ops.scale(be, { x: x.ptr, n: 37, factor: 2 });
      g.arena.view(x).fill(0); // the host copy is stale until the download
      await g.download([x.ptr + 4, 4 * 35]); // a ragged range inside the tensor
      const got = g.arena.view(x);
      assert.equal(got[0], 0);
      for (let i = 1; i < 36; i++) assert.equal(got[i], Math.fround(2 * data[i]));
      assert.throws(() => g.upload(x.ptr + 2, 8), KernelError);
      g.arena.reset(mark);
    },
  );

  await t.step("the device buffer grows and keeps what it held", async () => {
    const mark = g.arena.mark();
    const x = g.arena.tensor([1000]);
    g.arena.view(x).set(randArray(1000, 2));
    g.upload(x.ptr, 4000);
    const big = g.arena.tensor([6 << 20]); // 24 MiB past the first buffer
    ops.fill(be, { x: big.ptr + 4 * ((6 << 20) - 8), n: 8, value: 3 });
    const kept = await g.readF32(x.ptr, 1000);
    assert.deepEqual(kept, randArray(1000, 2));
    assert.deepEqual([...(await g.readF32(big.ptr + 4 * ((6 << 20) - 8), 8))], Array(8).fill(3));
    g.arena.reset(mark);
  });

  await t.step("more dispatches than one submission holds run in order", async () => {
    const mark = g.arena.mark();
    const x = g.arena.tensor([4]);
    for (let i = 0; i < 5000; i++) ops.fill(be, { x: x.ptr, n: 4, value: i });
    assert.deepEqual([...(await g.readF32(x.ptr, 4))], [4999, 4999, 4999, 4999]);
    g.arena.reset(mark);
  });

  await t.step("past the device's binding limit, allocation is a KernelError", () => {
    assert.throws(
      () => g.arena.allocBytes(g.maxBytes, "too much"),
      (e: Error) => e instanceof KernelError && /this device binds/.test(e.message),
    );
  });

  await t.step("a kernel without a WebGPU form is a KernelError naming it", () => {
    assert.throws(() => g.run("peak_f32x4_mul_add", [0]), /peak_f32x4_mul_add: no WebGPU kernel/);
  });
});

Deno.test("webgpu: without an adapter, acquiring one is a one-line UserError (exit 2)", async () => {
  // Deno's WebGPU with only a backend this machine lacks (DirectX 12) finds no adapter.
  const code = `
    import { requestGpu } from ${
    JSON.stringify(new URL("../src/backend/webgpu/device.ts", import.meta.url).href)
  };
    try { await requestGpu(); console.log("adapter"); }
    catch (e) { console.log(JSON.stringify({ name: e.name, code: e.exitCode, message: e.message })); }`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", code],
    env: { DENO_WEBGPU_BACKEND: "dx12" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (Deno.build.os === "windows") return; // DirectX 12 may exist there
  const e = JSON.parse(text);
  assert.equal(e.name, "UserError");
  assert.equal(e.code, 2);
  assert.match(e.message, /^webgpu: no WebGPU adapter \(/);
  assert.ok(!e.message.includes("\n"));
});
