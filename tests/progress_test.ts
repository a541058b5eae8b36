/** The progress line: counts, bar, and a rate that is never made up from no elapsed time. */
import assert from "node:assert/strict";
import { formatDuration, plural, Progress } from "../src/util/progress.ts";

function capture() {
  const lines: string[] = [];
  const dec = new TextDecoder();
  return {
    lines,
    out: {
      writeSync(b: Uint8Array) {
        lines.push(dec.decode(b));
        return b.length;
      },
      isTerminal: () => false,
    },
  };
}

Deno.test("progress: a bar made at its first report shows no rate until time has passed", async () => {
  const c = capture();
  const p = new Progress("phase", 4, "draw", 0.01, c.out);
  p.update(1);
  assert.match(c.lines[0], /^phase \[######\.+\] 1\/4 draws .* \? draw\/s {2}ETA \?\n$/);
  await new Promise((r) => setTimeout(r, 120));
  p.update(2);
  const m = c.lines[1].match(/ ([\d.]+) draw\/s {2}ETA (\S+)/);
  assert.ok(m, c.lines[1]);
  // One unit in ~0.12 s: well under 100 per second (the old line claimed thousands).
  assert.ok(Number(m[1]) > 0 && Number(m[1]) < 10, c.lines[1]);
  p.update(4);
  assert.match(c.lines[2], /4\/4 draws .*ETA 0s\n$/);
});

Deno.test("progress: durations", () => {
  assert.equal(formatDuration(Infinity), "?");
  assert.equal(formatDuration(42.4), "42s");
  assert.equal(formatDuration(125), "2m05s");
  assert.equal(formatDuration(7322), "2h02m");
  // Rounded before it is split: never "19m60s" or "60s".
  assert.equal(formatDuration(1199.6), "20m00s");
  assert.equal(formatDuration(59.6), "1m00s");
  assert.equal(formatDuration(3599.6), "1h00m");
});

Deno.test("progress: unit plurals", () => {
  assert.deepEqual(["step", "task", "batch", "pass", "box"].map(plural), [
    "steps",
    "tasks",
    "batches",
    "passes",
    "boxes",
  ]);
  const c = capture();
  new Progress("means", 2, "batch", 0.01, c.out).update(2);
  assert.match(c.lines[0], /2\/2 batches /);
});
