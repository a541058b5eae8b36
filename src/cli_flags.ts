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
