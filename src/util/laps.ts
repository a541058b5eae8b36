/**
 * Wall time per named phase of a long computation: `lap(name)` adds the time since the last lap
 * (or since the timer started) to `timing[name]`, in seconds.
 */
export function lapTimer(): { timing: Record<string, number>; lap: (phase: string) => void } {
  const timing: Record<string, number> = {};
  let t0 = performance.now();
  const lap = (phase: string) => {
    const now = performance.now();
    timing[phase] = (timing[phase] ?? 0) + (now - t0) / 1000;
    t0 = now;
  };
  return { timing, lap };
}
