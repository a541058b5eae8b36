/**
 * A progress line for long work: bar, counts, rate, ETA and free-form fields. On a terminal it
 * redraws one line; otherwise it prints a line every `every` fraction of the work.
 */
/** English plural of a unit name: "step" → "steps", "batch" → "batches". */
export function plural(unit: string): string {
  return /(s|x|z|ch|sh)$/.test(unit) ? `${unit}es` : `${unit}s`;
}

export class Progress {
  #start = performance.now();
  /** Units already done when the clock started (see update). */
  #base = 0;
  #updates = 0;
  #lastPrinted = -1;
  readonly #tty: boolean;
  readonly #enc = new TextEncoder();

  constructor(
    readonly label: string,
    readonly total: number,
    readonly unit = "step",
    readonly every = 0.05,
    readonly out: { writeSync(b: Uint8Array): number; isTerminal(): boolean } = Deno.stderr,
  ) {
    this.#tty = out.isTerminal();
  }

  /** Reports `done` of `total` with extra fields like {loss: "3.21"}. `rate` = units per second. */
  update(done: number, fields: Record<string, string> = {}, startDone = 0): void {
    let elapsed = (performance.now() - this.#start) / 1000;
    // A bar made at its first report (a caller's lazy bar) has no time behind that first unit:
    // the clock starts there instead of claiming thousands of units per second.
    if (this.#updates++ === 0 && elapsed < 0.05) {
      this.#start = performance.now();
      this.#base = done;
      elapsed = 0;
    }
    const base = Math.max(startDone, this.#base);
    const rate = elapsed > 0 ? (done - base) / elapsed : 0;
    const eta = rate > 0 ? (this.total - done) / rate : Infinity;
    const rateText = rate > 0 ? rate.toFixed(rate < 10 ? 2 : 0) : "?";
    const frac = this.total > 0 ? done / this.total : 1;
    const width = 24;
    const filled = Math.round(frac * width);
    const bar = "#".repeat(filled) + ".".repeat(width - filled);
    const extra = Object.entries(fields).map(([k, v]) => `${k} ${v}`).join("  ");
    const line = `${this.label} [${bar}] ${done}/${this.total} ${plural(this.unit)}  ${extra}  ` +
      `${rateText} ${this.unit}/s  ETA ${formatDuration(eta)}`;
    if (this.#tty) {
      this.out.writeSync(this.#enc.encode(`\r\x1b[2K${line}`));
      if (done >= this.total) this.out.writeSync(this.#enc.encode("\n"));
    } else {
      const bucket = Math.floor(frac / this.every);
      if (bucket !== this.#lastPrinted || done >= this.total) {
        this.#lastPrinted = bucket;
        this.out.writeSync(this.#enc.encode(line + "\n"));
      }
    }
  }
}

/** Seconds as "42s", "3m05s" or "1h07m", rounded to the second first (59.6 s is "1m00s"). */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  const r = Math.round(s);
  if (r < 60) return `${r}s`;
  if (r < 3600) return `${Math.floor(r / 60)}m${String(r % 60).padStart(2, "0")}s`;
  return `${Math.floor(r / 3600)}h${String(Math.floor((r % 3600) / 60)).padStart(2, "0")}m`;
}
