/**
 * Flag parsing shared by the subcommands: node:util parseArgs (strict), whose errors become
 * one-line UserErrors (exit 2), and the --threads flag every compute command takes.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { UserError } from "./errors.ts";

/** parseArgs(config); a bad flag is a UserError naming the command and the flag. */
export function parseFlags<T extends ParseArgsConfig>(
  command: string,
  config: T,
): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
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

/** The --threads value: an integer in 1..64; all cores (at most 64) when not given. */
export function threadsFlag(v: string | undefined): number {
  if (v === undefined) return Math.min(navigator.hardwareConcurrency ?? 1, 64);
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < 1 || n > 64) {
    throw new UserError(`--threads needs an integer in 1..64, got '${v}'`);
  }
  return n;
}

/** An integer flag ≥ min (`fallback` when absent); anything else is a one-line UserError. */
export function intFlag(flag: string, v: string | undefined, fallback: number, min = 1): number {
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) {
    throw new UserError(`--${flag} must be an integer ≥ ${min}, got '${v}'`);
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
