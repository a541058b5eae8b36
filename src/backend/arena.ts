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

/** A tensor in the arena: byte offset + shape (row-major over the shape). */
export interface Tensor {
  readonly ptr: number;
  readonly shape: readonly number[];
  readonly size: number;
}

export class Arena {
  #top = ARENA_BASE;
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

  reset(mark: number): void {
    this.#top = mark;
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
