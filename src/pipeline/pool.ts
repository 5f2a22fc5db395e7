/**
 * A fixed set of mapped dma-bufs that a pipeline cycles through. Its size is the pipeline's
 * backpressure: a producer gets a buffer only when one has come back.
 *
 * @module
 */
import {
  argumentError,
  closedError,
  describe,
  errnoError,
  intArg,
  optionsArg,
  typeArg,
} from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import type { DmaBuf } from "../dmabuf/buffer.ts";
import type { DmaBufMapping } from "../dmabuf/mapping.ts";

/** A buffer of a pool. */
export interface PooledBuffer {
  /** Its index in the pool, 0 … count − 1. */
  readonly index: number;
  /** The buffer. */
  readonly buffer: DmaBuf;
  /** Its whole-buffer mapping, for filling and checking (inside `read`/`write`). */
  readonly mapping: DmaBufMapping;
}

/** What allocates the pool's buffers: a `DmaHeap` or an `Allocator`. */
export interface PoolAllocator {
  /** Allocates one buffer. */
  allocate(size: number, options?: { name?: string }): DmaBuf;
}

/** Options for {@linkcode createBufferPool}. */
export interface BufferPoolOptions {
  /** How many buffers (≥ 1). */
  count: number;
  /** Bytes per buffer (rounded up to pages by the kernel). */
  size: number;
  /** Name prefix: buffer `i` is named `<name>-<i>` (fdinfo, debugfs). Default `"pool"`. */
  name?: string;
}

/**
 * A fixed pool of mapped buffers. `acquire()` waits (no polling) until one is free;
 * `recycle()` gives one back; `close()` unmaps and closes them all.
 */
export class BufferPool {
  /** Number of buffers. */
  readonly count: number;
  /** Size of each buffer in bytes. */
  readonly size: number;
  readonly #all: PooledBuffer[];
  readonly #free: PooledBuffer[];
  readonly #out = new Set<PooledBuffer>();
  readonly #waiters: (() => void)[] = [];
  #closed = false;

  /**
   * Internal: use {@linkcode createBufferPool}.
   *
   * @param buffers The buffers.
   * @param size Their size.
   */
  constructor(buffers: PooledBuffer[], size: number) {
    this.#all = buffers;
    this.#free = [...buffers];
    this.count = buffers.length;
    this.size = size;
  }

  /** Buffers free right now. */
  get available(): number {
    return this.#free.length;
  }

  /** Every buffer of the pool, in index order. */
  get buffers(): readonly PooledBuffer[] {
    return this.#all;
  }

  /** True once closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * A free buffer now, or `undefined` when all are out.
   *
   * @returns The buffer.
   */
  tryAcquire(): PooledBuffer | undefined {
    if (this.#closed) throw closedError("acquire from", "BufferPool");
    const b = this.#free.shift();
    if (b) this.#out.add(b);
    return b;
  }

  /**
   * A free buffer, waiting for a {@linkcode recycle} when none is.
   *
   * @param signal Stops waiting (rejects with its reason).
   * @returns The buffer.
   */
  async acquire(signal?: AbortSignal): Promise<PooledBuffer> {
    for (;;) {
      signal?.throwIfAborted();
      const b = this.tryAcquire();
      if (b) return b;
      await new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          const i = this.#waiters.indexOf(wake);
          if (i >= 0) this.#waiters.splice(i, 1);
          reject(signal!.reason);
        };
        const wake = () => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        };
        this.#waiters.push(wake);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    }
  }

  /**
   * Gives a buffer back to the pool (it is not closed: the pool reuses it).
   *
   * @param b A buffer this pool handed out.
   * @throws {ErrnoError} `EINVAL` for a buffer that is not out of this pool.
   */
  recycle(b: PooledBuffer): void {
    if (!this.#out.delete(b)) {
      throw errnoError(Errno.EINVAL, "BufferPool.recycle", {
        detail: "The buffer is not out of this pool",
      });
    }
    this.#free.push(b);
    this.#waiters.shift()?.();
  }

  /** Unmaps and closes every buffer, out or not. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const b of this.#all) b.buffer.close();
    this.#free.length = 0;
    this.#out.clear();
  }

  /** Same as {@linkcode close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Allocates and maps `count` buffers of `size` bytes.
 *
 * @param allocator A heap (`openHeap(...)`) or allocator.
 * @param options Count, size, name prefix.
 * @returns The pool; close it (or `using`) to free the buffers.
 * @throws {ErrnoError} What allocation or mmap throws (`ENOMEM`); buffers already made are
 *   closed first.
 *
 * @example A pool of four 64 KiB buffers
 * ```ts
 * import { openHeap } from "@dmabuf/dmabuf";
 * import { createBufferPool } from "@dmabuf/dmabuf/pipeline";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using pool = createBufferPool(heap, { count: 4, size: 65536 });
 * const b = pool.tryAcquire()!;
 * assert.equal(pool.available, 3);
 * pool.recycle(b);
 * assert.equal(pool.available, 4);
 * ```
 */
export function createBufferPool(allocator: PoolAllocator, options: BufferPoolOptions): BufferPool {
  const where = "createBufferPool";
  if (
    typeof allocator !== "object" || allocator === null || typeof allocator.allocate !== "function"
  ) {
    throw argumentError(
      "type",
      where,
      "allocator",
      `must be a heap or allocator, got ${describe(allocator)}`,
    );
  }
  if (options === undefined) {
    throw argumentError(
      "type",
      where,
      "options",
      "must be an object with count and size, got undefined",
    );
  }
  const o = optionsArg(where, options);
  const count = intArg(where, "options.count", o.count, 1, 1 << 20);
  const size = intArg(where, "options.size", o.size, 1);
  const name = typeArg(where, "options.name", o.name ?? "pool", "string");
  const buffers: PooledBuffer[] = [];
  try {
    for (let index = 0; index < count; index++) {
      const buffer = allocator.allocate(size, { name: `${name}-${index}` });
      try {
        buffers.push({ index, buffer, mapping: buffer.map() });
      } catch (e) {
        buffer.close();
        throw e;
      }
    }
  } catch (e) {
    for (const b of buffers) b.buffer.close();
    throw e;
  }
  return new BufferPool(buffers, buffers[0].buffer.size);
}
