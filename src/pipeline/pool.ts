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
import { POLLERR } from "../uapi/constants.ts";
import type { DmaBuf } from "../dmabuf/buffer.ts";
import type { DmaBufMapping } from "../dmabuf/mapping.ts";
import {
  leftoverCount,
  leftoverPolls,
  notePollErrors,
  onLeftovers,
  poolClosed,
  reclaim,
  stuckError,
} from "./_ledger.ts";

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
 *
 * A buffer that a stage still held when its `Pipeline.run` settled (aborted while a device was
 * still working on it) is not lost: `tryAcquire` and `acquire` take it back as soon as the
 * stage gives it back, a later run on that stage does too, and closing the stage returns it at
 * once.
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
    // A run that settles with buffers still in its stages: waiting acquires poll those now.
    onLeftovers(this, () => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /**
   * Buffers free right now (not counting those a stage of a settled run has given back but
   * nobody has taken back yet: the next `tryAcquire` does).
   */
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
   * A free buffer now, or `undefined` when all are out. When none is free, first takes back
   * (without waiting) what the stages of settled runs have given back.
   *
   * @returns The buffer.
   * @throws {Deno.errors.BadResource} `EBADF` once the pool is closed.
   */
  tryAcquire(): PooledBuffer | undefined {
    if (this.#closed) throw closedError("acquire from", "BufferPool");
    if (this.#free.length === 0 && leftoverCount(this) > 0) reclaim(this);
    const b = this.#free.shift();
    if (b) this.#out.add(b);
    return b;
  }

  /**
   * A free buffer, waiting for a {@linkcode recycle} when none is — or for a stage that still
   * holds a buffer of an aborted `Pipeline.run` to give it back (polling the stage's fd), or to
   * be closed.
   *
   * @param signal Stops waiting (rejects with its reason).
   * @returns The buffer.
   * @throws {DOMException} The signal's reason when aborted.
   * @throws {Deno.errors.BadResource} `EBADF` when the pool is closed (also while waiting).
   * @throws {ErrnoError} `EIO` when every buffer is held by stages of aborted runs that cannot
   *   give them back (their poll or dequeue failed): closing those stages returns them.
   */
  async acquire(signal?: AbortSignal): Promise<PooledBuffer> {
    for (;;) {
      signal?.throwIfAborted();
      const b = this.tryAcquire();
      if (b) return b;
      const polls = leftoverPolls(this);
      if (polls.size > 0) {
        await this.#untilRecycledOrReady(polls, signal);
        continue;
      }
      const stuck = stuckError(this);
      if (stuck) throw stuck;
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
   * Waits until a buffer is recycled, the pool closes, or a stage holding a buffer of a settled
   * run is ready to give it back; rejects only with `signal`'s reason.
   */
  async #untilRecycledOrReady(
    polls: ReturnType<typeof leftoverPolls>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const stop = new AbortController();
    const wake = () => stop.abort();
    this.#waiters.push(wake);
    signal?.addEventListener("abort", wake, { once: true });
    try {
      await Promise.race(
        [...polls].map(([kernel, polled]) =>
          kernel.pollAsync(polled.map((p) => p.req), -1, stop.signal).then(
            (revents) => notePollErrors(polled, revents),
            () => {
              // A failed poll (a stage's fd closed under it): those stages cannot give back.
              if (!stop.signal.aborted) notePollErrors(polled, polled.map(() => POLLERR));
            },
          )
        ),
      );
    } finally {
      stop.abort();
      const i = this.#waiters.indexOf(wake);
      if (i >= 0) this.#waiters.splice(i, 1);
      signal?.removeEventListener("abort", wake);
    }
    signal?.throwIfAborted();
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

  /**
   * Unmaps and closes every buffer, out or not (a stage that still holds one keeps the
   * dma-buf until it gives it back or closes). Idempotent. Pending `acquire`s reject with
   * `EBADF`.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    poolClosed(this);
    for (const b of this.#all) b.buffer.close();
    this.#free.length = 0;
    this.#out.clear();
    for (const wake of this.#waiters.splice(0)) wake();
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
