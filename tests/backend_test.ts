import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { withBackends } from "./util.ts";

Deno.test("backend dispatches a kernel on 1 and 2 threads", async () => {
  await withBackends([1, 2], (be) => {
    const t = be.arena.tensor([1001]);
    be.run("fill_f32", [t.ptr, 1001, 1.5]);
    assert.ok(be.arena.view(t).every((x) => x === 1.5));
  });
});

Deno.test("backend errors name the kernel", async () => {
  const be = await Backend.create();
  try {
    assert.throws(() => be.run("no_such_kernel", []), /no_such_kernel/);
    const t = be.arena.tensor([4]);
    be.arena.view(t).set([1, NaN, Infinity, 2]);
    assert.throws(() => be.checkFinite("gemm", "input A", t.ptr, 4), /gemm: input A has 2 NaN/);
    assert.throws(() => be.arena.tensor([1 << 30, 8]), /arena: out of memory/);
  } finally {
    be.close();
  }
});

Deno.test("arena: reset() cannot release memory kept by keep(); release() frees the last kept span", async () => {
  const be = await Backend.create();
  try {
    const a = be.arena;
    const mark = a.mark();
    a.tensor([100], "scratch");
    a.reset(mark);
    const spanStart = a.mark();
    a.tensor([256], "long-lived");
    a.keep();
    const spanEnd = a.used;
    assert.throws(() => a.reset(mark), /would release kept memory/);
    const inner = a.mark();
    a.tensor([8]);
    a.reset(inner);
    assert.equal(a.release(spanStart, spanEnd), true);
    assert.equal(a.used, spanStart);
    a.tensor([256]);
    a.keep();
    a.tensor([4]);
    assert.equal(a.release(spanStart, spanEnd), false, "something was allocated after the span");
  } finally {
    be.close();
  }
});
