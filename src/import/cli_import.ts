/**
 * `thinwire import`: another program's model as a thinwire run folder, so eval, prune, logits and
 * view work on it. One format so far, `reference` (openai/circuit_sparsity's model folders,
 * src/import/reference.ts).
 *
 * Everything is read and checked before anything is written; the run is then written into a
 * temporary folder beside --out, opened with loadRun as every command will open it, and renamed
 * into place. On any error nothing is left under --out.
 */
import { resolve } from "node:path";
import { commandFlags, intFlag } from "../cli_flags.ts";
import { loadDefaultTokenizer, type Tokenizer } from "../data/tokenizer.ts";
import { UserError } from "../errors.ts";
import { FORMAT_VERSION } from "../run/config.ts";
import { encodeModelFile, RUN_FILES } from "../run/format.ts";
import { fileExists, loadRun, RunDir } from "../run/run_dir.ts";
import { PRESETS } from "../train/presets.ts";
import { type RunConfig, validateRunConfig } from "../run/config.ts";
import { Progress } from "../util/progress.ts";
import { sha256Hex } from "../util/sha256.ts";
import { writeAtomic } from "../util/write_atomic.ts";
import { VERSION } from "../version.ts";
import { mapReferenceConfig, mapStateDict } from "./reference.ts";
import { parseTokenizerFile, type TokenizerFormat } from "./tokenizer_file.ts";
import { loadTorchStateDict } from "./torch_load.ts";

const FORMATS = ["reference"] as const;

/** Tokens per forward pass of eval, prune and the node means (the small preset's 16 × 128). */
const TOKENS_PER_BATCH = 2048;

/** Files above this size get a line and a progress bar while they are read. */
const BIG_FILE = 64 << 20;

/** A thinwire tokenizer's name (src/data/tokenizer.ts): `bpe<vocab>-<8 hex digits>`. */
const THINWIRE_TOKENIZER = /^bpe\d+-[0-9a-f]{8}$/;

function usage(): string {
  return [
    "usage: deno task import --format reference --from DIR --out runs/NAME [--tokenizer FILE]",
    "",
    "Imports a model trained elsewhere as a run folder (config.json, model.safetensors,",
    "tokenizer.json; no metrics), for eval, prune, logits and view.",
    "",
    "  --format NAME     reference: an openai/circuit_sparsity model folder, as its",
    "                    load_model(DIR) reads it: beeg_config.json and final_model.pt",
    "                    (torch.save's format, float32/float16/bfloat16)          required",
    "  --from DIR        that folder                                                required",
    "  --out DIR         the run folder to create (must not hold a run)              required",
    "  --tokenizer FILE  the tokenizer, when beeg_config.json's tokenizer_name is not one",
    "                    of thinwire's (the released models' is tinypython_2k): its",
    '                    tiktoken ranks file ("<base64 token> <rank>" lines), its GPT-2',
    "                    style encoder.json, or a thinwire tokenizer.json. Ranks are ids;",
    "                    <|endoftext|> is the id after them; thinwire's pre-split pattern",
    "                    (also tinypython_2k's) is used.",
    "  --n-ctx N         keep the first N positions only (default: block_size). The",
    "                    function is the same on up to N tokens; memory and time fall.",
    "  --help            this text",
    "",
    "Every GPTConfig field is mapped or refused by name: docs/import.md.",
  ].join("\n");
}

/** Runs `import` with its own arguments; returns the exit code (problems are thrown as UserError). */
export async function importCommand(argv: string[]): Promise<number> {
  const v = commandFlags("import", usage, {
    format: { type: "string" },
    from: { type: "string" },
    out: { type: "string" },
    tokenizer: { type: "string" },
    "n-ctx": { type: "string" },
  }, argv);
  if (!v) return 0;
  if (!v.format) {
    throw new UserError(`import: --format is required (one of: ${FORMATS.join(", ")})`);
  }
  if (!(FORMATS as readonly string[]).includes(v.format)) {
    throw new UserError(`import: unknown format '${v.format}' (formats: ${FORMATS.join(", ")})`);
  }
  if (!v.from) throw new UserError("import: --from DIR is required (see --help)");
  if (!v.out) throw new UserError("import: --out DIR is required (see --help)");
  const nCtx = v["n-ctx"] === undefined ? null : intFlag("n-ctx", v["n-ctx"], 0, 2);
  const out = v.out.replace(/\/+$/, "") || "/";
  await checkOut(out);
  const imported = await readReference(v.from, v.tokenizer ?? null, nCtx);
  await writeRun(out, imported);
  const m = imported.rc.model;
  console.log(
    `imported ${v.from} → ${out}: ${m.nLayer} layers, d_model ${m.baseDModel}, d_mlp ` +
      `${m.baseDMlp}, ${m.baseDModel / m.dHead} heads of ${m.dHead}, n_ctx ${m.nCtx}, ` +
      `vocab ${m.vocabSize} (${imported.tokenizer.name})`,
  );
  for (const n of imported.notes) console.log(`  ${n}`);
  console.log(`next: deno task eval --model ${out}`);
  return 0;
}

/** --out may be missing or an empty folder; anything else is refused before any work. */
async function checkOut(out: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(out);
  } catch {
    return;
  }
  if (!info.isDirectory) throw new UserError(`import: --out ${out} exists and is not a folder`);
  if (await new RunDir(out).exists()) {
    throw new UserError(`import: ${out} already holds a run (choose another --out)`);
  }
  for await (const _ of Deno.readDir(out)) {
    throw new UserError(`import: ${out} is not empty (choose another --out)`);
  }
}

/** An import, read and checked, ready to write. */
interface Imported {
  rc: RunConfig;
  tokenizer: Tokenizer;
  modelBytes: Uint8Array;
  /** config.json's `imported` section. */
  record: Record<string, unknown>;
  notes: string[];
}

async function readFile(path: string, what: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new UserError(`import: ${path}: no such file (${what})`);
    }
    throw new UserError(`import: ${path}: cannot be read (${(e as Error).message.split("\n")[0]})`);
  }
}

/** Reads and checks a circuit_sparsity model folder; nothing is written. */
async function readReference(
  from: string,
  tokenizerFile: string | null,
  nCtx: number | null,
): Promise<Imported> {
  const dir = from.replace(/\/+$/, "") || "/";
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(dir);
  } catch {
    throw new UserError(`import: --from ${dir}: no such folder`);
  }
  if (!info.isDirectory) {
    throw new UserError(`import: --from ${dir} is not a folder (give the model's folder)`);
  }
  const cfgPath = `${dir}/beeg_config.json`, ptPath = `${dir}/final_model.pt`;
  const cfgBytes = await readFile(cfgPath, "a circuit_sparsity model folder has beeg_config.json");
  let cfgJson: unknown;
  try {
    cfgJson = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(cfgBytes));
  } catch {
    throw new UserError(`import: ${cfgPath}: not valid JSON`);
  }
  const mapped = mapReferenceConfig(cfgJson, cfgPath, nCtx);
  const { tokenizer, source, format } = await resolveTokenizer(
    dir,
    mapped.tokenizerName,
    tokenizerFile,
    cfgPath,
  );
  if (tokenizer.vocabSize !== mapped.model.vocabSize) {
    throw new UserError(
      `import: the tokenizer (${source}) has ${tokenizer.vocabSize} ids but vocab_size is ` +
        `${mapped.model.vocabSize}`,
    );
  }
  const size = await Deno.stat(ptPath).then((i) => i.size, () => 0);
  if (size > BIG_FILE) console.error(`reading ${ptPath} (${(size / 2 ** 20).toFixed(0)} MiB)…`);
  const ptBytes = await readFile(ptPath, "a circuit_sparsity model folder has final_model.pt");
  const sd = loadTorchStateDict(ptBytes, ptPath);
  let bar: Progress | null = null;
  const weights = mapStateDict(sd, mapped, ptPath, (done, total) => {
    if (size > BIG_FILE) {
      (bar ??= new Progress("reading tensors", total, "tensor")).update(done);
    }
  });
  const m = weights.model;
  const rc: RunConfig = {
    model: m,
    // The train section drives only the batch size of eval, prune and the node means, and the
    // stream the means are taken over (the embedded corpus): thinwire's defaults otherwise.
    train: {
      ...PRESETS.small.train,
      batchSize: Math.max(1, Math.round(TOKENS_PER_BATCH / m.nCtx)),
    },
  };
  validateRunConfig(rc);
  const record = {
    format: "reference",
    from: resolve(dir),
    files: {
      "beeg_config.json": await sha256Hex(cfgBytes),
      "final_model.pt": await sha256Hex(ptBytes),
    },
    beeg_config: cfgJson,
    tokenizer: { tokenizer_name: mapped.tokenizerName, source, format },
    notes: weights.notes,
    train:
      "not trained by thinwire: the train section is thinwire's defaults; only batchSize, data " +
      "and seed are used (batches of eval and prune, the node means' stream)",
  };
  return {
    rc,
    tokenizer,
    modelBytes: encodeModelFile(weights.tensors, m),
    record,
    notes: weights.notes,
  };
}

/** The tokenizer beeg_config.json's tokenizer_name asks for, or --tokenizer FILE. */
async function resolveTokenizer(
  dir: string,
  name: string,
  file: string | null,
  cfgPath: string,
): Promise<{ tokenizer: Tokenizer; source: string; format: TokenizerFormat | "built-in" }> {
  if (file !== null) {
    const { tokenizer, format } = parseTokenizerFile(await readFile(file, "--tokenizer"), file);
    if (THINWIRE_TOKENIZER.test(name) && tokenizer.name !== name) {
      throw new UserError(
        `import: ${cfgPath} names tokenizer ${name} but ${file} is ${tokenizer.name}`,
      );
    }
    return { tokenizer, source: resolve(file), format };
  }
  if (!THINWIRE_TOKENIZER.test(name)) {
    throw new UserError(
      `import: ${cfgPath}'s tokenizer_name is ${JSON.stringify(name)}, not one of thinwire's: ` +
        `give --tokenizer FILE (its tiktoken ranks or encoder.json; see --help)`,
    );
  }
  const builtIn = loadDefaultTokenizer();
  if (builtIn.name === name) return { tokenizer: builtIn, source: "built-in", format: "built-in" };
  // `export --format reference` writes the run's tokenizer beside the model.
  const beside = `${dir}/${RUN_FILES.tokenizer}`;
  if (await fileExists(beside)) {
    const { tokenizer, format } = parseTokenizerFile(await readFile(beside, "tokenizer"), beside);
    if (tokenizer.name === name) return { tokenizer, source: resolve(beside), format };
  }
  throw new UserError(
    `import: ${cfgPath} names thinwire tokenizer ${name}, which is neither the built-in one nor ` +
      `in ${beside}: give --tokenizer FILE`,
  );
}

/** Writes the run into a temporary folder beside `out`, opens it, then renames it into place. */
async function writeRun(out: string, im: Imported): Promise<void> {
  const parent = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) || "/" : ".";
  const base = out.slice(out.lastIndexOf("/") + 1);
  try {
    await Deno.mkdir(parent, { recursive: true });
  } catch (e) {
    throw new UserError(`import: cannot create ${parent} (${(e as Error).message.split("\n")[0]})`);
  }
  let tmp: string;
  try {
    tmp = await Deno.makeTempDir({ dir: parent, prefix: `.${base}.import-` });
  } catch (e) {
    throw new UserError(
      `import: cannot write to ${parent} (${(e as Error).message.split("\n")[0]})`,
    );
  }
  try {
    const run = new RunDir(tmp);
    const config = {
      format_version: FORMAT_VERSION,
      thinwire: VERSION,
      deno: Deno.version.deno,
      tokenizer: im.tokenizer.name,
      model: im.rc.model,
      train: im.rc.train,
      imported: im.record,
    };
    await writeAtomic(run.config, JSON.stringify(config, null, 2) + "\n");
    await writeAtomic(run.tokenizer, JSON.stringify(im.tokenizer.toJSON()));
    await writeAtomic(run.model, im.modelBytes);
    // Opened as eval, prune and view will open it: a folder that would not load is not left.
    (await loadRun(tmp, { threads: 1 })).close();
    await Deno.chmod(tmp, 0o755); // makeTempDir made it private
    if (await fileExists(out)) await Deno.remove(out); // an empty folder (checkOut)
    await Deno.rename(tmp, out);
  } catch (e) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new UserError(`import: cannot write ${out} (${(e as Error).message.split("\n")[0]})`);
    }
    throw e;
  }
}
