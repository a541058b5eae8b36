/**
 * Work that leaves something behind to remove (a temporary folder, a part-written file) however
 * it ends: normally, with an error, or interrupted by Ctrl+C or a kill (SIGINT, SIGTERM).
 */

const SIGNALS: [Deno.Signal, number][] = Deno.build.os === "windows"
  ? [["SIGINT", 130]]
  : [["SIGINT", 130], ["SIGTERM", 143]];

/**
 * Runs `work`, then `cleanup` (synchronous; it may throw, and is retried then). On SIGINT
 * or SIGTERM during `work`, `cleanup` runs and the process exits with 128 + the signal's number,
 * as a shell reports it. A signal is handled when the event loop next turns: between awaits,
 * so within one training log interval or one batch of forward passes.
 */
export async function withCleanup<T>(cleanup: () => void, work: () => Promise<T>): Promise<T> {
  // Once interrupted, `work` fails as its files vanish: that is expected, and the exit is near.
  let interrupted: Promise<never> | null = null;
  const handlers = SIGNALS.map(([signal, code]) => {
    const handler = () => {
      interrupted ??= (async () => {
        await cleanupInterrupted(cleanup);
        Deno.exit(code);
      })();
    };
    Deno.addSignalListener(signal, handler);
    return [signal, handler] as const;
  });
  try {
    const result = await work();
    if (interrupted) await interrupted;
    return result;
  } catch (e) {
    if (interrupted) await interrupted;
    throw e;
  } finally {
    for (const [signal, handler] of handlers) Deno.removeSignalListener(signal, handler);
    try {
      cleanup();
    } catch (e) {
      // Not worth hiding the work's own result or error for.
      console.error(`thinwire: cleaning up failed: ${(e as Error).message.split("\n")[0]}`);
    }
  }
}

/**
 * `cleanup` while `work` may still have file operations in flight (an append that creates its
 * file again after the folder was emptied, so the folder's removal fails): tried until it
 * succeeds twice in a row, with a pause between, for at most about a second.
 */
async function cleanupInterrupted(cleanup: () => void): Promise<void> {
  let ok = 0;
  for (let i = 0; i < 50 && ok < 2; i++) {
    try {
      cleanup();
      ok++;
    } catch {
      ok = 0;
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** `path` and everything under it removed; nothing when it does not exist. */
export function removeQuietly(path: string): void {
  try {
    Deno.removeSync(path, { recursive: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
}
