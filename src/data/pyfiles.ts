/**
 * Real Python for `--data DIR`: every .py file under a folder, deduplicated by content, split into
 * train and val by content hash (~5% val), so the split does not depend on paths or file order
 * and a file and its copies always land on the same side.
 */
import { UserError } from "../errors.ts";
import { hex, sha256 } from "../util/sha256.ts";
import type { PyFiles } from "./dataset.ts";

/** One file in VAL_MODULUS goes to val (by content hash). */
const VAL_MODULUS = 20;

/** .py file paths under dir, sorted; symlinked folders are not followed (no cycles). */
async function listPy(dir: string): Promise<string[]> {
  const out: string[] = [];
  const stack = [dir];
  while (stack.length > 0) {
    const d = stack.pop()!;
    for await (const e of Deno.readDir(d)) {
      const p = `${d}/${e.name}`;
      if (e.isDirectory) stack.push(p);
      else if (e.name.endsWith(".py") && (e.isFile || (e.isSymlink && await isFile(p)))) {
        out.push(p);
      }
    }
  }
  return out.sort();
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isFile;
  } catch {
    return false;
  }
}

/**
 * Reads all .py files under `dir` recursively: skips binary and non-UTF-8 files, empty files and
 * duplicates (counting each), and splits the rest ~95/5 into train/val by SHA-256 of the content.
 * Throws UserError when `dir` is missing or not a folder, or fewer than 2 usable files remain.
 */
export async function loadPyFiles(dir: string): Promise<PyFiles> {
  const root = dir.replace(/\/+$/, "") || "/";
  try {
    if (!(await Deno.stat(root)).isDirectory) throw new UserError(`--data ${dir}: not a folder`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new UserError(`--data ${dir}: no such folder`);
    throw e;
  }
  const paths = await listPy(root);
  if (paths.length === 0) throw new UserError(`--data ${dir}: no .py files found`);

  const utf8 = new TextDecoder("utf-8", { fatal: true });
  const seen = new Set<string>();
  const kept: { text: string; hash: Uint8Array; val: boolean }[] = [];
  const res: PyFiles = { train: [], val: [], skipped: 0, duplicates: 0, empty: 0, bytes: 0 };
  for (const p of paths) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(p);
    } catch {
      res.skipped++;
      continue;
    }
    let text: string;
    try {
      if (bytes.includes(0)) throw new TypeError("binary");
      text = utf8.decode(bytes);
    } catch {
      res.skipped++;
      continue;
    }
    if (text.trim() === "") {
      res.empty++;
      continue;
    }
    const hash = await sha256(bytes);
    const key = hex(hash.subarray(0, 16));
    if (seen.has(key)) {
      res.duplicates++;
      continue;
    }
    seen.add(key);
    const h32 = new DataView(hash.buffer).getUint32(0);
    kept.push({ text, hash, val: h32 % VAL_MODULUS === 0 });
    res.bytes += bytes.length;
  }
  if (kept.length < 2) {
    throw new UserError(
      `--data ${dir}: ${kept.length} usable .py file(s) (${res.skipped} binary/non-UTF-8, ` +
        `${res.empty} empty, ${res.duplicates} duplicates); need at least 2 for train and val`,
    );
  }
  // A small folder can hash nothing into val, or everything: move the file with the smallest hash.
  const nVal = kept.filter((f) => f.val).length;
  if (nVal === 0 || nVal === kept.length) {
    const side = kept.filter((f) => f.val === (nVal !== 0));
    side.reduce((m, f) => compareHash(f.hash, m.hash) < 0 ? f : m).val = nVal === 0;
  }
  for (const f of kept) (f.val ? res.val : res.train).push(f.text);
  return res;
}

function compareHash(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}
