/**
 * A small seeded PRNG for data generation (corpus programs, task pairs, batch order).
 * Integer-only arithmetic (splitmix32-style mixing), so every machine draws the same sequence.
 * Weight initialisation does not use this: its Gaussians come from the WASM `randn` kernel.
 */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = (seed >>> 0) ^ 0x9E3779B9;
  }

  /** Next 32-bit unsigned integer. */
  u32(): number {
    this.#s = (this.#s + 0x9E3779B9) >>> 0;
    let z = this.#s;
    z = Math.imul(z ^ (z >>> 16), 0x85EBCA6B) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xC2B2AE35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new Error(`Rng.int: n must be >= 1, got ${n}`);
    return Math.floor((this.u32() / 4294967296) * n);
  }

  /** Uniform float in [0, 1) (exact: a 32-bit integer over 2^32). */
  float(): number {
    return this.u32() / 4294967296;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.float() < p;
  }

  /** A uniformly chosen element. */
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }

  /** A new generator whose stream depends on this one's seed and `salt` (for independent streams). */
  fork(salt: number): Rng {
    return new Rng(this.u32() ^ Math.imul(salt >>> 0, 0x27D4EB2F));
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** Internal state, for saving and restoring a stream position. */
  get state(): number {
    return this.#s;
  }
  set state(s: number) {
    this.#s = s >>> 0;
  }
}
