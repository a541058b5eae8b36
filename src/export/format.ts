/**
 * What an export format is (src/export/cli_export.ts lists them): a module that writes a loaded
 * run in another program's format.
 */
import type { LoadedRun } from "../run/run_dir.ts";

/** What a format gets besides the run and --out. */
export interface ExportOptions {
  /** --task: the task a format that shows one task is for (null for the others). */
  task: string | null;
  /** Progress lines (stderr). */
  log: (line: string) => void;
}

/** One export format. */
export interface ExportFormat {
  /**
   * Writes the export of `run` to `out`, each file atomically: into the folder `out` (which
   * exists), or as the one file `out` for a format whose entry says `out: "file"`. Returns the
   * paths written. Problems the user can fix are UserErrors.
   */
  write(run: LoadedRun, out: string, opts: ExportOptions): Promise<string[]>;
}
