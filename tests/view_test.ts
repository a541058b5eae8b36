/// <reference lib="dom" />
/**
 * The viewer: its server's security (loopback, known files only, no traversal or symlinks out),
 * its command's errors, and the page in a real browser (Debian's Chromium driven by
 * playwright-core): served with cross-origin isolation and exported as one file opened from
 * file://, on a tiny run with a circuit (tests/view_fixture.ts). The page's loss after ablating a
 * node is checked against the same ablation computed here with the CLI's modules. The circuit is
 * drawn into the first HTML, so plain `chromium --headless --screenshot` (no script run to
 * completion) and printing show the graph; residual threads, the loss chart's size and a 50/50
 * tie's accuracy are checked in the page.
 *
 * Where /usr/bin/chromium is missing the browser tests are skipped with one line saying so.
 */
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { UserError } from "../src/errors.ts";
import { nodeIndex, parseNodeId } from "../src/model/nodes.ts";
import { type Calibration } from "../src/prune/calibrate.ts";
import { circuitLoss } from "../src/prune/measure.ts";
import { MaskedScorer } from "../src/prune/masked_scorer.ts";
import { makeScorer, taskData } from "../src/prune/task_data.ts";
import { type Circuit, parseCircuitText } from "../src/run/circuit.ts";
import { loadRun, readMeans } from "../src/run/run_dir.ts";
import { startView, type ViewHandle } from "../src/view/cli_view.ts";
import { exportHtml } from "../src/view/export_html.ts";
import { fmt } from "../src/view/page/heat.ts";
import { getTask } from "../tasks/index.ts";
import { decodePng, share } from "./png.ts";
import { FIXTURE_TASK, makeViewRun, removeViewRun, type ViewRun } from "./view_fixture.ts";

const CHROMIUM = "/usr/bin/chromium";
const hasChromium = await Deno.stat(CHROMIUM).then(() => true, () => false);
if (!hasChromium) {
  console.log(
    `view_test: browser tests skipped: ${CHROMIUM} not found (apt-get install -y chromium)`,
  );
}

let fixture: Promise<ViewRun> | null = null;
/** One trained tiny run and its copy with the --freeze-norm circuit, shared by this file. */
function run() {
  fixture ??= makeViewRun();
  return fixture;
}

/**
 * What the CLI's modules compute for the circuit's task with only `kept` nodes: circuitLoss on
 * the evaluation pairs (taskData), the file's ablation, means, --freeze-norm and calibration
 * (or `calibration`); also the full model's loss, and the calibration fitted on the bisection's
 * pruning pairs for these nodes.
 */
async function cli(
  dir: string,
  c: Circuit,
  kept: string[],
  calibration: Calibration = c.calibration,
): Promise<{ calibrated: number; raw: number; full: number; fit: Calibration }> {
  const r = await loadRun(dir);
  try {
    const data = taskData(r, getTask(c.task), c.pairs.prune_pairs, c.pairs.eval_pairs);
    assert.ok(!("note" in data));
    const total = r.model.nodes.total;
    const means = c.ablation === "mean"
      ? (await readMeans(r.dir, total, r.weightsSha256))!.mean
      : null;
    const scorer = makeScorer(r, Math.max(data.pool.length, data.evalItems.length));
    const ms = new MaskedScorer(r.model, scorer, means, c.freeze_norm);
    const idx = kept.map((id) => nodeIndex(r.model.d, r.model.nodes, parseNodeId(id)!));
    const got = circuitLoss(ms, data.evalItems, idx, calibration);
    ms.keepOnly(idx);
    const bisect = c.hyperparameters.bisect_pairs;
    assert.equal(typeof bisect, "number");
    const fit = ms.measure(data.pool.slice(0, 2 * (bisect as number))).c;
    const full = ms.score(data.evalItems, false).meanLoss;
    return { calibrated: got.calibrated, raw: got.raw, full, fit };
  } finally {
    r.close();
  }
}

/** A loss as the page prints it. */
const printed = (x: number) => fmt(x, 4);

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
    const { dir, circuit, frozenDir, frozen } = await run();
    // Screenshots for a person to look at: kept only with THINWIRE_KEEP_SHOTS=1.
    const keepShots = Deno.env.get("THINWIRE_KEEP_SHOTS") === "1";
    const shots = await Deno.makeTempDir({ prefix: "thinwire-view-shots-" });
    if (keepShots) console.log(`view_test: screenshots in ${shots}`);
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
    const open = async (url: string): Promise<Page> => {
      const p = await browser.newPage();
      p.on("pageerror", (e) => pageErrors.push(e.message));
      await p.goto(url);
      await p.waitForSelector("#graph [data-node-id]", { timeout: 60000 });
      return p;
    };
    /** The page's exact number (not the quick estimate) once it shows `kept` nodes. */
    const liveLoss = async (p: Page, kept: number) => {
      await p.waitForFunction(
        (k) =>
          document.getElementById("live-kept")?.textContent === `(${k} kept)` &&
          document.getElementById("live-row")?.getAttribute("data-exact") === "1",
        kept,
        { timeout: 60000 },
      );
      return await p.locator("#live-loss").textContent();
    };
    const drawn = (p: Page) =>
      p.$$eval("#graph [data-node-id]", (els) => els.map((e) => e.getAttribute("data-node-id")));
    try {
      view = await startView({ model: dir, task: FIXTURE_TASK, port: 0 }, (l) => logs.push(l));
      // The printed URL opens the --task circuit (`#task=…`); other states replace the fragment.
      const base = view.url.split("#")[0];
      const ids = circuit.nodes.map((n) => n.id);
      const top = circuit.ranking.slice(0, Math.min(16, circuit.ranking.length));
      const target = top[Math.min(1, top.length - 1)];
      const rest = top.filter((x) => x !== target);
      let page: Page;

      await t.step("served page: isolated, the circuit's nodes, the file's losses", async () => {
        // The first HTML holds the circuit drawn by the server, every node of it.
        const html = await (await fetch(view!.url)).text();
        assert.match(html, /<figure class="preview" id="preview">/);
        for (const id of ids) assert.ok(html.includes(`data-node-id="${id}"`), id);
        page = await open(view!.url);
        // The live graph replaced it.
        assert.equal(await page.locator("#preview").count(), 0);
        assert.equal(await page.evaluate(() => crossOriginIsolated), true);
        assert.equal(await page.locator("#graph [data-node-id]").count(), circuit.nodes.length);
        assert.deepEqual(new Set(await drawn(page)), new Set(ids));
        assert.match(await page.locator("#threads").textContent() ?? "", /cross-origin isolated/);
        const shown = await liveLoss(page, ids.length);
        assert.equal(shown, printed(circuit.losses.circuit_calibrated));
        assert.equal(shown, printed((await cli(dir, circuit, ids)).calibrated));
        assert.equal(
          await page.locator("#live-raw").textContent(),
          printed(circuit.losses.circuit),
        );
        await page.screenshot({ path: `${shots}/served.png` });
        // The loss-vs-k chart's plot is readable: at least 150 px tall.
        const plot = await page.locator(".curve .u-over").boundingBox();
        assert.ok(plot && plot.height >= 150, `loss-vs-k plot ${plot?.height} px tall`);
        // Printed: the graph, whole and within the page's width; no panels.
        await page.emulateMedia({ media: "print" });
        assert.equal(await page.locator("aside").isVisible(), false);
        const g = await page.locator("#graph svg").boundingBox();
        assert.ok(g && g.width > 0 && g.width <= 1280, `printed graph ${g?.width} px wide`);
        await page.emulateMedia({ media: "screen" });
        await page.close();
      });

      await t.step(
        "a residual channel's write and later read: one thread between them",
        async () => {
          const [w, r] = ["0.mlp.resid_delta.5", "1.attn.act_in.5"];
          const p = await open(`${base}#task=${FIXTURE_TASK}&pin=${w},${r}`);
          const thread = p.locator(`#graph g.thread[data-channel="5"]`);
          await thread.waitFor({ timeout: 60000 });
          assert.equal(await thread.getAttribute("data-nodes"), `${w} ${r}`);
          assert.equal(await thread.locator("text").textContent(), "resid 5");
          // The path runs from the write's centre to the read's.
          const [d, tw, tr] = await Promise.all([
            thread.locator("path").getAttribute("d"),
            p.locator(`#graph [data-node-id="${w}"]`).getAttribute("transform"),
            p.locator(`#graph [data-node-id="${r}"]`).getAttribute("transform"),
          ]);
          const pts = [...d!.matchAll(/(-?[\d.]+),(-?[\d.]+)/g)].map((m) => `${m[1]},${m[2]}`);
          assert.equal(`translate(${pts[0]})`, tw);
          assert.equal(`translate(${pts[pts.length - 1]})`, tr);
          await p.close();
        },
      );

      await t.step("the slider's top k from the URL: the ranking's nodes, CLI loss", async () => {
        assert.ok(top.length > ids.length, "the ranking reaches past the circuit");
        page = await open(`${base}#task=${FIXTURE_TASK}&k=${top.length}`);
        await page.waitForFunction(
          (n) => document.querySelectorAll("#graph [data-node-id]").length === n,
          new Set([...ids, ...top]).size,
          { timeout: 60000 },
        );
        assert.equal(
          await liveLoss(page, top.length),
          printed((await cli(dir, circuit, top)).calibrated),
        );
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

      await t.step("ablating it re-runs the model: the page's loss is circuitLoss's", async () => {
        await page.locator("#toggle-node").click();
        const shown = await liveLoss(page, rest.length);
        assert.equal(shown, printed((await cli(dir, circuit, rest)).calibrated));
        assert.match(page.url(), new RegExp(`ablate=${target.replace(/\./g, "\\.")}`));
        await page.locator("#tab-intervene").click();
        await page.screenshot({ path: `${shots}/ablated.png` });
      });

      await t.step(
        "toggle latency: an estimate first, then the exact number (reported)",
        async () => {
          const node = top[0];
          for (let i = 0; i < 6; i++) {
            await page.locator(`#graph [data-node-id="${node}"]`).focus();
            await page.keyboard.press("x");
            await liveLoss(page, i % 2 === 0 ? rest.length - 1 : rest.length);
          }
          const ts = await page.evaluate(() =>
            (globalThis as unknown as { __thinwire: { timings: Record<string, number>[] } })
              .__thinwire.timings
          );
          assert.ok(ts.length >= 6 && ts.every((x) => x.estimate > 0 && x.exact >= x.estimate));
          const list = (k: string) => ts.map((x) => x[k].toFixed(0)).join(", ");
          console.log(
            `view_test: tiny-model toggle → screen: estimate ${list("estimate")} ms; exact ` +
              `${list("exact")} ms`,
          );
        },
      );

      await t.step("the URL restores the state in a new page", async () => {
        const p2 = await open(page.url());
        await liveLoss(p2, rest.length);
        assert.match(
          await p2.locator(`#graph [data-node-id="${target}"]`).getAttribute("class") ?? "",
          /ablated/,
        );
        await p2.close();
      });

      await t.step("download the kept nodes: a circuit file measured as prune does", async () => {
        const [dl] = await Promise.all([
          page.waitForEvent("download", { timeout: 120000 }),
          page.locator("#download-kept").click(),
        ]);
        const path = `${shots}/downloaded.json`;
        await dl.saveAs(path);
        const c = parseCircuitText(await Deno.readTextFile(path), path);
        assert.deepEqual(new Set(c.nodes.map((n) => n.id)), new Set(rest));
        const want = await cli(dir, circuit, rest);
        assert.deepEqual(c.calibration, want.fit);
        const again = await cli(dir, circuit, rest, c.calibration);
        assert.equal(c.losses.circuit_calibrated, again.calibrated);
        assert.equal(c.losses.circuit, again.raw);
        assert.equal(c.losses.full, circuit.losses.full);
        assert.equal(c.losses.random.draws, circuit.losses.random.draws);
        assert.equal(c.curve.length, 1);
        await page.close();
      });

      await t.step("a --freeze-norm circuit: the file's loss, then circuitLoss's", async () => {
        assert.equal(frozen.freeze_norm, true);
        const fids = frozen.nodes.map((n) => n.id);
        const v = await startView({ model: frozenDir, task: FIXTURE_TASK, port: 0 }, () => {});
        try {
          const p3 = await open(v.url);
          const shown = await liveLoss(p3, fids.length);
          assert.equal(shown, printed(frozen.losses.circuit_calibrated));
          assert.equal(shown, printed((await cli(frozenDir, frozen, fids)).calibrated));
          const add = frozen.ranking.find((id) => !fids.includes(id))!;
          await p3.locator("#add-node").fill(add);
          await p3.getByRole("button", { name: "Add node" }).click();
          const more = await liveLoss(p3, fids.length + 1);
          assert.equal(more, printed((await cli(frozenDir, frozen, [...fids, add])).calibrated));
          await p3.close();
        } finally {
          await v.close();
        }
      });

      await t.step("a 50/50 tie counts half: every P(correct) 50.0%, accuracy 50.0%", async () => {
        // With calibration scale and shift 0 every prompt's calibrated P(correct) is exactly 1/2.
        const tie = await copyRun(dir);
        const path = `${tie}/circuits/${FIXTURE_TASK}.json`;
        const c = JSON.parse(await Deno.readTextFile(path));
        c.calibration = { scale: 0, shift: 0 };
        await Deno.writeTextFile(path, JSON.stringify(c));
        const v = await startView({ model: tie, task: FIXTURE_TASK, port: 0 }, () => {});
        try {
          const p = await open(v.url);
          await liveLoss(p, ids.length);
          const prompts = 2 * circuit.pairs.eval_pairs;
          assert.equal(
            await p.locator("#live-acc").textContent(),
            `50.0% (${prompts} ties at 50%, ½ each)`,
          );
          const now = await p.$$eval(
            "#examples tr td:nth-child(4)",
            (tds) => tds.map((td) => td.textContent),
          );
          assert.ok(now.length > 0 && now.every((x) => x === "50.0%"), now.join(" "));
          await p.close();
        } finally {
          await v.close();
          await Deno.remove(tie, { recursive: true });
        }
      });

      await t.step("exported HTML from file://: same graph, one thread, same loss", async () => {
        const out = `${shots}/circuit.html`;
        await exportHtml({ model: dir, task: FIXTURE_TASK, out });
        const p4 = await open(`file://${out}`);
        assert.equal(await p4.evaluate(() => crossOriginIsolated), false);
        assert.equal(await p4.locator("#graph [data-node-id]").count(), circuit.nodes.length);
        assert.match(await p4.locator("#threads").textContent() ?? "", /^1 thread .*not isolated/);
        assert.equal(await liveLoss(p4, ids.length), printed(circuit.losses.circuit_calibrated));
        await p4.screenshot({ path: `${shots}/exported.png` });
        await p4.close();
      });

      await t.step("plain chromium --headless --screenshot shows the drawn graph", async () => {
        const exported = `${shots}/circuit.html`;
        // The drawing's size, from the first HTML.
        const html = await (await fetch(view!.url)).text();
        const [, w, h] = /<svg [^>]*viewBox="0 0 ([\d.]+) ([\d.]+)"/.exec(html)!.map(Number);
        for (const [name, url] of [["served", view!.url], ["exported", `file://${exported}`]]) {
          const png = `${shots}/plain-${name}.png`;
          const out = await new Deno.Command(CHROMIUM, {
            args: [...LAUNCH_ARGS, `--screenshot=${png}`, "--window-size=1280,900", url],
            stdout: "null",
            stderr: "null",
          }).output();
          assert.equal(out.code, 0, `chromium --screenshot ${url}`);
          const img = await decodePng(await Deno.readFile(png));
          // The layer bands' fills cover most of the drawing; "Starting the model…" alone
          // would leave the picture white.
          const bands = [[0xf6, 0xf7, 0xf9], [0xee, 0xf1, 0xf5], [0xfb, 0xfb, 0xfc]];
          const band = (r: number, g: number, b: number) =>
            bands.some(([x, y, z]) => r === x && g === y && b === z);
          const area = share(img, band) * img.width * img.height;
          assert.ok(area > 0.5 * Math.min(w, 1248) * h, `${name}: ${area} px of bands`);
          assert.ok(share(img, (r, g, b) => Math.max(r, g, b) < 160) > 1e-3, `${name}: no ink`);
        }
      });

      await t.step(
        "damaged files: refused at start in one line; damaged later, the page says so",
        async () => {
          const bad = await copyRun(dir);
          const cpath = `${bad}/circuits/${FIXTURE_TASK}.json`;
          const text = await Deno.readTextFile(cpath);
          const model = await Deno.readFile(`${bad}/model.safetensors`);
          const refused = async (pattern: RegExp) => {
            await assert.rejects(
              startView({ model: bad, task: FIXTURE_TASK, port: 0 }, () => {}),
              (e: unknown) => {
                assert.ok(e instanceof UserError);
                assert.ok(!e.message.includes("\n"));
                assert.match(e.message, pattern);
                return true;
              },
            );
          };
          const p4 = await browser.newPage();
          try {
            // At start: a truncated circuit file or model is one line, and nothing is served.
            await Deno.writeTextFile(cpath, text.slice(0, text.length >> 1));
            await refused(/not valid JSON/);
            await Deno.writeTextFile(cpath, text);
            await Deno.writeFile(`${bad}/model.safetensors`, model.subarray(0, model.length - 100));
            await refused(/model\.safetensors/);
            await Deno.writeFile(`${bad}/model.safetensors`, model);
            // Damaged while served: the page says so.
            const v2 = await startView({ model: bad, task: FIXTURE_TASK, port: 0 }, () => {});
            try {
              await Deno.writeTextFile(cpath, text.slice(0, text.length >> 1));
              await p4.goto(v2.url);
              await p4.waitForSelector(".fatal", { timeout: 60000 });
              assert.match(await p4.locator(".fatal").textContent() ?? "", /not valid JSON/);
            } finally {
              await v2.close();
            }
            await Deno.writeTextFile(cpath, text);
            const v3 = await startView({ model: bad, task: FIXTURE_TASK, port: 0 }, () => {});
            const p5 = await browser.newPage();
            try {
              const cut = model.subarray(0, model.length - 100);
              await Deno.writeFile(`${bad}/model.safetensors`, cut);
              await p5.goto(v3.url);
              await p5.waitForSelector(".fatal", { timeout: 60000 });
              assert.match(await p5.locator(".fatal").textContent() ?? "", /model\.safetensors/);
              await p5.screenshot({ path: `${shots}/bad-model.png` });
            } finally {
              await p5.close();
              await v3.close();
            }
            // No circuit: the prune command that makes it.
            await Deno.remove(cpath);
            await Deno.writeFile(`${bad}/model.safetensors`, model);
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
        },
      );
      assert.deepEqual(pageErrors, []);
    } finally {
      await view?.close();
      await browser.close();
      await Deno.remove(profile, { recursive: true });
      if (!keepShots) await Deno.remove(shots, { recursive: true });
    }
  },
});

Deno.test("view fixture cleanup", { sanitizeResources: false }, async () => {
  if (fixture) await removeViewRun(await fixture);
});
