/**
 * A dma-buf owned (or borrowed) through its fd.
 *
 * @module
 */
import type { Kernel, UserBuffer } from "../kernel/types.ts";
import { getKernel } from "../kernel/select.ts";
import { type ErrnoError, errnoError } from "../errors.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import {
  F_DUPFD_CLOEXEC,
  F_GETFL,
  MAP_SHARED,
  O_ACCMODE,
  O_RDONLY,
  POLLIN,
  POLLOUT,
  PROT_READ,
  PROT_WRITE,
  SEEK_END,
} from "../uapi/constants.ts";
import {
  DMA_BUF_IOCTL_EXPORT_SYNC_FILE,
  DMA_BUF_IOCTL_IMPORT_SYNC_FILE,
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_NAME_LEN,
  DMA_BUF_SET_NAME_B,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
} from "../uapi/dma_buf.ts";
import { type DmaBufInfo, parseFdinfo } from "./fdinfo.ts";
import { type CpuAccess, DmaBufMapping, syncDirection } from "./mapping.ts";
import { adoptSyncFile, type FenceAccess, fenceFlags, SyncFile } from "./fence.ts";
import { waitForEvents, type WaitOptions } from "./wait.ts";

/** Options for {@linkcode DmaBuf.from}. */
export interface DmaBufFromOptions {
  /**
   * Whether the DmaBuf owns the fd and closes it on `close()`. Default `true`. A borrowed fd
   * (`false`) stays open; the caller keeps closing it.
   */
  owned?: boolean;
  /** The kernel the fd belongs to; default: the kernel in use. */
  kernel?: Kernel;
}

/** Options for {@linkcode DmaBuf.map}. */
export interface MapOptions {
  /** Where to start, in bytes; a multiple of the page size. Default 0. */
  offset?: number;
  /** How many bytes; default: to the end of the buffer. Rounded up to pages by the kernel. */
  length?: number;
  /**
   * What the CPU will do. Default `"readwrite"`. The mapping is writable whenever the fd is
   * (`O_RDWR`), so a stray write is a coherence bug rather than a fault; only a buffer whose fd
   * is `O_RDONLY` is mapped read-only — writing through such a view faults, as in C.
   */
  access?: CpuAccess;
}

const encoder = new TextEncoder();
const kAdopt = Symbol("adopt");
const SYNC_RETRIES = 1000;

function isRetryable(e: unknown): boolean {
  const code = (e as ErrnoError)?.errno;
  return code === Errno.EINTR || code === Errno.EAGAIN;
}

/**
 * Writes an ASCII `s` shorter than the buffer into `out`; -1 when `s` is longer or not ASCII
 * (then TextEncoder does it). Short names are the rule, and a loop beats an encoder call.
 */
function asciiInto(s: string, out: Uint8Array): number {
  const n = s.length;
  if (n >= out.length) return -1;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    out[i] = c;
  }
  return n;
}

function checkSize(value: unknown, what: string, syscall: string, min: number): number {
  if (typeof value !== "number" || !Number.isSafeInteger(value) || value < min) {
    throw errnoError(Errno.EINVAL, syscall, {
      detail: `${what} must be a safe integer ≥ ${min}, got ${String(value)}`,
    });
  }
  return value;
}

/**
 * A dma-buf: a buffer that devices and processes share through an fd.
 *
 * Made by {@linkcode DmaHeap.allocate}, {@linkcode DmaBuf.dup}, or {@linkcode DmaBuf.from} for
 * an fd that came from elsewhere (a camera, a GPU driver). It has `fd`, `kernel` and `closed`;
 * `close()` (or `using`) is idempotent, unmaps every mapping made from this object (detaching
 * their views), and closes the fd if owned; every other method of a closed buffer throws
 * `Deno.errors.BadResource` ("Cannot map a closed DmaBuf"). A buffer that is garbage-collected
 * without `close()` has its mappings unmapped and its fd closed by a best-effort backstop
 * (counted by {@linkcode leakedCount}).
 */
export class DmaBuf extends FdResource {
  // The base holds the truth; these copies keep the hot paths free of getter calls.
  readonly #kernel: Kernel;
  readonly #fd: number;
  #size: number | undefined;
  #sync: UserBuffer | undefined;
  #name: UserBuffer | undefined;
  #fdinfo: string | undefined;
  #mappings: Set<DmaBufMapping> | undefined;

  /**
   * Internal: use {@linkcode DmaBuf.from} or a heap's `allocate()`.
   *
   * @param token Internal token.
   * @param kernel The kernel.
   * @param fd The fd.
   * @param size The size if known.
   * @param owned Whether `close()` closes the fd.
   */
  constructor(
    token: typeof kAdopt,
    kernel: Kernel,
    fd: number,
    size: number | undefined,
    owned: boolean,
  ) {
    if (token !== kAdopt) throw new TypeError("Use DmaBuf.from(fd) to wrap a dma-buf fd");
    super(kernel, fd, "DmaBuf", owned);
    this.#kernel = kernel;
    this.#fd = fd;
    this.#size = size;
  }

  /**
   * Wraps a dma-buf fd that came from elsewhere, after checking (through
   * `/proc/self/fdinfo/<fd>`) that it is one.
   *
   * @param fd The fd.
   * @param options Ownership and kernel.
   * @returns The buffer.
   * @throws {Deno.errors.BadResource} `EBADF` if the fd is not open.
   * @throws {ErrnoError} `EINVAL` if the fd is not a dma-buf.
   *
   * @example Borrowing an fd
   * ```ts
   * import { DmaBuf, openHeap } from "@dmabuf/dmabuf";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using buf = heap.allocate(8192);
   * using view = DmaBuf.from(buf.fd, { owned: false });
   * assert.equal(view.size, 8192);
   * ```
   */
  static from(fd: number, options: DmaBufFromOptions = {}): DmaBuf {
    const kernel = options.kernel ?? getKernel();
    checkSize(fd, "fd", "DmaBuf.from", 0);
    let text: string;
    try {
      text = kernel.readText(`/proc/self/fdinfo/${fd}`);
    } catch (e) {
      if ((e as ErrnoError).errno === Errno.ENOENT) {
        throw errnoError(Errno.EBADF, "DmaBuf.from", { detail: `fd ${fd} is not open` });
      }
      throw e;
    }
    const info = parseFdinfo(text);
    if (info === undefined) {
      throw errnoError(Errno.EINVAL, "DmaBuf.from", {
        detail: `fd ${fd} is not a dma-buf (its fdinfo has no exp_name)`,
      });
    }
    return new DmaBuf(kAdopt, kernel, fd, info.size, options.owned ?? true);
  }

  /** The size in bytes (the kernel's, i.e. rounded up to pages). */
  get size(): number {
    this.checkOpen("size");
    return this.#size ??= this.#kernel.lseek(this.#fd, 0, SEEK_END);
  }

  /** The exporter's name, e.g. `"system"`. Reads fdinfo. */
  get exporter(): string {
    return this.info().exporter;
  }

  /** The buffer's name, or `undefined` if never set. Reads fdinfo. */
  get name(): string | undefined {
    return this.info().name;
  }

  /**
   * What the kernel reports about this buffer (`/proc/self/fdinfo/<fd>`).
   *
   * @returns Size, reference count, exporter, name, inode, flags.
   * @throws {ErrnoError} If fdinfo cannot be read.
   */
  info(): DmaBufInfo {
    this.checkOpen("inspect");
    const info = parseFdinfo(
      this.#kernel.readText(this.#fdinfo ??= `/proc/self/fdinfo/${this.#fd}`),
    );
    if (info === undefined) {
      throw errnoError(Errno.EINVAL, "DmaBuf.info", {
        detail: `fd ${this.#fd} is no longer a dma-buf (closed behind this object's back?)`,
      });
    }
    return info;
  }

  /**
   * Names the buffer (`DMA_BUF_SET_NAME_B`); the name shows in fdinfo, `/proc/<pid>/maps` and
   * debugfs. At most 31 bytes of UTF-8; `""` is allowed.
   *
   * @param name The name.
   * @throws {ErrnoError} `EINVAL` if the name is 32 bytes or longer or contains NUL.
   */
  setName(name: string): void {
    this.checkOpen("name");
    const syscall = "ioctl(DMA_BUF_SET_NAME_B)";
    if (typeof name !== "string" || name.includes("\0")) {
      throw errnoError(Errno.EINVAL, syscall, { detail: "the name must be a string without NUL" });
    }
    // One 32-byte argument per buffer, reused: encodeInto stops at 32 bytes, so a name that
    // does not fit is detected without encoding it whole.
    const arg = this.#name ??= this.#kernel.userBuffer(DMA_BUF_NAME_LEN);
    let written = asciiInto(name, arg.bytes);
    let read = name.length;
    if (written < 0) ({ read, written } = encoder.encodeInto(name, arg.bytes));
    if (read < name.length || written >= DMA_BUF_NAME_LEN) {
      const length = encoder.encode(name).length;
      throw errnoError(Errno.EINVAL, syscall, {
        detail: `the name is ${length} bytes; the kernel keeps at most ${DMA_BUF_NAME_LEN - 1}`,
      });
    }
    arg.bytes[written] = 0;
    this.#kernel.ioctl(this.#fd, DMA_BUF_SET_NAME_B, arg, "DMA_BUF_SET_NAME_B");
  }

  /**
   * Duplicates the fd (`F_DUPFD_CLOEXEC`): a second owner of the same buffer.
   *
   * @returns A new DmaBuf that owns the new fd.
   */
  dup(): DmaBuf {
    this.checkOpen("dup");
    const fd = this.#kernel.fcntl(this.#fd, F_DUPFD_CLOEXEC, 0);
    return new DmaBuf(kAdopt, this.#kernel, fd, this.#size, true);
  }

  /**
   * Maps the buffer, or a page-aligned range of it, into this process (`MAP_SHARED`).
   *
   * @param options Range and access.
   * @returns The mapping; unmap it, or let `using` or `close()` do it.
   * @throws {ErrnoError} `EINVAL` for a range outside the buffer or an unaligned offset,
   * `EACCES` for write access to a read-only fd.
   */
  map(options: MapOptions = {}): DmaBufMapping {
    this.checkOpen("map");
    const syscall = "mmap";
    const page = this.#kernel.pageSize;
    const offset = checkSize(options.offset ?? 0, "offset", syscall, 0);
    if (offset % page !== 0) {
      throw errnoError(Errno.EINVAL, syscall, {
        detail: `offset ${offset} is not a multiple of the page size ${page}`,
      });
    }
    const length = checkSize(options.length ?? this.size - offset, "length", syscall, 1);
    const access = options.access ?? "readwrite";
    syncDirection(access); // validates
    let prot = PROT_READ | PROT_WRITE;
    if (access === "read" && (this.#kernel.fcntl(this.#fd, F_GETFL, 0) & O_ACCMODE) === O_RDONLY) {
      prot = PROT_READ;
    }
    const region = this.#kernel.mmap(this.#fd, length, prot, MAP_SHARED, offset);
    // The backstop unmaps it too if this buffer is collected without close().
    const untrack = this.trackMapping(region);
    const mappings = this.#mappings ??= new Set();
    const mapping = new DmaBufMapping(this, this.#kernel, region, (m) => {
      mappings.delete(m);
      untrack();
    });
    mappings.add(mapping);
    return mapping;
  }

  /**
   * Begins CPU access (`DMA_BUF_IOCTL_SYNC` START). Retries on `EINTR`/`EAGAIN` as the kernel
   * asks. For experts: prefer a mapping's `read`/`write`/`readWrite`, which pair START and END.
   *
   * @param access The direction; END must use the same.
   */
  beginCpuAccess(access: CpuAccess = "readwrite"): void {
    this.#syncIoctl(DMA_BUF_SYNC_START | syncDirection(access), "begin CPU access to");
  }

  /**
   * Ends CPU access (`DMA_BUF_IOCTL_SYNC` END) with the direction given to START.
   *
   * @param access The direction used at START.
   */
  endCpuAccess(access: CpuAccess = "readwrite"): void {
    this.#syncIoctl(DMA_BUF_SYNC_END | syncDirection(access), "end CPU access to");
  }

  #syncIoctl(flags: number, action: string): void {
    this.checkOpen(action);
    const arg = this.#sync ??= this.#kernel.userBuffer(8);
    arg.view.setUint32(0, flags, true);
    for (let attempt = 0;; attempt++) {
      try {
        this.#kernel.ioctl(this.#fd, DMA_BUF_IOCTL_SYNC, arg, "DMA_BUF_IOCTL_SYNC");
        return;
      } catch (e) {
        if (!isRetryable(e) || attempt >= SYNC_RETRIES) throw e;
      }
    }
  }

  /**
   * Gives up ownership: unmaps every mapping made from this object, closes the object (every
   * method then throws) and returns the fd **without closing it**. The caller owns the fd from
   * now on — to hand it to a Worker, another process or another library.
   *
   * @returns The fd, still open.
   * @throws {ErrnoError} `EINVAL` if this object borrows its fd (`owned: false`): it has no
   * ownership to give; `EBADF` (`Deno.errors.BadResource`) if it is closed.
   *
   * @example Handing the fd on
   * ```ts
   * import { DmaBuf, openHeap } from "@dmabuf/dmabuf";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * const buf = heap.allocate(4096);
   * const fd = buf.intoFd();
   * assert.equal(buf.closed, true);
   * using again = DmaBuf.from(fd); // owns the fd now
   * assert.equal(again.size, 4096);
   * ```
   */
  intoFd(): number {
    return this.giveUpFd("DmaBuf.intoFd");
  }

  /** Unmaps every mapping made from this object; a failure does not stop the others. */
  protected override onClose(): void {
    if (!this.#mappings?.size) return;
    for (const m of [...this.#mappings]) {
      try {
        m.unmap();
      } catch {
        // Keep going: the fd must still be closed or handed on.
      }
    }
  }

  /**
   * Exports the buffer's pending fences as a sync_file (`DMA_BUF_IOCTL_EXPORT_SYNC_FILE`): for
   * `"read"` the writers (what a reader must wait for), for `"write"` every fence. With none
   * pending the kernel gives an already signalled fence.
   *
   * @param access Whose fences: `"read"` or `"write"` (default).
   * @returns The sync file (close-on-exec); close it, or let `using` do it.
   * @throws {ErrnoError} `ENOTTY` on a kernel without `CONFIG_SYNC_FILE`; `EINVAL` for a bad
   *   access.
   *
   * @example Waiting for a buffer's writers through a sync_file
   * ```ts
   * import { openHeap } from "@dmabuf/dmabuf";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using buf = heap.allocate(4096);
   * using fence = buf.exportSyncFile("read");
   * await fence.wait({ timeout: 1000 });
   * assert.ok(fence.poll());
   * ```
   */
  exportSyncFile(access: FenceAccess = "write"): SyncFile {
    this.checkOpen("export a fence of");
    const name = "DMA_BUF_IOCTL_EXPORT_SYNC_FILE";
    const arg = this.#kernel.userBuffer(8);
    arg.view.setUint32(0, fenceFlags(access, `ioctl(${name})`), true);
    arg.view.setInt32(4, -1, true);
    this.#kernel.ioctl(this.#fd, DMA_BUF_IOCTL_EXPORT_SYNC_FILE, arg, name);
    return adoptSyncFile(this.#kernel, arg.view.getInt32(4, true));
  }

  /**
   * Adds the fence of a sync_file to the buffer's reservation object
   * (`DMA_BUF_IOCTL_IMPORT_SYNC_FILE`), as a writer (`"write"`, the default) or a reader
   * (`"read"`): later CPU access (SYNC START), `wait()` and importing drivers wait for it.
   * The sync file stays open and owned by the caller.
   *
   * @param syncFile The fence.
   * @param access As what it is added.
   * @throws {ErrnoError} `EINVAL` if the fd is not a sync_file (or is closed), `ENOTTY` without
   *   `CONFIG_SYNC_FILE`.
   *
   * @example Making one buffer wait for another's fences
   * ```ts
   * import { openHeap } from "@dmabuf/dmabuf";
   * import assert from "node:assert/strict";
   *
   * using heap = openHeap("system");
   * using a = heap.allocate(4096);
   * using b = heap.allocate(4096);
   * using fence = a.exportSyncFile("write");
   * b.importSyncFile(fence, "write");
   * await b.wait("write", { timeout: 1000 });
   * assert.ok(fence.poll());
   * ```
   */
  importSyncFile(syncFile: SyncFile, access: FenceAccess = "write"): void {
    this.checkOpen("import a fence into");
    const name = "DMA_BUF_IOCTL_IMPORT_SYNC_FILE";
    const flags = fenceFlags(access, `ioctl(${name})`);
    if (!(syncFile instanceof SyncFile)) {
      throw errnoError(Errno.EINVAL, `ioctl(${name})`, { detail: "Not a SyncFile" });
    }
    const arg = this.#kernel.userBuffer(8);
    arg.view.setUint32(0, flags, true);
    arg.view.setInt32(4, syncFile.fd, true);
    this.#kernel.ioctl(this.#fd, DMA_BUF_IOCTL_IMPORT_SYNC_FILE, arg, name);
  }

  /**
   * Waits, without blocking the thread, until the buffer is free for an access: `"read"` —
   * every writer has finished (`POLLIN` on the dma-buf fd); `"write"` — every reader and writer
   * has (`POLLOUT`). Resolves at once when no fences are pending.
   *
   * @param access `"read"` or `"write"` (default).
   * @param options `timeout` in ms and an abort `signal`.
   * @throws {Deno.errors.TimedOut} `ETIMEDOUT` when the timeout passes first.
   * @throws {DOMException} The signal's reason (`AbortError`) when aborted.
   *
   * @example Waiting before reading
   * ```ts
   * import { openHeap } from "@dmabuf/dmabuf";
   *
   * using heap = openHeap("system");
   * using buf = heap.allocate(4096);
   * await buf.wait("read", { timeout: 1000 }); // nobody writes: resolves at once
   * ```
   */
  async wait(access: FenceAccess = "write", options: WaitOptions = {}): Promise<void> {
    this.checkOpen("wait on");
    const events = fenceFlags(access, "poll") === DMA_BUF_SYNC_READ ? POLLIN : POLLOUT;
    await waitForEvents(this.#kernel, this.#fd, events, options, `dma-buf ${access} access`);
  }
}

/**
 * Wraps a fresh fd the library just got from the kernel (an allocation) and, when `name` is
 * given, names it; if naming fails the buffer is closed before the error is rethrown, so a
 * failed allocation leaves no fd behind. Internal to the library (heaps, udmabuf).
 *
 * @param kernel The kernel.
 * @param fd The new dma-buf fd, now owned by the buffer.
 * @param size The size if known.
 * @param name A name to set.
 * @returns The buffer.
 */
export function adoptDmaBuf(kernel: Kernel, fd: number, size?: number, name?: string): DmaBuf {
  const buf = new DmaBuf(kAdopt, kernel, fd, size, true);
  if (name !== undefined) {
    try {
      buf.setName(name);
    } catch (e) {
      buf.close();
      throw e;
    }
  }
  return buf;
}
