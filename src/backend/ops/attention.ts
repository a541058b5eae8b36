/**
 * Causal multi-head attention with an optional attention sink (docs/method.md §1) on the backend
 * (asm/kernels/attention.ts). Feature-major activations: q, k, v, out [H·dh, N] with N = B·T,
 * channel h·dh + i of token b·T + t at (h·dh + i)·N + b·T + t. Attention never crosses sequences.
 * Pointers are byte offsets into the arena.
 *
 * Results are bit-identical for any thread count: threads split (head, sequence) pairs and the
 * sink gradient is summed over sequences in order by a second kernel. Each call borrows a little
 * per-thread scratch from the top of the arena (the kernels copy a pair's rows there so that they
 * sit contiguously in cache) and gives it back before returning.
 */
import type { ComputeBackend } from "../backend.ts";
import { KernelError } from "../../errors.ts";

export interface AttentionShape {
  /** Sequences per batch. */
  B: number;
  /** Tokens per sequence. */
  T: number;
  /** Heads. */
  H: number;
  /** Channels per head (d_head). */
  dh: number;
}

export interface AttentionForwardArgs extends AttentionShape {
  /** Output [H·dh, N]. */
  out: number;
  /** Saved probabilities [H, B, T, T]: row t holds columns 0..t, the rest is written as 0. */
  att: number;
  /** Queries, keys, values, each [H·dh, N] (separate pointers: row slices of c_attn's output). */
  q: number;
  k: number;
  v: number;
  /** Sink logits [H], or 0 for no sink. */
  sink: number;
}

export interface AttentionBackwardArgs extends AttentionShape {
  /** Gradients [H·dh, N], accumulated (+=). */
  dq: number;
  dk: number;
  dv: number;
  /** Sink gradient [H], accumulated; ignored (may be 0) when sink is 0. */
  dsink: number;
  /** Scratch [H, B, T, T]; its contents afterwards are unspecified. */
  datt: number;
  /** Gradient of the output [H·dh, N]. */
  dout: number;
  /** The forward's inputs and its saved probabilities. */
  q: number;
  k: number;
  v: number;
  att: number;
  sink: number;
}

function shapeText(s: AttentionShape): string {
  return `B=${s.B} T=${s.T} H=${s.H} dh=${s.dh}`;
}

/** Validates the shape and that each named pointer holds its tensor inside the memory. */
function check(
  be: ComputeBackend,
  kernel: string,
  s: AttentionShape,
  tensors: Record<string, [ptr: number, floats: number]>,
): void {
  const shapes = shapeText(s);
  for (const [name, v] of Object.entries({ B: s.B, T: s.T, H: s.H, dh: s.dh })) {
    if (!Number.isInteger(v) || v < 1) {
      throw new KernelError(kernel, `${name} must be a positive integer, got ${v} (${shapes})`);
    }
  }
  const memBytes = be.memory.buffer.byteLength;
  for (const [name, [ptr, floats]] of Object.entries(tensors)) {
    if (!Number.isInteger(ptr) || ptr <= 0 || ptr % 4 !== 0) {
      throw new KernelError(
        kernel,
        `pointer ${name} must be a positive multiple of 4, got ${ptr} (${shapes})`,
      );
    }
    if (ptr + floats * 4 > memBytes) {
      throw new KernelError(
        kernel,
        `${name} (${floats} floats at ${ptr}) does not fit in the ${memBytes}-byte memory (${shapes})`,
      );
    }
  }
}

/**
 * Runs fn with per-thread kernel scratch of `blocks` [dh, T rounded up to 4] f32 blocks and
 * `extra` floats.
 */
function withScratch(
  be: ComputeBackend,
  s: AttentionShape,
  blocks: number,
  extra: number,
  fn: (ptr: number) => void,
) {
  const mark = be.arena.mark();
  try {
    const tp = (s.T + 3) & ~3;
    fn(be.arena.allocBytes(be.threads * (blocks * s.dh * tp + extra) * 4, "attention scratch"));
  } finally {
    be.arena.reset(mark);
  }
}

/**
 * Flops of the forward pass: two products (q·kᵀ and p·v) over the T(T+1)/2 causal (query, key)
 * pairs of each head and sequence, a multiply and an add per channel. The backward does four.
 */
export function attentionFlops(s: AttentionShape): number {
  return 2 * s.H * s.B * s.dh * s.T * (s.T + 1);
}

/**
 * out[H·dh, N] = Σ_{j≤t} p[h,b,t,j] v[:, b·T+j] with p = softmax over keys 0..t (and the sink, if
 * any) of q·k/sqrt(dh); saves p in att [H, B, T, T]. sink [H] or 0.
 */
export function attentionForward(be: ComputeBackend, a: AttentionForwardArgs): void {
  const kernel = "attention_forward";
  const act = a.H * a.dh * a.B * a.T;
  check(be, kernel, a, {
    out: [a.out, act],
    att: [a.att, a.H * a.B * a.T * a.T],
    q: [a.q, act],
    k: [a.k, act],
    v: [a.v, act],
    ...(a.sink !== 0 ? { sink: [a.sink, a.H] } : {}),
  });
  withScratch(be, a, 4, 16, (scratch) => {
    const args = [a.out, a.att, a.q, a.k, a.v, a.sink, scratch, a.B, a.T, a.H, a.dh];
    be.run(kernel, args, attentionFlops(a));
  });
}

function backward(be: ComputeBackend, kernel: string, a: AttentionBackwardArgs): void {
  const act = a.H * a.dh * a.B * a.T;
  const att = a.H * a.B * a.T * a.T;
  check(be, kernel, a, {
    dq: [a.dq, act],
    dk: [a.dk, act],
    dv: [a.dv, act],
    datt: [a.datt, att],
    dout: [a.dout, act],
    q: [a.q, act],
    k: [a.k, act],
    v: [a.v, act],
    att: [a.att, att],
    ...(a.sink !== 0 ? { sink: [a.sink, a.H], dsink: [a.dsink, a.H] } : {}),
  });
  withScratch(be, a, 7, 0, (scratch) => {
    const { dq, dk, dv, datt, dout, q, k, v, att, sink } = a;
    const args = [dq, dk, dv, datt, dout, q, k, v, att, sink, scratch, a.B, a.T, a.H, a.dh];
    be.run(kernel, args, 2 * attentionFlops(a));
  });
  if (a.sink !== 0) {
    be.run("attention_backward_sink_sum", [a.dsink, a.datt, a.B, a.T, a.H], a.H * a.B);
  }
}

/**
 * Backward of attentionForward: accumulates dq, dk, dv [H·dh, N] and, when sink ≠ 0, dsink [H].
 * datt [H, B, T, T] is scratch.
 */
export function attentionBackward(be: ComputeBackend, a: AttentionBackwardArgs): void {
  backward(be, "attention_backward", a);
}

/**
 * attentionBackward with dq, dk, dv written instead of added to: bit for bit what zero-filled
 * dq, dk, dv get, without the fill or the reads. dsink is still accumulated.
 */
export function attentionBackwardWrite(be: ComputeBackend, a: AttentionBackwardArgs): void {
  backward(be, "attention_backward_write", a);
}
