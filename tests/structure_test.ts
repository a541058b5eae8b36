/**
 * The layout the README draws, kept true by test (what denoland/std checks for itself): no
 * import cycles among the modules of src/, tasks/ and cli.ts; each folder imports only from the
 * folders below it in the pipeline; and the viewer page's modules type-check with the browser's
 * library alone, so nothing in them can reach a Deno API.
 */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/**
 * The pipeline, bottom up: a module may import from its own rank and below. Commands (`cli.ts`,
 * `src/cli_flags.ts`, `src/<stage>/cli_*.ts`) sit above everything; only a study, which runs them,
 * imports them.
 */
const LAYERS: string[][] = [
  ["src/errors.ts", "src/version.ts", "src/util", "src/backend", "src/reference"],
  ["src/data", "tasks"],
  ["src/model"],
  ["src/run"],
  ["src/train"],
  ["src/eval"],
  ["src/prune"],
  ["src/export", "src/import"],
  ["src/view"],
  ["src/study"],
];

function rankOf(path: string): number | "command" | null {
  const name = path.split("/").pop()!;
  if (path === "cli.ts" || path === "src/cli_flags.ts" || name.startsWith("cli_")) return "command";
  const r = LAYERS.findIndex((layer) => layer.some((p) => path === p || path.startsWith(p + "/")));
  return r < 0 ? null : r;
}

/** Every .ts module under the folders, relative to the repository root. */
async function modules(): Promise<string[]> {
  const out: string[] = ["cli.ts"];
  const walk = async (rel: string) => {
    for await (const e of Deno.readDir(new URL(rel, ROOT))) {
      const p = `${rel}/${e.name}`;
      if (e.isDirectory) await walk(p);
      else if (e.name.endsWith(".ts")) out.push(p);
    }
  };
  await walk("src");
  await walk("tasks");
  return out.sort();
}

/** Relative imports of a module: static, type-only, re-exports and literal dynamic imports. */
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?["'](\.[^"']+)["']|import\(\s*["'](\.[^"']+)["']\s*\)/g;

function resolve(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "..") parts.pop();
    else if (seg !== ".") parts.push(seg);
  }
  return parts.join("/");
}

async function importGraph(): Promise<Map<string, string[]>> {
  const graph = new Map<string, string[]>();
  for (const m of await modules()) {
    const text = await Deno.readTextFile(new URL(m, ROOT));
    const deps = [...text.matchAll(IMPORT)].map((x) => resolve(m, x[1] ?? x[2]));
    graph.set(m, deps.filter((d) => d.endsWith(".ts")));
  }
  return graph;
}

/** Strongly connected components of more than one module (Tarjan), each a cycle. */
function cycles(graph: Map<string, string[]>): string[][] {
  let next = 0;
  const index = new Map<string, number>(), low = new Map<string, number>();
  const stack: string[] = [], onStack = new Set<string>(), found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        comp.push(w);
      } while (w !== v);
      if (comp.length > 1) found.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

Deno.test("structure: no import cycles among the modules of src/, tasks/ and cli.ts", async () => {
  const found = cycles(await importGraph());
  assert.deepEqual(found, [], `import cycles:\n${found.map((c) => c.join(" ↔ ")).join("\n")}`);
});

Deno.test("structure: the cycle check sees a cycle, a type-only one and a dynamic one", () => {
  const g = (edges: [string, string][]) => {
    const m = new Map<string, string[]>();
    for (const [a, b] of edges) {
      m.set(a, [...(m.get(a) ?? []), b]);
      if (!m.has(b)) m.set(b, []);
    }
    return m;
  };
  assert.deepEqual(cycles(g([["a", "b"], ["b", "c"], ["c", "a"], ["c", "d"]])), [["a", "b", "c"]]);
  assert.deepEqual(cycles(g([["a", "b"], ["b", "c"]])), []);
  const text = 'import type { X } from "./x.ts";\nconst m = await import("../y/z.ts");\n' +
    'export { w } from "./w.ts";';
  const deps = [...text.matchAll(IMPORT)].map((x) => resolve("src/a/b.ts", x[1] ?? x[2]));
  assert.deepEqual(deps, ["src/a/x.ts", "src/y/z.ts", "src/a/w.ts"]);
});

Deno.test("structure: each folder imports only from its layer and those below it", async () => {
  const problems: string[] = [];
  for (const [m, deps] of await importGraph()) {
    const rm = rankOf(m);
    if (rm === null) {
      problems.push(`${m}: its folder has no place in LAYERS (tests/structure_test.ts)`);
      continue;
    }
    if (rm === "command") continue;
    for (const d of deps) {
      const rd = rankOf(d);
      // A study runs the stages' commands (it checks its grid with their own flag parsers).
      if (rd === "command" ? !m.startsWith("src/study/") : rd !== null && rd > rm) {
        problems.push(`${m} imports ${d}, a layer above it`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("structure: the viewer page's modules type-check with the browser's library only", async () => {
  const deno = JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT)));
  const dir = await Deno.makeTempDir({ prefix: "thinwire-browser-check-" });
  try {
    const config = `${dir}/deno.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        compilerOptions: { lib: ["dom", "dom.iterable", "dom.asynciterable", "esnext"] },
        imports: deno.imports,
        nodeModulesDir: "none",
      }),
    );
    // The bundle's three entries (src/view/bundle.ts).
    const entries = [
      "src/view/page/main.ts",
      "src/view/page/model_worker.ts",
      "src/backend/worker.ts",
    ];
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--quiet", "--no-lock", "--config", config, ...entries],
      cwd: new URL(".", ROOT),
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stderr);
    const where = [...new Set(text.match(/at file:\/\/\S+?(?=:\d)/g) ?? [])].join(", ");
    assert.equal(
      out.code,
      0,
      `the page does not type-check without Deno's APIs (${where}):\n${text.slice(0, 2000)}`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
