/**
 * A CPU mapping of a dma-buf, and scoped CPU access bracketed by `DMA_BUF_IOCTL_SYNC`.
 *
 * @module
 */
import type { Kernel, MappedRegion } from "../kernel/types.ts";
import { argumentError, closedError, errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_WRITE } from "../uapi/dma_buf.ts";

/** The direction of CPU access: what the CPU will do with the bytes. */
export type CpuAccess = "read" | "write" | "readwrite";

/** How long SYNC START may block the thread by default, in ms (see `CpuAccessOptions`). */
export const DEFAULT_SYNC_TIMEOUT_MS = 5000;

/** Options of a CPU access bracketed by `DMA_BUF_IOCTL_SYNC` START and END. */
export interface CpuAccessOptions {
  /**
   * Milliseconds SYNC START may block the thread waiting for the buffer's implicit fences — a
   * device still writing (before a read), or still reading or writing (before a write) — before
   * it gives up with a `TimedOut` error (`ETIMEDOUT`) and no access begins. Default
   * 5000; `0` fails at once while any fence is pending.
   *
   * The kernel itself waits without a limit (`dma_buf_begin_cpu_access()` →
   * `dma_resv_wait_timeout(…, MAX_SCHEDULE_TIMEOUT)` in drivers/dma-buf/dma-buf.c), so a fence
   * that never signals (a held device queue, an unsignalled sw_sync point) would hang the
   * process there: the library first polls the fd (`POLLIN` for a read, `POLLOUT` for a write,
   * as `dma_buf_poll()` reports the same fences) and enters the ioctl only once they have
   * signalled. To wait without blocking the thread, `await buf.wait(...)` first.
   */
  timeout?: number;
}

/** Returns the `DMA_BUF_SYNC_*` direction bits for an access. */
export function syncDirection(access: CpuAccess): number {
  switch (access) {
    case "read":
      return DMA_BUF_SYNC_READ;
    case "write":
      return DMA_BUF_SYNC_WRITE;
    case "readwrite":
      return DMA_BUF_SYNC_RW;
  }
}

/** What a mapping needs from its buffer; kept narrow so the two files do not import each other. */
export interface MappingOwner {
  /** `DMA_BUF_IOCTL_SYNC` START with these direction bits, after the bounded fence wait. */
  beginCpuAccess(access: CpuAccess, options?: CpuAccessOptions): void;
  /** `DMA_BUF_IOCTL_SYNC` END with these direction bits. */
  endCpuAccess(access: CpuAccess): void;
}

// A view handed out keeps its mapping (and so its buffer) reachable, so the GC backstop does
// not unmap memory that a view the user holds still shows. The view holds its mapping in a
// hidden (non-enumerable, symbol-keyed) property: a plain strong edge, so a dead mapping and its
// view are an ordinary garbage cycle that the young-generation GC collects. (A WeakMap from view
// to mapping — the mapping holding the view and the map's entry holding the mapping — is an
// ephemeron cycle that only a full mark-compact can break: every mapping whose bytes were ever
// taken survived into the old generation, about 100 MB of RSS over 10^5 map/unmap cycles; see
// the leak soak in the README.) A view the user derives (`subarray`, `.buffer`) does not keep
// the mapping alive; when the backstop unmaps, such views are detached (length 0), never left
// pointing at unmapped memory.
const kMapping = Symbol("dmabuf.mapping");

/**
 * The scoped CPU access open on a buffer (its START made, its END not yet): the outermost
 * `read`/`write`/`readWrite` callback's direction, and how many callbacks share it. A callback
 * that starts while one is running — nested inside it, or an async one still pending — joins it
 * when the open direction covers its own (no second SYNC START, and the END is made once, when
 * the last callback finishes); otherwise it is refused (`EBUSY`): the kernel's SYNC does not
 * nest, and a START(READ) in the middle of a write access invalidates, on a non-coherent CPU, the
 * lines the write has not cleaned yet.
 */
interface OpenAccess {
  readonly access: CpuAccess;
  readonly bits: number;
  users: number;
}
const openAccess = new WeakMap<MappingOwner, OpenAccess>();

function name(access: CpuAccess): string {
  return access === "readwrite" ? "readWrite" : access;
}

function isPromiseLike(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as any).then === "function";
}

/**
 * A live `mmap` of a dma-buf, made by {@linkcode DmaBuf.map}.
 *
 * Unmapping — by {@linkcode unmap}, by `using`, or when the buffer is closed — detaches every
 * view the mapping handed out: afterwards they have length 0 and reads give `undefined`, so a
 * stale view can never touch unmapped memory.
 *
 * CPU access belongs inside {@linkcode read}, {@linkcode write} or {@linkcode readWrite}, which
 * send `DMA_BUF_IOCTL_SYNC` START before and END after the callback with the same direction,
 * END even when the callback throws or its promise rejects. The kernel's SYNC does not nest, so
 * one access at a time is open per buffer (across its mappings): a callback that starts while
 * another is running — nested in it, or while an async one is pending — joins the open access
 * when its direction is covered (a `read` inside a `readWrite`, a second `read`): no second
 * START, and the END is sent once, when the last of them finishes. Otherwise it throws `EBUSY`
 * (`Deno.errors.Busy`) before any sync: a START(READ) inside a write access would, on a
 * non-coherent CPU, invalidate the lines the write has not cleaned yet.
 *
 * A mapping made with `access: "read"` is read-only: {@linkcode write} and
 * {@linkcode readWrite} throw a `TypeError` before any sync or access. When the fd itself is
 * read-only (`O_RDONLY`) the memory is mapped `PROT_READ`, where a store would kill the process
 * with SIGSEGV (JavaScript has no read-only typed array); such a mapping never hands out a view
 * of that memory: {@linkcode bytes} and the views given to {@linkcode read} are copies, so a
 * stray store changes only the copy. That costs one copy of the mapped length per call; what
 * remains unguarded is {@linkcode address}, which FFI code can still write through.
 *
 * **Moved buffers.** User code can move a view's ArrayBuffer away (`view.buffer.transfer()`,
 * `structuredClone(x, { transfer })`, `postMessage(x, [buffer])`); the view the library handed
 * out is then detached, and the moved ArrayBuffer is out of the library's reach. The mapping
 * keeps working (the next {@linkcode bytes} is a new view over the same memory). On Linux the
 * moved ArrayBuffer aliases the mapping until it is unmapped and reads zeros afterwards (the
 * library puts anonymous zero pages in place of the dma-buf pages instead of unmapping, because
 * JavaScript cannot tell when the moved ArrayBuffer is collected, so that range of address space
 * is kept for the life of the process). On the simulated kernel the bytes leave with the moved
 * ArrayBuffer: it keeps them, and the buffer reads zeros from then on. Nothing faults on either.
 */
export class DmaBufMapping {
  #owner: MappingOwner;
  #kernel: Kernel;
  #region: MappedRegion | undefined;
  #view: Uint8Array | undefined;
  #onUnmap: (m: DmaBufMapping) => void;
  /** The offset in the buffer where the mapping starts (a multiple of the page size). */
  readonly offset: number;
  /** The mapped length in bytes. */
  readonly length: number;
  /** The user-space address of the mapping, as C would see it (for ioctl structs). */
  readonly address: number;
  /** The access the mapping was made for; `"read"` makes it read-only. */
  readonly access: CpuAccess;
  /**
   * Whether the memory is mapped writable (`PROT_WRITE`). False only for a read-only fd; then
   * every view this mapping hands out is a copy.
   */
  readonly writable: boolean;

  /**
   * Used by {@linkcode DmaBuf.map}; not meant to be called directly.
   *
   * @param owner The buffer, for CPU-access syncs.
   * @param kernel The kernel that made the mapping.
   * @param region The mapping.
   * @param onUnmap Called once when the mapping goes away.
   * @param access The access asked for; default `"readwrite"`.
   * @param writable Whether the memory is mapped `PROT_WRITE`; default true.
   */
  constructor(
    owner: MappingOwner,
    kernel: Kernel,
    region: MappedRegion,
    onUnmap: (m: DmaBufMapping) => void,
    access: CpuAccess = "readwrite",
    writable = true,
  ) {
    this.#owner = owner;
    this.#kernel = kernel;
    this.#region = region;
    this.#onUnmap = onUnmap;
    this.offset = region.offset;
    this.length = region.length;
    this.address = region.address;
    this.access = access;
    this.writable = writable;
  }

  /** True once unmapped. */
  get closed(): boolean {
    return this.#region === undefined;
  }

  /**
   * The mapped bytes, without any cache maintenance. Prefer {@linkcode read} and
   * {@linkcode write}; use this between your own `beginCpuAccess`/`endCpuAccess`. For a
   * mapping that is not {@linkcode writable}, a copy taken now.
   *
   * @throws {Deno.errors.BadResource} If the mapping was unmapped.
   */
  get bytes(): Uint8Array {
    const region = this.#region;
    if (region === undefined) throw closedError("access", "DmaBufMapping");
    if (!this.writable) {
      return new Uint8Array(region.buffer, region.byteOffset, region.length).slice();
    }
    let view = this.#view;
    if (view === undefined || view.byteLength === 0) {
      view = new Uint8Array(region.buffer, region.byteOffset, region.length);
      Object.defineProperty(view, kMapping, { value: this });
      this.#view = view;
    }
    return view;
  }

  /**
   * Runs `fn` with the bytes between SYNC START|READ and END|READ.
   *
   * @param fn Reads the bytes; may be async.
   * @param options `timeout`: how long SYNC START may wait for pending fences (default 5000 ms).
   * @returns What `fn` returns (a promise if `fn` returns one).
   * @throws {ErrnoError} If a sync ioctl fails, or the mapping was unmapped.
   * @throws {Deno.errors.TimedOut} `ETIMEDOUT` when fences on the buffer stay pending past the
   * timeout; `fn` is not called.
   * @throws {Deno.errors.Busy} `EBUSY` inside (or during) a `write` access to the same buffer,
   * before any sync; see the class notes.
   *
   * @example Reading a buffer
   * ```ts
   * import { openHeap } from "@dmabuf/dmabuf";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using buf = heap.allocate(4096);
   * using map = buf.map();
   * assert.equal(map.read((b) => b[0]), 0);
   * ```
   */
  read<T>(fn: (bytes: Uint8Array) => T, options?: CpuAccessOptions): T {
    return this.#scoped("read", fn, options);
  }

  /**
   * Runs `fn` with the bytes between SYNC START|WRITE and END|WRITE.
   *
   * @param fn Writes the bytes; may be async.
   * @param options `timeout`: how long SYNC START may wait for pending fences (default 5000 ms).
   * @returns What `fn` returns (a promise if `fn` returns one).
   * @throws {ErrnoError} If a sync ioctl fails, or the mapping was unmapped.
   * @throws {Deno.errors.TimedOut} `ETIMEDOUT` when fences on the buffer stay pending past the
   * timeout; `fn` is not called.
   * @throws {TypeError} `EINVAL` on a read-only mapping (`access: "read"`), before any access.
   * @throws {Deno.errors.Busy} `EBUSY` inside (or during) an access of another direction on the
   * same buffer, before any sync; see the class notes.
   *
   * @example Filling a buffer
   * ```ts
   * import { openHeap } from "@dmabuf/dmabuf";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using buf = heap.allocate(4096);
   * using map = buf.map();
   * map.write((b) => b.fill(0x42));
   * assert.equal(map.read((b) => b[4095]), 0x42);
   * ```
   */
  write<T>(fn: (bytes: Uint8Array) => T, options?: CpuAccessOptions): T {
    return this.#scoped("write", fn, options);
  }

  /**
   * Runs `fn` with the bytes between SYNC START|RW and END|RW.
   *
   * @param fn Reads and writes the bytes; may be async.
   * @param options `timeout`: how long SYNC START may wait for pending fences (default 5000 ms).
   * @returns What `fn` returns (a promise if `fn` returns one).
   * @throws {ErrnoError} If a sync ioctl fails, or the mapping was unmapped.
   * @throws {Deno.errors.TimedOut} `ETIMEDOUT` when fences on the buffer stay pending past the
   * timeout; `fn` is not called.
   * @throws {TypeError} `EINVAL` on a read-only mapping (`access: "read"`), before any access.
   * @throws {Deno.errors.Busy} `EBUSY` inside (or during) an access of another direction on the
   * same buffer, before any sync; see the class notes.
   *
   * @example Incrementing every byte
   * ```ts
   * import { openHeap } from "@dmabuf/dmabuf";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using buf = heap.allocate(4096);
   * using map = buf.map();
   * map.readWrite((b) => b.forEach((v, i) => (b[i] = v + 1)));
   * assert.equal(map.read((b) => b[7]), 1);
   * ```
   */
  readWrite<T>(fn: (bytes: Uint8Array) => T, options?: CpuAccessOptions): T {
    return this.#scoped("readwrite", fn, options);
  }

  #scoped<T>(access: CpuAccess, fn: (bytes: Uint8Array) => T, options?: CpuAccessOptions): T {
    if (typeof fn !== "function") {
      throw argumentError("type", `DmaBufMapping.${name(access)}`, "fn", "must be a function");
    }
    if (this.#region === undefined) throw closedError("access", "DmaBufMapping");
    if (access !== "read" && this.access === "read") {
      throw argumentError(
        "type",
        `DmaBufMapping.${name(access)}`,
        "this",
        'is a read-only mapping (access: "read"); map with access "write" or "readwrite" to write',
      );
    }
    // A copy of read-only memory is taken after START, so it shows what the device wrote.
    const bytes = this.writable ? this.bytes : undefined;
    const owner = this.#owner, bits = syncDirection(access);
    const open = openAccess.get(owner);
    if (open) {
      if ((open.bits & bits) !== bits) {
        throw errnoError(Errno.EBUSY, "", {
          detail:
            `DmaBufMapping.${name(access)}: a ${
              name(open.access)
            } access to this buffer is still open (its callback has not finished); SYNC does not ` +
            `nest, so a ${name(access)} cannot start inside it. Use the bytes the open ` +
            `callback got, make the outer access readWrite, or wait for it to finish`,
        });
      }
      open.users++;
    } else {
      owner.beginCpuAccess(access, options);
      openAccess.set(owner, { access, bits, users: 1 });
    }
    let result: T;
    try {
      result = fn(bytes ?? this.bytes);
    } catch (e) {
      this.#leave(true);
      throw e;
    }
    if (isPromiseLike(result)) {
      return Promise.resolve(result).then(
        (v) => {
          this.#leave(false);
          return v;
        },
        (e) => {
          this.#leave(true);
          throw e;
        },
      ) as T;
    }
    this.#leave(false);
    return result;
  }

  /**
   * One callback sharing the open access finished: the last one makes the END, with the
   * direction the access was opened with. After a failed callback (`quiet`), an END error is
   * swallowed: the callback's error is the one worth reporting (and the buffer may have been
   * closed inside it).
   */
  #leave(quiet: boolean): void {
    const owner = this.#owner, open = openAccess.get(owner);
    if (!open || --open.users > 0) return;
    openAccess.delete(owner);
    if (!quiet) {
      owner.endCpuAccess(open.access);
      return;
    }
    try {
      owner.endCpuAccess(open.access);
    } catch {
      // nothing more to undo
    }
  }

  /**
   * Unmaps, detaching every view handed out. Idempotent.
   *
   * @throws {ErrnoError} If `munmap` fails (the mapping counts as gone all the same).
   */
  unmap(): void {
    const region = this.#region;
    if (region === undefined) return;
    this.#region = undefined;
    this.#view = undefined;
    this.#onUnmap(this);
    this.#kernel.munmap(region);
  }

  /** Same as {@linkcode unmap}. */
  [Symbol.dispose](): void {
    this.unmap();
  }
}
