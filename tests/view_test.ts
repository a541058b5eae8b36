/// <reference lib="dom" />
/**
 * The viewer: its server's security (loopback, known files only, no traversal or symlinks out),
 * its command's errors, and the page in a real browser (Debian's Chromium driven by
 * playwright-core): served with cross-origin isolation and exported as one file opened from
 * file://, on a tiny run with a circuit (tests/view_fixture.ts). The page's loss after ablating a
 * node is checked against the same ablation computed here with the CLI's modules.
 *
 * Where /usr/bin/chromium is missing the browser tests are skipped with one line saying so.
 */
import assert from "node:assert/strict";
import { Backend } from "../src/backend/backend.ts";
import { UserError } from "../src/errors.ts";
import { PairScorer, type PromptItem } from "../src/eval/task_eval.ts";
import { type Circuit, parseCircuitText } from "../src/run/circuit.ts";
import { loadRun, readMeans } from "../src/run/run_dir.ts";
import { startView, type ViewHandle } from "../src/view/cli_view.ts";
import { exportHtml } from "../src/view/export_html.ts";
import { makePairs, TASKS } from "../tasks/index.ts";
import { FIXTURE_TASK, makeViewRun } from "./view_fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) {
  console.log(
    `view_test: browser tests skipped: ${CHROMIUM} not found (apt-get install -y chromium)`,
  );
}
const WASM = await Deno.readFile(new URL("../build/thinwire.wasm", import.meta.url));

let fixture: Promise<{ dir: string; circuit: Circuit }> | null = null;
/** One trained tiny run with a circuit, shared by the tests of this file. */
function run() {
  fixture ??= makeViewRun(WASM);
  return fixture;
}

/** The task loss (calibrated as the page does) with only `kept` nodes, via the CLI's modules. */
async function expectedLoss(dir: string, c: Circuit, kept: string[]): Promise<number> {
  const be = await Backend.create({ wasm: WASM });
  const r = await loadRun(dir, { be });
  try {
    const m = r.model;
    const scorer = new PairScorer(
      m,
      r.tokenizer,
      2 * c.pairs.eval_pairs,
      r.rc.train.batchSize * r.rc.model.nCtx,
    );
    const total = m.nodes.total;
    const mask = be.arena.tensor([total]).ptr, mean = be.arena.tensor([total]).ptr;
    const means = await readMeans(r.run, total, r.weightsSha256);
    assert.ok(means, "the fixture has node means");
    be.arena.f32(mean, total).set(means.mean);
    const mv = be.arena.f32(mask, total);
    for (const id of kept) {
      const [l, a, b, i] = id.split(".");
      const loc = `${a}.${b}` as keyof (typeof m.nodes.offsets)[0];
      mv[m.nodes.offsets[Number(l)][loc] + Number(i)] = 1;
    }
    m.setAblation({ mask, mean, dmask: 0 });
    const task = TASKS.find((t) => t.name === c.task)!;
    const items: PromptItem[] = [];
    for (const p of makePairs(task, c.pairs.eval_seed, c.pairs.eval_pairs)) {
      const ids = p.answers.map((x) => r.tokenizer.singleToken(x)!);
      for (const k of [0, 1]) {
        items.push({
          tokens: r.tokenizer.encode(p.prompts[k]),
          correct: ids[k],
          wrong: ids[1 - k],
        });
      }
    }
    const s = scorer.score(items);
    let loss = 0;
    for (let i = 0; i < items.length; i++) {
      const lab = i % 2 === 0 ? s.correct[i] - s.wrong[i] : s.wrong[i] - s.correct[i];
      const z = c.calibration.scale * lab + c.calibration.shift;
      const margin = i % 2 === 0 ? z : -z;
      loss += margin > 30 ? 0 : Math.log1p(Math.exp(-margin));
    }
    return loss / items.length;
  } finally {
    r.close();
    be.close();
  }
}

/** Sends one raw HTTP request (paths exactly as written, no client-side normalisation). */
async function rawGet(port: number, path: string, host = `127.0.0.1:${port}`): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await conn.write(
      new TextEncoder().encode(
        `GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      ),
    );
    let text = "";
    const buf = new Uint8Array(4096);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      text += new TextDecoder().decode(buf.subarray(0, n));
      if (text.includes("\r\n")) break;
    }
    return Number(/^HTTP\/1\.1 (\d+)/.exec(text)?.[1] ?? 0);
  } finally {
    conn.close();
  }
}

async function copyRun(dir: string): Promise<string> {
  const out = await Deno.makeTempDir({ prefix: "thinwire-view-bad-" });
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile) await Deno.copyFile(`${dir}/${e.name}`, `${out}/${e.name}`);
  }
  await Deno.mkdir(`${out}/circuits`);
  await Deno.copyFile(
    `${dir}/circuits/${FIXTURE_TASK}.json`,
    `${out}/circuits/${FIXTURE_TASK}.json`,
  );
  return out;
}

Deno.test("view server: loopback, known files only, no traversal or symlinks out", async () => {
  const { dir } = await run();
  const bad = await copyRun(dir);
  const secret = await Deno.makeTempFile({ prefix: "thinwire-secret-", suffix: ".json" });
  await Deno.writeTextFile(secret, '{"secret": true}');
  await Deno.remove(`${bad}/circuits/${FIXTURE_TASK}.json`);
  await Deno.symlink(secret, `${bad}/circuits/${FIXTURE_TASK}.json`);
  const logs: string[] = [];
  const v = await startView({ model: bad, task: null, port: 0 }, (l) => logs.push(l));
  try {
    const port = Number(new URL(v.url).port);
    assert.equal(new URL(v.url).hostname, "127.0.0.1");
    const res = await fetch(v.url);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("cross-origin-opener-policy"), "same-origin");
    assert.equal(res.headers.get("cross-origin-embedder-policy"), "require-corp");
    assert.match(res.headers.get("content-security-policy") ?? "", /default-src 'self'/);
    await res.body?.cancel();
    for (const ok of ["/run/config.json", "/run/model.safetensors", "/assets/app.js"]) {
      assert.equal(await rawGet(port, ok), 200, ok);
    }
    for (
      const path of [
        "/run/../config.json",
        "/run/%2e%2e/%2e%2e/etc/passwd",
        "/run/..%2fconfig.json",
        "/run/circuits/..%2f..%2fdeno.json",
        "/assets/../../deno.json",
        "/assets/%2e%2e%2fbundle.ts",
        "/run/state/checkpoint.safetensors",
        "/run/circuits/not_a_task.json",
        "/etc/passwd",
        "//etc/passwd",
        `/run/circuits/${FIXTURE_TASK}.json`, // a symlink to a file outside the run folder
      ]
    ) {
      assert.equal(await rawGet(port, path), 404, path);
    }
    assert.equal(await rawGet(port, "/", `evil.example:${port}`), 403, "foreign Host header");
  } finally {
    await v.close();
    await Deno.remove(bad, { recursive: true });
    await Deno.remove(secret);
  }
});

Deno.test("view command: one-line errors for a bad folder, port or task", async () => {
  const { dir } = await run();
  const log = () => {};
  await assert.rejects(
    () => startView({ model: "/nonexistent/run", task: null, port: 0 }, log),
    (e: Error) => e instanceof UserError && /no such run folder/.test(e.message),
  );
  await assert.rejects(
    () => startView({ model: dir, task: "no_such_task", port: 0 }, log),
    (e: Error) => e instanceof UserError && /unknown task/.test(e.message),
  );
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../cli.ts", import.meta.url).pathname,
      "view",
      "--model",
      dir,
      "--port",
      "x",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 2);
  assert.equal(new TextDecoder().decode(out.stderr).trim().split("\n").length, 1);
  await assert.rejects(
    () => exportHtml({ model: dir, task: "with_as", out: `${dir}/x.html` }),
    (e: Error) =>
      e instanceof UserError && /deno task prune --model .* --task with_as/.test(e.message),
  );
});

const LAUNCH_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

Deno.test({
  name: "view page in Chromium: graph, node panel, live ablation, URL state, export from file://",
  ignore: !hasChromium,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const { chromium } = await import("playwright-core");
    const { dir, circuit } = await run();
    const shots = await Deno.makeTempDir({ prefix: "thinwire-view-shots-" });
    console.log(`view_test: screenshots in ${shots}`);
    const profile = await Deno.makeTempDir({ prefix: "thinwire-chromium-" });
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: LAUNCH_ARGS,
      viewport: { width: 1280, height: 800 },
      acceptDownloads: true,
    });
    const logs: string[] = [];
    let view: ViewHandle | null = null;
    const pageErrors: string[] = [];
    try {
      view = await startView({ model: dir, task: FIXTURE_TASK, port: 0 }, (l) => logs.push(l));
      const page = await browser.newPage();
      page.on("pageerror", (e) => pageErrors.push(e.message));
      const ids = circuit.nodes.map((n) => n.id);
      const target = circuit.nodes.reduce((a, b) =>
        Math.abs(b.delta) > Math.abs(a.delta) ? b : a
      ).id;
      const liveLoss = async (kept: number) => {
        await page.waitForFunction(
          (k) => document.getElementById("live-kept")?.textContent === `(${k} kept)`,
          kept,
          { timeout: 30000 },
        );
        return await page.locator("#live-loss").textContent();
      };

      await t.step("served page: isolated, graph has the circuit's nodes", async () => {
        await page.goto(view!.url);
        await page.waitForSelector("[data-node-id]", { timeout: 60000 });
        assert.equal(await page.evaluate(() => crossOriginIsolated), true);
        assert.equal(await page.locator("#graph [data-node-id]").count(), circuit.nodes.length);
        const drawn = await page.$$eval("#graph [data-node-id]", (els) =>
          els.map((e) => e.getAttribute("data-node-id")));
        assert.deepEqual(new Set(drawn), new Set(ids));
        assert.match(await page.locator("#threads").textContent() ?? "", /cross-origin isolated/);
        const full = await liveLoss(ids.length);
        assert.equal(full, (await expectedLoss(dir, circuit, ids)).toFixed(4));
        await page.screenshot({ path: `${shots}/served.png` });
      });

      await t.step(
        "clicking a node opens its panel: edges, task activations, snippets",
        async () => {
          await page.locator(`#graph [data-node-id="${target}"]`).click();
          await page.waitForSelector("#node-snippets .snippet", { timeout: 60000 });
          assert.equal(await page.locator("#node-head h2").textContent(), target);
          const text = await page.locator("#panel-node").textContent() ?? "";
          assert.match(text, /Incoming \(\d+\)/);
          assert.match(text, /Outgoing \(\d+\)/);
          assert.ok(await page.locator("#node-task .heat").count() >= 3);
          await page.screenshot({ path: `${shots}/node.png` });
        },
      );

      await t.step(
        "ablating it re-runs the model: the page's loss equals the CLI modules'",
        async () => {
          await page.locator("#toggle-node").click();
          const shown = await liveLoss(ids.length - 1);
          const expected = await expectedLoss(
            dir,
            circuit,
            ids.filter((x) =>
              x !== target
            ),
          );
          assert.equal(shown, expected.toFixed(4));
          assert.match(page.url(), new RegExp(`ablate=${target.replace(/\./g, "\\.")}`));
          await page.screenshot({ path: `${shots}/ablated.png` });
        },
      );

      await t.step("toggle latency (reported, not asserted)", async () => {
        const node = circuit.nodes[0].id;
        for (let i = 0; i < 6; i++) {
          await page.locator(`#graph [data-node-id="${node}"]`).focus();
          await page.keyboard.press("x");
          await liveLoss(i % 2 === 0 ? ids.length - 2 : ids.length - 1);
        }
        const ms = await page.evaluate(() =>
          (globalThis as unknown as { __thinwire: { timings: { total: number }[] } }).__thinwire
            .timings.map((x) => x.total)
        );
        console.log(
          `view_test: tiny-model toggle → screen: ${ms.map((x) => x.toFixed(0)).join(", ")} ms`,
        );
      });

      await t.step("the URL restores the state in a new page", async () => {
        const url = page.url();
        const p2 = await browser.newPage();
        await p2.goto(url);
        await p2.waitForFunction(
          (k) => document.getElementById("live-kept")?.textContent === `(${k} kept)`,
          ids.length - 1,
          { timeout: 60000 },
        );
        assert.match(
          await p2.locator(`#graph [data-node-id="${target}"]`).getAttribute("class") ?? "",
          /ablated/,
        );
        await p2.close();
      });

      await t.step("download the kept nodes as a valid circuit file", async () => {
        await page.locator("#tab-intervene").click();
        const [dl] = await Promise.all([
          page.waitForEvent("download", { timeout: 60000 }),
          page.locator("#download-kept").click(),
        ]);
        const path = `${shots}/downloaded.json`;
        await dl.saveAs(path);
        const c = parseCircuitText(await Deno.readTextFile(path), path);
        assert.equal(c.nodes.length, ids.length - 1);
        assert.ok(!c.nodes.some((n) => n.id === target));
      });

      await t.step("exported HTML from file://: same graph, one thread, same loss", async () => {
        const out = `${shots}/circuit.html`;
        await exportHtml({ model: dir, task: FIXTURE_TASK, out });
        const p3 = await browser.newPage();
        p3.on("pageerror", (e) => pageErrors.push(e.message));
        await p3.goto(`file://${out}`);
        await p3.waitForSelector("[data-node-id]", { timeout: 60000 });
        assert.equal(await p3.evaluate(() => crossOriginIsolated), false);
        assert.equal(await p3.locator("#graph [data-node-id]").count(), circuit.nodes.length);
        assert.match(await p3.locator("#threads").textContent() ?? "", /^1 thread .*not isolated/);
        await p3.waitForFunction(
          (k) => document.getElementById("live-kept")?.textContent === `(${k} kept)`,
          ids.length,
          { timeout: 60000 },
        );
        assert.equal(
          await p3.locator("#live-loss").textContent(),
          (await expectedLoss(dir, circuit, ids)).toFixed(4),
        );
        await p3.screenshot({ path: `${shots}/exported.png` });
        await p3.close();
      });

      await t.step("damaged files: a clear error in the page and on stderr", async () => {
        const bad = await copyRun(dir);
        const cpath = `${bad}/circuits/${FIXTURE_TASK}.json`;
        const text = await Deno.readTextFile(cpath);
        await Deno.writeTextFile(cpath, text.slice(0, text.length >> 1));
        const badLogs: string[] = [];
        const v2 = await startView(
          { model: bad, task: FIXTURE_TASK, port: 0 },
          (l) => badLogs.push(l),
        );
        const p4 = await browser.newPage();
        try {
          assert.ok(badLogs.some((l) => /not valid JSON/.test(l)), badLogs.join("\n"));
          await p4.goto(v2.url);
          await p4.waitForSelector(".fatal", { timeout: 60000 });
          assert.match(await p4.locator(".fatal").textContent() ?? "", /not valid JSON/);
          // A truncated model file: the whole page says so.
          const m = await Deno.readFile(`${bad}/model.safetensors`);
          await Deno.writeFile(`${bad}/model.safetensors`, m.subarray(0, m.length - 100));
          badLogs.length = 0;
          await v2.close();
          const v3 = await startView({ model: bad, task: null, port: 0 }, (l) => badLogs.push(l));
          try {
            assert.ok(badLogs.some((l) => /model\.safetensors/.test(l)), badLogs.join("\n"));
            await p4.goto(v3.url);
            await p4.waitForSelector(".fatal", { timeout: 60000 });
            assert.match(await p4.locator(".fatal").textContent() ?? "", /model\.safetensors/);
            await p4.screenshot({ path: `${shots}/bad-model.png` });
          } finally {
            await v3.close();
          }
          // No circuit: the prune command that makes it.
          await Deno.remove(cpath);
          await Deno.copyFile(`${dir}/model.safetensors`, `${bad}/model.safetensors`);
          const v4 = await startView({ model: bad, task: FIXTURE_TASK, port: 0 }, () => {});
          try {
            await p4.goto(v4.url);
            await p4.waitForSelector(".notice", { timeout: 60000 });
            assert.match(
              await p4.locator(".notice").first().textContent() ?? "",
              new RegExp(`deno task prune --model ${bad} --task ${FIXTURE_TASK}`),
            );
          } finally {
            await v4.close();
          }
        } finally {
          await p4.close();
          await Deno.remove(bad, { recursive: true });
        }
      });
      assert.deepEqual(pageErrors, []);
    } finally {
      await view?.close();
      await browser.close();
      await Deno.remove(profile, { recursive: true });
    }
  },
});

Deno.test("view fixture cleanup", { sanitizeResources: false }, async () => {
  if (fixture) await Deno.remove((await fixture).dir, { recursive: true });
});
