/**
 * One WebAssembly linear memory holds every tensor: the arena hands out byte offsets (bump
 * allocation, 64-byte aligned) and typed views onto them. Nothing is copied between JS and WASM
 * per call; kernels receive offsets. Runs unchanged in a browser.
 */
import { KernelError } from "../errors.ts";

const PAGE = 65536;
const ALIGN = 64;
/** The first bytes stay free for the AssemblyScript stub runtime's data. */
export const ARENA_BASE = 1 << 16;

declare const u8Brand: unique symbol;
/**
 * A byte offset of u8 data (AbsTopK's masks): a number the type checker keeps apart, so an f32
 * buffer cannot be passed where a kernel reads one byte per entry.
 */
export type U8Ptr = number & { readonly [u8Brand]: true };

/** The u8 buffer `bytes` bytes into another. */
export function u8At(p: U8Ptr, bytes: number): U8Ptr {
  return (p + bytes) as U8Ptr;
}

/** A tensor in the arena: byte offset + shape (row-major over the shape). */
export interface Tensor {
  readonly ptr: number;
  readonly shape: readonly number[];
  readonly size: number;
}

export class Arena {
  #top = ARENA_BASE;
  /** reset() never releases memory below this: tensors that must outlive any scratch scope. */
  #floor = ARENA_BASE;
  constructor(readonly memory: WebAssembly.Memory, readonly maxBytes: number) {}

  /** Bytes currently allocated (high-water mark of the bump pointer). */
  get used(): number {
    return this.#top;
  }

  /** Reserves `bytes` bytes; grows the memory when needed. */
  allocBytes(bytes: number, what = "tensor"): number {
    const ptr = Math.ceil(this.#top / ALIGN) * ALIGN;
    const end = ptr + bytes;
    if (end > this.maxBytes) {
      throw new KernelError(
        "arena",
        `out of memory allocating ${what} (${bytes} bytes; ${ptr} in use of ${this.maxBytes})`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.#top = end;
    return ptr;
  }

  /** n bytes of u8 data (contents undefined). */
  u8Buffer(n: number, what = "u8 buffer"): U8Ptr {
    return this.allocBytes(n, what) as U8Ptr;
  }

  /** Allocates a zeroed f32 tensor (also used for i32 data: both are 4 bytes). */
  tensor(shape: readonly number[], what = "tensor"): Tensor {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) {
        throw new KernelError("arena", `bad shape [${shape.join(", ")}] for ${what}`);
      }
    }
    const size = shape.reduce((a, b) => a * b, 1);
    const ptr = this.allocBytes(size * 4, what);
    this.f32(ptr, size).fill(0);
    return { ptr, shape: [...shape], size };
  }

  /** Position to return to with `reset` (scratch allocations). */
  mark(): number {
    return this.#top;
  }

  /**
   * Releases everything allocated since `mark` (scratch). Releasing memory below what `keep()`
   * protected is a programming error (some tensor there outlives the scope): it throws.
   */
  reset(mark: number): void {
    if (mark < this.#floor) {
      throw new KernelError(
        "arena",
        `reset to ${mark} would release kept memory (kept up to ${this.#floor}): a tensor ` +
          `allocated inside a scratch scope must outlive it`,
      );
    }
    this.#top = mark;
  }

  /** Protects everything allocated so far from reset() (long-lived buffers, like activations). */
  keep(): void {
    this.#floor = this.#top;
  }

  /**
   * For the owner of the last kept span [mark, end): releases it to reallocate, provided nothing
   * was allocated after it; returns whether it did.
   */
  release(mark: number, end: number): boolean {
    if (this.#top !== end || this.#floor !== end) return false;
    this.#top = mark;
    this.#floor = Math.min(this.#floor, mark);
    return true;
  }

  /**
   * Ends a scope that owns everything allocated since `mark`, kept or not (one pruning task):
   * frees it all, and nothing above `mark` may be used afterwards.
   */
  restore(mark: number): void {
    this.#top = mark;
    this.#floor = Math.min(this.#floor, mark);
  }

  /**
   * Moves the bump pointer to `top` (kept memory included): for an arena that mirrors another
   * one's allocations, the WebGPU device thread's, whose kernels take their scratch above the
   * command thread's top at the time it recorded them.
   */
  moveTo(top: number): void {
    this.#top = top;
    this.#floor = Math.min(this.#floor, top);
  }

  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }
  u32(ptr: number, n: number): Uint32Array {
    return new Uint32Array(this.memory.buffer, ptr, n);
  }
  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, n);
  }
  /** The tensor's data as f32. */
  view(t: Tensor): Float32Array {
    return this.f32(t.ptr, t.size);
  }
  /** The tensor's data as i32. */
  viewI32(t: Tensor): Int32Array {
    return this.i32(t.ptr, t.size);
  }
}
