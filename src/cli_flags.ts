/**
 * What every subcommand's start shares: node:util parseArgs (strict) whose errors become one-line
 * UserErrors (exit 2), --help printing the command's usage, the required flags, and the flags
 * several commands take (--threads, integers and numbers, --task lists, --model).
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UserError } from "./errors.ts";
import type { BackendKind } from "./backend/backend.ts";
import { BACKEND_KINDS, type ComputeOptions } from "./backend/create.ts";
import { type LoadedRun, loadRun } from "./run/run_dir.ts";
import { getTask, type Task } from "../tasks/index.ts";

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * A value that looks like a negative number, given as the next argument of a string flag
 * (`--pairs -5`), is joined to it (`--pairs=-5`): parseArgs would otherwise take it for a flag
 * and refuse it with its own advice, where the flag's check has a clearer line.
 */
function joinNegatives(args: readonly string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i], next = args[i + 1];
    const name = a.startsWith("--") && !a.includes("=") ? a.slice(2) : null;
    if (
      name !== null && options[name]?.type === "string" && next !== undefined &&
      /^-(\d|\.\d|inf)/i.test(next)
    ) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * For a script's own top level (cli.ts has its own): a UserError becomes its one line on stderr
 * and its exit code; anything else is a bug and is rethrown with its stack.
 */
export function exitOnUserError(e: unknown): never {
  if (!(e instanceof UserError)) throw e;
  console.error(`thinwire: ${e.message}`);
  Deno.exit(e.exitCode);
}

/** parseArgs(config); a bad flag is a UserError naming the command and the flag. */
export function parseFlags<T extends ParseArgsConfig>(
  command: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    const args = config.args && config.options
      ? joinNegatives(config.args, config.options)
      : config.args;
    return parseArgs({ ...config, args } as T);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS")) {
      // parseArgs explains some errors over several lines (a value that starts with "-"): one line.
      const why = (e as Error).message.split("\n").map((l) => l.trim()).filter((l) => l).join(" ");
      throw new UserError(`${command}: ${why} (see --help)`);
    }
    throw e;
  }
}

/** The parsed values of flags declared as `O`: strings, booleans, or arrays of them (`multiple`). */
export type FlagValues<O extends Options> = {
  [K in keyof O]?: O[K] extends { multiple: true }
    ? (O[K]["type"] extends "boolean" ? boolean[] : string[])
    : O[K]["type"] extends "boolean" ? boolean
    : string;
};

/**
 * A subcommand's flags (strict, no positional arguments, --help/-h added); null after printing
 * `usage` for --help, where the command returns 0.
 */
export function commandFlags<const O extends Options>(
  command: string,
  usage: string | (() => string),
  options: O,
  argv: readonly string[],
): FlagValues<O> | null {
  const { values } = parseFlags(command, {
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: { ...options, help: { type: "boolean", short: "h" } },
  });
  if ((values as { help?: boolean }).help) {
    console.log(typeof usage === "string" ? usage : usage());
    return null;
  }
  return values as FlagValues<O>;
}

/** A required flag's value, or the one-line error naming it (`what`: e.g. "--model DIR"). */
export function required<T>(command: string, value: T | undefined, what: string): T {
  if (value === undefined) throw new UserError(`${command}: ${what} is required (see --help)`);
  return value;
}

/** The run folder of --model (required), opened on the backend `backend` describes. */
export async function openModelFlag(
  command: string,
  model: string | undefined,
  backend: ComputeOptions,
): Promise<LoadedRun> {
  return await loadRun(required(command, model, "--model DIR"), backend);
}

/** The tasks of repeated or comma-listed --task flags (each checked by name); all when absent. */
export function taskListFlag(command: string, v: string[] | undefined, all: readonly Task[]) {
  if (!v) return all;
  const names = v.flatMap((s) => s.split(",")).map((s) => s.trim()).filter((s) => s);
  if (names.length === 0) throw new UserError(`${command}: --task needs a task name`);
  return [...new Set(names)].map(getTask);
}

/**
 * The flags of the commands that compute with a model (train, eval, prune, logits): --threads and
 * --backend. Spread into commandFlags' options; computeFlags reads them.
 */
export const COMPUTE_FLAGS = {
  threads: { type: "string" },
  backend: { type: "string" },
} as const;

/**
 * The usage lines of COMPUTE_FLAGS, flags padded to `width` columns as the command's other lines
 * (`threads`: what --threads defaults to).
 */
export function computeUsage(width: number, threads = "all cores"): string {
  const line = (flag: string, text: string) => `  ${flag.padEnd(width)} ${text}`;
  return [
    line("--threads N", `compute threads (default: ${threads})`),
    line("--backend B", "cpu (default) or webgpu: compute on a GPU (docs/webgpu.md)"),
  ].join("\n");
}

/** The backend COMPUTE_FLAGS ask for (threads default: `threads`, all cores when absent). */
export function computeFlags(
  v: { threads?: string; backend?: string },
  threads?: number,
): ComputeOptions & { threads: number; backend: BackendKind } {
  return { threads: threadsFlag(v.threads, threads), backend: backendFlag(v.backend) };
}

/** The --backend value: cpu (default) or webgpu. */
export function backendFlag(v: string | undefined): BackendKind {
  if (v === undefined) return "cpu";
  const k = BACKEND_KINDS.find((b) => b === v);
  if (!k) throw new UserError(`--backend must be ${BACKEND_KINDS.join(" or ")}, got '${v}'`);
  return k;
}

/** The --threads value: an integer in 1..64; `fallback` (all cores, at most 64) when not given. */
export function threadsFlag(
  v: string | undefined,
  fallback = Math.min(navigator.hardwareConcurrency ?? 1, 64),
): number {
  return intFlag("threads", v, fallback, 1, 64);
}

/** An integer flag in [min, max] (`fallback` when absent); anything else is a one-line UserError. */
export function intFlag(
  flag: string,
  v: string | undefined,
  fallback: number,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in ${min}..${max}`;
    throw new UserError(`--${flag} must be an integer ${range}, got '${v}'`);
  }
  return n;
}

/** A number flag for which `ok` holds (`want` says what that is, for the one-line error). */
export function numberFlag(
  flag: string,
  v: string | undefined,
  fallback: number,
  ok: (x: number) => boolean,
  want: string,
): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (v.trim() === "" || !Number.isFinite(x) || !ok(x)) {
    throw new UserError(`--${flag} must be ${want}, got '${v}'`);
  }
  return x;
}
