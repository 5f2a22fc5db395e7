/**
 * A dma-buf owned (or borrowed) through its fd.
 *
 * @module
 */
import type { Kernel, MappedRegion, UserBuffer } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import {
  argumentError,
  describe,
  type ErrnoError,
  errnoError,
  instanceArg,
  intArg,
  oneOf,
  optionsArg,
  sameKernel,
  typeArg,
} from "../errors.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import {
  F_DUPFD_CLOEXEC,
  F_GETFL,
  MAP_SHARED,
  O_ACCMODE,
  O_RDONLY,
  O_RDWR,
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
import {
  type CpuAccess,
  type CpuAccessOptions,
  DEFAULT_SYNC_TIMEOUT_MS,
  DmaBufMapping,
  syncDirection,
} from "./mapping.ts";
import { adoptSyncFile, type FenceAccess, fenceFlags, SyncFile } from "./fence.ts";
import { waitForEvents, type WaitOptions } from "./wait.ts";

/** Options for {@linkcode DmaBuf.from}. */
export interface DmaBufFromOptions {
  /**
   * Whether the DmaBuf takes the fd. Default `true`: `close()` closes it. With `false` the fd
   * is borrowed: the DmaBuf works on its own close-on-exec duplicate (`F_DUPFD_CLOEXEC`), made
   * at once, and never touches the caller's fd again — the caller keeps closing its fd, and
   * closing it early (or the number being reused by another file) does not affect the DmaBuf,
   * whose `fd` is the duplicate's number.
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
   * What the CPU will do: `"read"`, `"write"` or `"readwrite"` (default). A `"read"` mapping
   * refuses `write`/`readWrite`. The memory is mapped writable whenever the fd is (`O_RDWR`), so
   * a stray store is a coherence bug rather than a fault; a buffer whose fd is `O_RDONLY` is
   * mapped `PROT_READ` and its mapping hands out only copies (see {@linkcode DmaBufMapping}).
   */
  access?: CpuAccess;
}

const encoder = new TextEncoder();
const kAdopt = Symbol("adopt");
const SYNC_RETRIES = 1000;

/**
 * One set of small ioctl arguments per kernel, shared by every buffer: the sync flags, a name,
 * a sync_file request. The ioctls that use them are synchronous, so no two calls can share one
 * at the same time. A buffer of its own per DmaBuf cost an `ArrayBuffer` and an FFI pointer
 * object for every buffer that was ever synced or named; at hundreds of thousands of buffers
 * those kept the process's RSS about 100 MB above what the live objects need (see the leak soak
 * in the README).
 */
interface Scratch {
  sync: UserBuffer;
  name: UserBuffer;
  fence: UserBuffer;
}
const scratchOf = new WeakMap<Kernel, Scratch>();

function scratch(kernel: Kernel): Scratch {
  let s = scratchOf.get(kernel);
  if (s === undefined) {
    s = {
      sync: kernel.userBuffer(8),
      name: kernel.userBuffer(DMA_BUF_NAME_LEN),
      fence: kernel.userBuffer(8),
    };
    scratchOf.set(kernel, s);
  }
  return s;
}

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

const ACCESS: readonly CpuAccess[] = ["read", "write", "readwrite"];

/** Characters a buffer name may not hold (NUL, and those that would break fdinfo's lines). */
// deno-lint-ignore no-control-regex
const CONTROL = /[\0-\x1f\x7f]/;

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
    if (size !== undefined) this.leakDetails({ size });
  }

  /**
   * Wraps a dma-buf fd that came from elsewhere, after checking (through
   * `/proc/self/fdinfo/<fd>`) that it is one. With `owned: false` the DmaBuf holds its own
   * close-on-exec duplicate of the fd (see {@linkcode DmaBufFromOptions.owned}).
   *
   * @param fd The fd.
   * @param options Ownership and kernel.
   * @returns The buffer.
   * @throws {Deno.errors.BadResource} `EBADF` if the fd is not open.
   * @throws {ErrnoError} `EINVAL` if the fd is not a dma-buf.
   * @throws {RangeError} `EINVAL` for an fd that is not an integer ≥ 0 (no system call made).
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
  static from(fd: number, options?: DmaBufFromOptions): DmaBuf {
    const where = "DmaBuf.from";
    intArg(where, "fd", fd, 0, 2 ** 31 - 1);
    const o = optionsArg(where, options);
    const kernel = kernelOption(o.kernel, "DmaBuf.from");
    const owned = typeArg(where, "options.owned", o.owned ?? true, "boolean");
    // A borrowed fd is duplicated at once: from then on only the duplicate is used, so the
    // caller closing its fd (and the number going to another file) cannot reach this object.
    let own = fd;
    if (!owned) {
      try {
        own = kernel.fcntl(fd, F_DUPFD_CLOEXEC, 0);
      } catch (e) {
        if ((e as ErrnoError).errno === Errno.EBADF) {
          throw errnoError(Errno.EBADF, where, { detail: `fd ${fd} is not open` });
        }
        throw e;
      }
    }
    let text: string;
    try {
      text = kernel.readText(`/proc/self/fdinfo/${own}`);
    } catch (e) {
      if (own !== fd) kernel.close(own);
      if ((e as ErrnoError).errno === Errno.ENOENT) {
        throw errnoError(Errno.EBADF, where, { detail: `fd ${fd} is not open` });
      }
      throw e;
    }
    const info = parseFdinfo(text);
    if (info === undefined) {
      if (own !== fd) kernel.close(own);
      throw errnoError(Errno.EINVAL, where, {
        detail: `fd ${fd} is not a dma-buf (its fdinfo has no exp_name)`,
      });
    }
    return new DmaBuf(kAdopt, kernel, own, info.size, true);
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
   * @throws {ErrnoError} `EINVAL` if the name is 32 bytes or longer or contains NUL or another
   *   control character (U+0000–U+001F, U+007F), before the ioctl.
   */
  setName(name: string): void {
    this.checkOpen("name");
    const syscall = "ioctl(DMA_BUF_SET_NAME_B)";
    typeArg("DmaBuf.setName", "name", name, "string");
    if (CONTROL.test(name)) {
      throw errnoError(Errno.EINVAL, syscall, {
        detail: `the name must be a string without NUL or control characters, got ${
          describe(name)
        } (fdinfo and debugfs print it on one line: a newline would cut it short there)`,
      });
    }
    // One 32-byte argument per kernel, reused: encodeInto stops at 32 bytes, so a name that
    // does not fit is detected without encoding it whole.
    const arg = scratch(this.#kernel).name;
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
    this.leakDetails({ name });
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
   * @throws {RangeError} `EINVAL` for an unaligned offset or a range outside the buffer, and
   *   a `TypeError` (`EINVAL`) for options that are not an object or an unknown
   *   `access` — all before any system call.
   * @throws {ErrnoError} `EACCES` for write access to a read-only fd (the message says to map
   *   with `{ access: "read" }`).
   */
  map(options?: MapOptions): DmaBufMapping {
    this.checkOpen("map");
    const where = "DmaBuf.map";
    const o = optionsArg(where, options);
    const page = this.#kernel.pageSize;
    const size = this.size;
    const offset = intArg(where, "options.offset", o.offset ?? 0, 0);
    if (offset % page !== 0) {
      throw argumentError(
        "range",
        where,
        "options.offset",
        `must be a multiple of the page size ${page}, got ${offset}`,
      );
    }
    if (offset >= size) {
      throw argumentError(
        "range",
        where,
        "options.offset",
        `is past the end of the ${size}-byte buffer, got ${offset}`,
      );
    }
    const length = intArg(where, "options.length", o.length ?? size - offset, 1);
    if (length > size - offset) {
      throw argumentError(
        "range",
        where,
        "options.length",
        `reaches past the end of the ${size}-byte buffer (offset ${offset} + length ${length})`,
      );
    }
    const access = oneOf(where, "options.access", o.access ?? "readwrite", ACCESS);
    let prot = PROT_READ | PROT_WRITE;
    if (access === "read" && (this.#kernel.fcntl(this.#fd, F_GETFL, 0) & O_ACCMODE) === O_RDONLY) {
      prot = PROT_READ;
    }
    let region: MappedRegion;
    try {
      region = this.#kernel.mmap(this.#fd, length, prot, MAP_SHARED, offset);
    } catch (e) {
      throw this.#mmapError(e, access);
    }
    // The backstop unmaps it too if this buffer is collected without close().
    const untrack = this.trackMapping(region);
    const mappings = this.#mappings ??= new Set();
    const mapping = new DmaBufMapping(
      this,
      this.#kernel,
      region,
      (m) => {
        mappings.delete(m);
        untrack();
      },
      access,
      prot !== PROT_READ,
    );
    mappings.add(mapping);
    return mapping;
  }

  /** The mmap error with its cause and fix, when the library knows them. */
  #mmapError(e: unknown, access: string): unknown {
    const err = e as ErrnoError;
    if (err.errno !== Errno.EACCES) return e;
    let mode: number;
    try {
      mode = this.#kernel.fcntl(this.#fd, F_GETFL, 0) & O_ACCMODE;
    } catch {
      return e;
    }
    if (mode === O_RDWR) return e;
    // mm/mmap.c do_mmap(): MAP_SHARED with PROT_WRITE needs FMODE_WRITE, and any mapping
    // needs FMODE_READ.
    const which = mode === O_RDONLY ? "read-only (O_RDONLY)" : "write-only (O_WRONLY)";
    return errnoError(Errno.EACCES, err.syscall ?? "mmap", {
      path: `dma-buf fd ${this.#fd}`,
      detail: `the fd is ${which} and the mapping asked for ${access} access`,
      hint: mode === O_RDONLY
        ? 'Map it with { access: "read" }, or allocate with fdFlags O_RDWR to write'
        : "A write-only fd cannot be mapped; allocate or dup it with O_RDWR",
      cause: e,
    });
  }

  /**
   * Begins CPU access (`DMA_BUF_IOCTL_SYNC` START). Retries on `EINTR`/`EAGAIN` as the kernel
   * asks. For experts: prefer a mapping's `read`/`write`/`readWrite`, which pair START and END.
   *
   * START waits for the buffer's implicit fences (a read for its writers, a write for every
   * fence), which the kernel does without a time limit; the library waits at most
   * `options.timeout` ms (default 5000, blocking the thread) and only then enters the ioctl —
   * see {@linkcode CpuAccessOptions}.
   *
   * @param access The direction; END must use the same.
   * @param options `timeout` in ms for the fence wait.
   * @throws {Deno.errors.TimedOut} `ETIMEDOUT` when fences stay pending past the timeout (no
   * access has begun: do not call END).
   * @throws {RangeError} `EINVAL` for a bad timeout.
   */
  beginCpuAccess(access: CpuAccess = "readwrite", options: CpuAccessOptions = {}): void {
    oneOf("DmaBuf.beginCpuAccess", "access", access, ACCESS);
    const { timeout = DEFAULT_SYNC_TIMEOUT_MS } = optionsArg("DmaBuf.beginCpuAccess", options);
    if (typeof timeout !== "number" || !(timeout >= 0) || timeout > 0x7fffffff) {
      throw argumentError(
        "range",
        "DmaBuf.beginCpuAccess",
        "options.timeout",
        `must be a number of milliseconds from 0 to 2^31-1, got ${describe(timeout)}`,
      );
    }
    this.checkOpen("begin CPU access to");
    this.#awaitFences(access, Math.ceil(timeout));
    this.#syncIoctl(DMA_BUF_SYNC_START | syncDirection(access), "begin CPU access to");
  }

  // The bounded wait before SYNC START: dma_buf_poll() reports the fences START would wait for
  // (POLLIN: the writers, for a read; POLLOUT: every fence, for a write). POLLERR/POLLNVAL are
  // left to the ioctl, which names the fault.
  #awaitFences(access: CpuAccess, timeout: number): void {
    const events = access === "read" ? POLLIN : POLLOUT;
    const req = [{ fd: this.#fd, events }];
    if (this.#kernel.poll(req, 0)[0] !== 0) return;
    if (timeout > 0 && this.#kernel.poll(req, timeout)[0] !== 0) return;
    throw errnoError(Errno.ETIMEDOUT, "DMA_BUF_IOCTL_SYNC", {
      path: `dma-buf fd ${this.#fd}`,
      detail: `SYNC START(${access.toUpperCase()}) would wait for fences on the buffer that did ` +
        `not signal within ${timeout} ms (a device, another process or a sw_sync timeline ` +
        "still uses it); no CPU access has begun",
      hint: `await buf.wait("${access === "read" ? "read" : "write"}", { signal }) before the ` +
        "access, which does not block the thread, or pass a longer { timeout }",
    });
  }

  /**
   * Ends CPU access (`DMA_BUF_IOCTL_SYNC` END) with the direction given to START.
   *
   * @param access The direction used at START.
   */
  endCpuAccess(access: CpuAccess = "readwrite"): void {
    oneOf("DmaBuf.endCpuAccess", "access", access, ACCESS);
    this.#syncIoctl(DMA_BUF_SYNC_END | syncDirection(access), "end CPU access to");
  }

  #syncIoctl(flags: number, action: string): void {
    this.checkOpen(action);
    const arg = scratch(this.#kernel).sync;
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
   * A DmaBuf made with `DmaBuf.from(fd, { owned: false })` gives away its own duplicate, never
   * the caller's fd.
   *
   * @throws {Deno.errors.BadResource} `EBADF` if it is closed.
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
    const arg = scratch(this.#kernel).fence;
    arg.view.setUint32(0, fenceFlags(access, "DmaBuf.exportSyncFile"), true);
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
   *   `CONFIG_SYNC_FILE`, `EXDEV` for a sync file of another kernel (before the ioctl).
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
    const flags = fenceFlags(access, "DmaBuf.importSyncFile");
    instanceArg("DmaBuf.importSyncFile", "syncFile", syncFile, SyncFile);
    sameKernel(this.#kernel, syncFile, "sync file", `ioctl(${name})`);
    const arg = scratch(this.#kernel).fence;
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
    const events = fenceFlags(access, "DmaBuf.wait") === DMA_BUF_SYNC_READ ? POLLIN : POLLOUT;
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
