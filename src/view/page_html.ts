/**
 * The viewer page's HTML shell, for both ways of opening it: served by `deno task view` (scripts
 * and data fetched from the server) or exported as one file (`export --format html`: scripts,
 * stylesheet, the kernel module and the run's files inlined, so it opens from disk).
 *
 * The page reads its settings from a JSON data block (`#thinwire-config`), which a content
 * security policy without inline scripts still allows.
 */

/** What the page is told about where it is and what to open. */
export interface PageConfig {
  mode: "server" | "inline";
  /** The run folder's name. */
  run: string;
  /** The circuit to open first (task name), or null: the first circuit there is. */
  task: string | null;
  /** Server mode: run files the server answers for. Inline mode: files embedded in the page. */
  runFiles: string[];
  /** Tasks with a circuit file in the run (at the time the page was made). */
  circuits: string[];
}

/** Inline mode's embedded parts. */
export interface InlineParts {
  css: string;
  appJs: string;
  /** Scripts the page starts workers from (blob URLs): model_worker.js, compute_worker.js. */
  workers: Record<string, string>;
  /** Embedded files by name (run files and thinwire.wasm): base64 of their gzip. */
  files: Record<string, string>;
}

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** JSON that is safe inside a script element (no "</script", no "<!--"). */
function scriptJson(v: unknown): string {
  return JSON.stringify(v).replace(/</g, "\\u003c");
}

/**
 * JavaScript that is safe inside a script element: "</script" written as "<\/script" (the same
 * text in a JavaScript string, regular expression or comment).
 */
export function scriptSafe(js: string): string {
  return js.replace(/<\/(script)/gi, "<\\/$1");
}

/**
 * The page. `inline` is required in inline mode. `preview`: markup shown until the page has
 * started (the circuit drawn by the server: src/view/preview.ts), so a screenshot or a print
 * taken before the model runs still shows the circuit.
 */
export function pageHtml(cfg: PageConfig, inline?: InlineParts, preview = ""): string {
  const head = [
    `<!doctype html>`,
    `<html lang="en">`,
    `<head>`,
    `<meta charset="utf-8">`,
    `<meta name="viewport" content="width=device-width, initial-scale=1">`,
    `<title>thinwire · ${esc(cfg.run)}</title>`,
    `<link rel="icon" href="data:,">`,
  ];
  const body = [
    `<noscript>The thinwire viewer needs JavaScript.</noscript>`,
    `<div id="app"><p class="loading" id="boot-status">Loading the viewer…</p>${preview}</div>`,
    `<script type="application/json" id="thinwire-config">${scriptJson(cfg)}</script>`,
  ];
  if (cfg.mode === "server") {
    head.push(`<link rel="stylesheet" href="/assets/app.css">`);
    body.push(`<script src="/assets/app.js"></script>`);
  } else {
    if (!inline) throw new Error("pageHtml: inline mode needs the inline parts");
    head.push(`<style>${inline.css.replace(/<\/(style)/gi, "<\\/$1")}</style>`);
    for (const [name, js] of Object.entries(inline.workers)) {
      body.push(
        `<script type="text/plain" data-worker="${esc(name)}">${scriptSafe(js)}</script>`,
      );
    }
    for (const [name, b64] of Object.entries(inline.files)) {
      body.push(`<script type="application/octet-stream" data-file="${esc(name)}">${b64}</script>`);
    }
    body.push(`<script>${scriptSafe(inline.appJs)}</script>`);
  }
  return [...head, `</head>`, `<body>`, ...body, `</body>`, `</html>`, ``].join("\n");
}
