/**
 * The {@linkcode Kernel} of a real Linux system, through libc FFI.
 *
 * libc is opened on the first {@linkcode linuxKernel} call (needs `--allow-ffi`), never at
 * import. Every failed call throws `errnoError(errno, syscall, { path })` with errno read from
 * `__errno_location()` right after the call.
 *
 * @module
 */
import type { Kernel, MappedRegion, PollRequest, ReceivedMessage, UserBuffer } from "./types.ts";
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { type LoadedLibc, loadLibc } from "../ffi/load.ts";
import {
  _SC_PAGESIZE,
  type Libc,
  SYSLOG_ACTION_READ_ALL,
  SYSLOG_ACTION_SIZE_BUFFER,
} from "../ffi/libc.ts";
import { MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, PROT_READ, PROT_WRITE } from "../uapi/constants.ts";
import { cString, readDir, readLink, readText } from "./_linux_fs.ts";
import { LinuxSockets } from "./_linux_socket.ts";

const MAP_FAILED = 0xffff_ffff_ffff_ffffn;
/** `open(2)`'s mode for `O_CREAT`, before the umask. */
const CREATE_MODE = 0o666;
const decoder = new TextDecoder();

/**
 * User memory of the Linux kernel: an off-heap ArrayBuffer whose address never changes, with its
 * FFI pointer made once so an ioctl costs no allocation.
 */
export class LinuxUserBuffer implements UserBuffer {
  /** The bytes. */
  readonly bytes: Uint8Array;
  /** A DataView over {@linkcode bytes}. */
  readonly view: DataView;
  /** The address of `bytes[0]`. */
  readonly address: number;
  /** The FFI pointer to `bytes[0]` (`null` for an empty buffer). */
  readonly pointer: Deno.PointerValue;

  /**
   * Allocates `size` zeroed bytes.
   *
   * @param size The length in bytes.
   */
  constructor(size: number) {
    // An explicitly created ArrayBuffer lives outside the V8 heap and never moves, so the
    // pointer taken here stays valid as long as this object (which holds `bytes`) is alive.
    const ab = new ArrayBuffer(size);
    this.bytes = new Uint8Array(ab);
    this.view = new DataView(ab);
    this.pointer = size === 0 ? null : Deno.UnsafePointer.of(ab);
    this.address = Number(Deno.UnsafePointer.value(this.pointer));
  }
}

/**
 * A live mapping; the pointer munmap needs stays private to this module.
 *
 * `buffer` is the ArrayBuffer over the mapping. User code can move it away (`transfer()`,
 * `structuredClone(…, { transfer })`, `postMessage(…, [ab])`): the old object is then detached
 * and a new one, out of our reach, aliases the mapping. Reading `buffer` after such a move
 * gives a fresh ArrayBuffer over the same memory and marks the region `moved`, so that
 * `munmap` knows an alias it cannot revoke may exist.
 */
class LinuxMappedRegion implements MappedRegion {
  readonly byteOffset = 0;
  #pointer: Deno.PointerObject | null;
  #buffer: ArrayBuffer;
  #moved = false;

  constructor(
    pointer: Deno.PointerObject,
    readonly address: number,
    readonly length: number,
    readonly offset: number,
    buffer: ArrayBuffer,
  ) {
    this.#pointer = pointer;
    this.#buffer = buffer;
  }

  /** The memory; a new ArrayBuffer if user code moved the previous one away. */
  get buffer(): ArrayBuffer {
    const p = this.#pointer;
    if (this.#buffer.detached && p !== null) {
      this.#moved = true;
      // SAFETY: the range is still mapped (`#pointer` is cleared by munmap), and this buffer is
      // detached in munmap like the first one.
      this.#buffer = Deno.UnsafePointerView.getArrayBuffer(p, this.length);
    }
    return this.#buffer;
  }

  /** The mapping's pointer, `null` once unmapped, `undefined` for a foreign region. */
  static pointerOf(region: MappedRegion): Deno.PointerObject | null | undefined {
    return #pointer in region ? (region as LinuxMappedRegion).#pointer : undefined;
  }

  /**
   * Detaches the region's own ArrayBuffer; returns whether another ArrayBuffer may still alias
   * the memory (the buffer was moved away at some point).
   */
  static revoke(region: LinuxMappedRegion): boolean {
    const buffer = region.#buffer;
    if (buffer.detached) region.#moved = true;
    else buffer.transfer(0);
    return region.#moved;
  }

  /** Marks `region` unmapped. */
  static forget(region: LinuxMappedRegion | MappedRegion): void {
    (region as LinuxMappedRegion).#pointer = null;
  }
}

let quarantined = 0;
let quarantinedCount = 0;
let quarantineCap: number | undefined;

/**
 * Bytes of address space this process keeps as anonymous zero pages because a mapping's
 * ArrayBuffer had been moved away when it was unmapped (see {@linkcode LinuxKernel.munmap}).
 * They stay for the life of the process: nothing tells JavaScript when the moved ArrayBuffer
 * dies (see {@linkcode quarantinedRegions}). Only pages written through the moved buffer cost
 * memory; reads map the shared zero page.
 */
export function quarantinedBytes(): number {
  return quarantined;
}

/**
 * The quarantine in regions: `count` ranges kept (each is one VMA unless the kernel merged it
 * with a neighbour), and `limit`, the count at which {@linkcode LinuxKernel.mmap} starts to
 * refuse new mappings with `ENOMEM` — a quarter of `vm.max_map_count`
 * (`/proc/sys/vm/max_map_count`, 65530 by default, mm/mmap.c), so that moved buffers can never
 * use up the process's VMAs (at that limit every `mmap` fails, V8's own included, and the
 * process dies).
 *
 * Why it is not released: `transfer()`, `structuredClone` and `postMessage` move the
 * mapping's memory to a new ArrayBuffer the library never sees (in another isolate, for
 * `postMessage`); the old one is detached and keeps nothing that tells whether the new one is
 * alive, and the backing store Deno makes for a pointer (`UnsafePointerView.getArrayBuffer`) has
 * no deleter JavaScript can observe. A FinalizationRegistry needs the new object, so it cannot
 * be used; unmapping or reusing the range while the moved buffer may be alive would make it
 * fault (SIGSEGV) or show another buffer's bytes.
 *
 * @returns Regions kept and the limit (`undefined` until the first region is kept).
 */
export function quarantinedRegions(): { count: number; limit: number | undefined } {
  return { count: quarantinedCount, limit: quarantineCap };
}

function quarantineLimit(readText: (path: string) => string): number {
  if (quarantineCap === undefined) {
    let max = 65530;
    try {
      const n = Number(readText("/proc/sys/vm/max_map_count").trim());
      if (Number.isSafeInteger(n) && n > 0) max = n;
    } catch {
      // Keep the kernel's default.
    }
    quarantineCap = Math.floor(max / 4);
  }
  return quarantineCap;
}

/** Longest time a `pollAsync` with an AbortSignal leaves its thread in one `poll(2)`. */
export const POLL_SLICE_MS = 50;
/** `pollAsync` keeps the `pollfd` arrays of calls with at most this many fds, for reuse. */
export const POLL_ASYNC_POOLED = 8;
/** How many such arrays it keeps (one per wait that may run at the same time). */
const POLL_ASYNC_KEPT = 8;

/** `promise`, or a rejection with `signal.reason` as soon as `signal` aborts. */
function abortable<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    if (signal.aborted) return onAbort();
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", onAbort));
  });
}

function hex(request: number): string {
  return "0x" + (request >>> 0).toString(16).toUpperCase().padStart(8, "0");
}

function invalid(syscall: string, detail: string, path?: string): Error {
  return errnoError(Errno.EINVAL, syscall, { detail, path });
}

function isInt(x: number): boolean {
  return (x | 0) === x;
}

function isSize(x: number): boolean {
  return Number.isSafeInteger(x) && x >= 0;
}

/**
 * The Linux kernel through libc. Get the shared instance with {@linkcode linuxKernel}.
 *
 * Beyond the {@linkcode Kernel} contract: {@linkcode LinuxKernel.munmap} of a region that is
 * already unmapped (or was not mapped by this kernel) throws `EINVAL` without touching memory;
 * `readText`/`readDir`/`readLink` go through libc, so they need `--allow-ffi` only.
 *
 * @example Errors carry errno, its name and the call
 * ```ts
 * import { linuxKernel } from "@dmabuf/dmabuf/kernel";
 * import assert from "node:assert/strict";
 *
 * const k = linuxKernel();
 * const fd = k.memfdCreate("example", 0);
 * assert.throws(() => k.ioctl(fd, 0xC0184800, null, "DMA_HEAP_IOCTL_ALLOC"), {
 *   code: "ENOTTY",
 *   syscall: "ioctl(DMA_HEAP_IOCTL_ALLOC)",
 * });
 * k.close(fd);
 * assert.throws(() => k.close(fd), Deno.errors.BadResource);
 * ```
 */
export class LinuxKernel implements Kernel {
  /** Always `"linux"`. */
  readonly kind = "linux" as const;
  /** `sysconf(_SC_PAGESIZE)`. */
  readonly pageSize: number;
  #libc: LoadedLibc;
  #c: Libc;
  #errno: Int32Array;
  #ioctl: Libc["ioctl"];
  #fcntl: Libc["fcntl"];
  #description?: string;
  #pollfds: LinuxUserBuffer;
  /** pollfd arrays no native poll writes into any more, for the next pollAsync calls. */
  #pollAsyncFree: LinuxUserBuffer[] = [];
  #sockets: LinuxSockets | undefined;

  /**
   * Opens libc (once per process, see `loadLibc`).
   *
   * @throws {Deno.errors.PermissionDenied} Without `--allow-ffi`.
   * @throws {Deno.errors.NotFound} When no C library opens.
   */
  constructor() {
    this.#libc = loadLibc();
    this.#c = this.#libc.symbols;
    this.#errno = this.#libc.errno;
    this.#ioctl = this.#c.ioctl;
    this.#fcntl = this.#c.fcntl;
    this.#pollfds = new LinuxUserBuffer(64); // after loadLibc: pointers need --allow-ffi
    const page = Number(this.#c.sysconf(_SC_PAGESIZE));
    this.pageSize = page > 0 ? page : 4096;
  }

  /** `Linux <release> (<libc path>)`, the release read from `/proc/sys/kernel/osrelease`. */
  get description(): string {
    if (this.#description === undefined) {
      let release = "(unknown release)";
      try {
        release = readText(this.#libc, "/proc/sys/kernel/osrelease").trim() || release;
      } catch {
        // A kernel without procfs mounted still works; only the description is poorer.
      }
      this.#description = `Linux ${release} (${this.#libc.path})`;
    }
    return this.#description;
  }

  /** The one error path: errno of the call that just failed, as a typed error. */
  #fail(syscall: string, path?: string): Error {
    return errnoError(this.#errno[0], syscall, { path });
  }

  /** `open(2)`; returns the new fd. */
  open(path: string, flags: number): number {
    const p = cString(path, "open");
    if (!isInt(flags)) throw invalid("open", "Flags must be a 32-bit integer", path);
    // SAFETY: `p` is a NUL-terminated buffer kept alive by this frame during the call.
    const fd = this.#c.open(Deno.UnsafePointer.of(p), flags, CREATE_MODE);
    if (fd < 0) throw this.#fail("open", path);
    return fd;
  }

  /** `close(2)`. */
  close(fd: number): void {
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "close");
    if (this.#c.close(fd | 0) < 0) throw this.#fail("close");
  }

  /**
   * `ioctl(2)` with a pointer argument; returns the non-negative result, or `-expected` when
   * the call fails with errno `expected`.
   */
  ioctl(
    fd: number,
    request: number,
    arg: UserBuffer | null,
    name?: string,
    expected?: number,
  ): number {
    let p: Deno.PointerValue = null;
    if (arg !== null) {
      if (!(arg instanceof LinuxUserBuffer)) throw this.#foreign(request, name);
      p = arg.pointer;
    }
    if (!isInt(fd) || (request >>> 0) !== request) throw this.#badIoctl(fd, request, name);
    // SAFETY: `p` points into `arg.bytes`, an off-heap buffer that `arg` keeps alive; the
    // kernel reads and writes at most the size encoded in `request`, which the caller sized.
    const r = this.#ioctl(fd | 0, request >>> 0, p);
    if (r < 0) {
      if (expected !== undefined && this.#errno[0] === expected) return -expected;
      throw this.#fail(`ioctl(${name ?? hex(request)})`);
    }
    return r;
  }

  #foreign(request: number, name?: string): Error {
    return errnoError(Errno.EFAULT, `ioctl(${name ?? hex(request)})`, {
      detail: "The argument is not a UserBuffer made by this kernel",
    });
  }

  #badIoctl(fd: number, request: number, name?: string): Error {
    const syscall = `ioctl(${name ?? hex(Number(request) || 0)})`;
    if (!isInt(fd)) return errnoError(Errno.EBADF, syscall);
    return invalid(syscall, "The request must be an unsigned 32-bit integer");
  }

  /** `mmap(2)` of `length` bytes of `fd` at `offset`. */
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): MappedRegion {
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "mmap");
    if (!isSize(length) || !isSize(offset) || !isInt(prot) || !isInt(flags)) {
      throw invalid("mmap", "Length and offset must be non-negative safe integers");
    }
    const mapped = Math.ceil(length / this.pageSize) * this.pageSize;
    if (quarantinedCount > 0 && quarantinedCount >= quarantineLimit((p) => this.readText(p))) {
      throw errnoError(Errno.ENOMEM, "mmap", {
        detail: `${quarantinedCount} address ranges (${quarantined} bytes) are kept as zero ` +
          "pages because the ArrayBuffers of unmapped mappings were moved away (transfer(), " +
          "structuredClone, postMessage) and may still be used; more would risk the process's " +
          "vm.max_map_count limit. Do not move a mapping's ArrayBuffer: copy out of it, or " +
          "hand the DmaBuf itself on",
      });
    }
    const p = this.#c.mmap(null, BigInt(length), prot | 0, flags | 0, fd | 0, BigInt(offset));
    if (p === null || Deno.UnsafePointer.value(p) === MAP_FAILED) throw this.#fail("mmap");
    // SAFETY: the kernel just mapped `mapped` bytes (`length` rounded up to whole pages) at `p`;
    // the ArrayBuffer aliases exactly that range and is detached in `munmap` before the range
    // goes away, so no view can reach unmapped memory.
    const buffer = Deno.UnsafePointerView.getArrayBuffer(p, mapped);
    return new LinuxMappedRegion(p, Number(Deno.UnsafePointer.value(p)), mapped, offset, buffer);
  }

  /**
   * Detaches `region.buffer`, then `munmap(2)`. A region that is not mapped (unmapped already,
   * or not made by this kernel) throws `EINVAL` and touches no memory.
   *
   * If the region's ArrayBuffer was ever moved away by user code (`transfer()`,
   * `structuredClone` or `postMessage` with a transfer list), an ArrayBuffer this kernel cannot
   * detach may still alias the range, and unmapping it would turn the next access through that
   * alias into SIGSEGV. Then the range is not unmapped: an anonymous private zero-filled
   * mapping replaces the dma-buf mapping in place (`MAP_FIXED`, atomic), which drops the
   * mapping's reference to the dma-buf as `munmap` would. The stale alias reads zeros and its
   * writes land in those anonymous pages; the address range stays reserved for the life of the
   * process (JavaScript cannot observe when the alias is collected), costing address space, one
   * VMA and only the pages the alias writes. {@linkcode quarantinedBytes} and
   * {@linkcode quarantinedRegions} count it; past a quarter of `vm.max_map_count` such ranges,
   * `mmap` refuses with `ENOMEM`.
   */
  munmap(region: MappedRegion): void {
    const p = LinuxMappedRegion.pointerOf(region);
    if (!p) {
      throw invalid(
        "munmap",
        "The region is not mapped (already unmapped or not from this kernel)",
      );
    }
    // Revoke every view first: `transfer(0)` detaches the buffer (typed arrays over it become
    // empty). A plain `transfer()` would hand the mapping to a new buffer instead.
    if (LinuxMappedRegion.revoke(region as LinuxMappedRegion)) {
      // SAFETY: `p` and `region.length` are exactly what mmap returned; MAP_FIXED replaces
      // only that range, with memory that stays valid for any alias.
      const q = this.#c.mmap(
        p,
        BigInt(region.length),
        PROT_READ | PROT_WRITE,
        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
        -1,
        0n,
      );
      if (q === null || Deno.UnsafePointer.value(q) === MAP_FAILED) throw this.#fail("munmap");
      quarantined += region.length;
      quarantinedCount++;
      quarantineLimit((path) => this.readText(path));
      LinuxMappedRegion.forget(region);
      return;
    }
    // SAFETY: `p` and `region.length` are exactly what mmap returned and mapped, and no
    // ArrayBuffer aliases the range any more.
    if (this.#c.munmap(p, BigInt(region.length)) < 0) throw this.#fail("munmap");
    LinuxMappedRegion.forget(region);
  }

  /** `fcntl(2)` with an integer argument. */
  fcntl(fd: number, cmd: number, arg: number): number {
    if (!isInt(fd) || !isInt(cmd) || !isInt(arg)) throw this.#badFcntl(fd);
    const r = this.#fcntl(fd | 0, cmd | 0, arg | 0);
    if (r < 0) throw this.#fail("fcntl");
    return r;
  }

  #badFcntl(fd: number): Error {
    if (!isInt(fd)) return errnoError(Errno.EBADF, "fcntl");
    return invalid("fcntl", "The command and argument must be 32-bit integers");
  }

  /** `lseek(2)`; returns the resulting offset. */
  lseek(fd: number, offset: number, whence: number): number {
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "lseek");
    if (!Number.isSafeInteger(offset) || !isInt(whence)) {
      throw invalid("lseek", "The offset must be a safe integer and whence a 32-bit integer");
    }
    const r = this.#c.lseek(fd | 0, BigInt(offset), whence | 0);
    if (r < 0n) throw this.#fail("lseek");
    return Number(r);
  }

  /** `poll(2)`; returns `revents` per request, in order. */
  poll(requests: readonly PollRequest[], timeoutMs: number): number[] {
    const n = requests.length;
    if (!isInt(timeoutMs)) throw invalid("poll", "The timeout must be a 32-bit integer");
    if (this.#pollfds.bytes.length < n * 8) {
      this.#pollfds = new LinuxUserBuffer(Math.max(n * 8, this.#pollfds.bytes.length * 2));
    }
    const { view, pointer } = this.#pollfds;
    for (let i = 0; i < n; i++) {
      const { fd, events } = requests[i];
      if (!isInt(fd) || !isInt(events)) throw invalid("poll", "fd and events must be integers");
      // struct pollfd { int fd @0; short events @4; short revents @6; }
      view.setInt32(i * 8, fd, true);
      view.setInt16(i * 8 + 4, events, true);
      view.setInt16(i * 8 + 6, 0, true);
    }
    // SAFETY: `pointer` addresses at least `n` pollfd structs in `this.#pollfds`, alive here.
    const r = this.#c.poll(n === 0 ? null : pointer, BigInt(n), timeoutMs | 0);
    if (r < 0) throw this.#fail("poll");
    const revents = new Array<number>(n);
    for (let i = 0; i < n; i++) revents[i] = view.getUint16(i * 8 + 6, true);
    return revents;
  }

  /**
   * `poll(2)` on another thread (`poll_nonblocking`), so the JS thread stays free.
   *
   * Each call gets its own `pollfd` array (the thread writes into it), kept alive until the
   * native call returns, then kept for a later call (up to {@linkcode POLL_ASYNC_POOLED} fds;
   * a frame loop's wait then makes no off-heap buffer and no pointer). errno of that thread is
   * lost: on -1 the same set is polled again here, synchronously with timeout 0 — a real
   * failure (EFAULT, EINVAL, ENOMEM) then throws with its errno, and anything else (EINTR) is
   * retried. With a `signal`, the wait runs in slices of
   * {@linkcode POLL_SLICE_MS} so that the thread is never parked for longer than that; an abort
   * rejects at once, and the slice in progress finishes in the background (its result is
   * dropped).
   */
  async pollAsync(
    requests: readonly PollRequest[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number[]> {
    if (!isInt(timeoutMs)) throw invalid("poll", "The timeout must be a 32-bit integer");
    signal?.throwIfAborted();
    const n = requests.length;
    for (let i = 0; i < n; i++) {
      const { fd, events } = requests[i];
      if (!isInt(fd) || !isInt(events)) throw invalid("poll", "fd and events must be integers");
    }
    const pooled = n <= POLL_ASYNC_POOLED;
    const fds = (pooled ? this.#pollAsyncFree.pop() : undefined) ??
      new LinuxUserBuffer(8 * (pooled ? POLL_ASYNC_POOLED : n));
    for (let i = 0; i < n; i++) {
      fds.view.setInt32(i * 8, requests[i].fd, true);
      fds.view.setInt16(i * 8 + 4, requests[i].events, true);
    }
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs;
    // The native call that may still write into `fds` (an abort stopped waiting for it).
    let inFlight: Promise<number> | undefined;
    try {
      for (;;) {
        const left = deadline - performance.now();
        let slice = left === Infinity ? -1 : Math.max(0, Math.min(Math.ceil(left), 0x7fffffff));
        if (signal && (slice < 0 || slice > POLL_SLICE_MS)) slice = POLL_SLICE_MS;
        for (let i = 0; i < n; i++) fds.view.setInt16(i * 8 + 6, 0, true);
        // SAFETY: `fds` holds `n` pollfd structs; the `finally` below keeps it reachable (and out
        // of the pool) until the thread's poll has returned, even when an abort stops waiting
        // for it first.
        const call = this.#c.poll_nonblocking(n === 0 ? null : fds.pointer, BigInt(n), slice);
        inFlight = call;
        const r = await (signal ? abortable(call, signal) : call);
        inFlight = undefined;
        if (r > 0) {
          const revents = new Array<number>(n);
          for (let i = 0; i < n; i++) revents[i] = fds.view.getUint16(i * 8 + 6, true);
          return revents;
        }
        if (r < 0) {
          const now = this.poll(requests, 0); // throws the errno error of a real failure
          if (now.some((x) => x !== 0)) return now;
        }
        if (performance.now() >= deadline) return requests.map(() => 0);
      }
    } finally {
      if (inFlight === undefined) this.#keepPollfds(fds, pooled);
      else {
        const later = () => this.#keepPollfds(fds, pooled);
        inFlight.then(later, later);
      }
    }
  }

  /** Keeps a pollAsync `pollfd` array no native call writes into for the next call. */
  #keepPollfds(fds: LinuxUserBuffer, pooled: boolean): void {
    if (pooled && this.#pollAsyncFree.length < POLL_ASYNC_KEPT) this.#pollAsyncFree.push(fds);
  }

  /** `ftruncate(2)`. */
  ftruncate(fd: number, length: number): void {
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "ftruncate");
    if (!Number.isSafeInteger(length)) {
      throw invalid("ftruncate", "The length must be a safe integer");
    }
    if (this.#c.ftruncate(fd | 0, BigInt(length)) < 0) throw this.#fail("ftruncate");
  }

  /** `memfd_create(2)`; returns the new fd. */
  memfdCreate(name: string, flags: number): number {
    const p = cString(name, "memfd_create");
    if (!isInt(flags)) throw invalid("memfd_create", "Flags must be a 32-bit integer", name);
    // SAFETY: `p` is a NUL-terminated buffer kept alive by this frame during the call.
    const fd = this.#c.memfd_create(Deno.UnsafePointer.of(p), flags >>> 0);
    if (fd < 0) throw this.#fail("memfd_create", name);
    return fd;
  }

  /** `unlink(2)`. */
  unlink(path: string): void {
    const p = cString(path, "unlink");
    // SAFETY: `p` is a NUL-terminated buffer kept alive by this frame during the call.
    if (this.#c.unlink(Deno.UnsafePointer.of(p)) < 0) throw this.#fail("unlink", path);
  }

  /** Names in a directory without `.` and `..`, sorted (libc `opendir`/`readdir`). */
  readDir(path: string): string[] {
    return readDir(this.#libc, path);
  }

  /**
   * A whole text file (libc `open`/`read`: Deno's file API would need `--allow-all` for `/proc`
   * and `/sys`).
   */
  readText(path: string): string {
    return readText(this.#libc, path);
  }

  /** `readlink(2)`. */
  readLink(path: string): string {
    return readLink(this.#libc, path);
  }

  /** The kernel log, one record per line, without `<level>` prefixes. */
  syslog(): string {
    const size = this.#c.klogctl(SYSLOG_ACTION_SIZE_BUFFER, null, 0);
    if (size < 0) throw this.#fail("klogctl(SYSLOG_ACTION_SIZE_BUFFER)");
    if (size === 0) return "";
    const buf = new LinuxUserBuffer(size);
    // SAFETY: `buf.pointer` addresses `size` writable bytes kept alive by `buf`; the kernel
    // writes at most `len` = `size` bytes.
    const n = this.#c.klogctl(SYSLOG_ACTION_READ_ALL, buf.pointer, size);
    if (n < 0) throw this.#fail("klogctl(SYSLOG_ACTION_READ_ALL)");
    return decoder.decode(buf.bytes.subarray(0, n)).replace(/^<\d+>/gm, "");
  }

  get #net(): LinuxSockets {
    return this.#sockets ??= new LinuxSockets(this.#libc);
  }

  /** `getpid(2)`. */
  getpid(): number {
    return this.#net.getpid();
  }

  /** `socketpair(2)`. */
  socketpair(domain: number, type: number, protocol: number): [number, number] {
    return this.#net.socketpair(domain, type, protocol);
  }

  /** `socket(2)`. */
  socket(domain: number, type: number, protocol: number): number {
    return this.#net.socket(domain, type, protocol);
  }

  /** `bind(2)` to an AF_UNIX path (abstract with a leading NUL). */
  bind(fd: number, path: string): void {
    this.#net.bind(fd, path);
  }

  /** `listen(2)`. */
  listen(fd: number, backlog: number): void {
    this.#net.listen(fd, backlog);
  }

  /** `accept4(2)`. */
  accept(fd: number, flags: number): number {
    return this.#net.accept(fd, flags);
  }

  /** `connect(2)` to an AF_UNIX path. */
  connect(fd: number, path: string): void {
    this.#net.connect(fd, path);
  }

  /** `sendmsg(2)` with the fds in one SCM_RIGHTS message. */
  sendmsg(fd: number, data: Uint8Array, fds: readonly number[], flags: number): number {
    return this.#net.sendmsg(fd, data, fds, flags);
  }

  /** `recvmsg(2)` with room for `maxFds` fds. */
  recvmsg(fd: number, data: Uint8Array, maxFds: number, flags: number): ReceivedMessage {
    return this.#net.recvmsg(fd, data, maxFds, flags);
  }

  /** `pidfd_open(2)` (syscall 434). */
  pidfdOpen(pid: number, flags: number): number {
    return this.#net.pidfdOpen(pid, flags);
  }

  /** `pidfd_getfd(2)` (syscall 438). */
  pidfdGetfd(pidfd: number, targetFd: number, flags: number): number {
    return this.#net.pidfdGetfd(pidfd, targetFd, flags);
  }

  /** Allocates zeroed user memory for {@linkcode ioctl}. */
  userBuffer(size: number): UserBuffer {
    if (!isSize(size)) throw invalid("userBuffer", "The size must be a non-negative safe integer");
    try {
      return new LinuxUserBuffer(size);
    } catch (e) {
      throw errnoError(Errno.ENOMEM, "userBuffer", { cause: e });
    }
  }
}

let kernel: LinuxKernel | undefined;

/**
 * The Linux kernel, created (and libc opened) on the first call.
 *
 * @returns The shared {@linkcode LinuxKernel}.
 * @throws {Deno.errors.PermissionDenied} Without `--allow-ffi`.
 * @throws {Deno.errors.NotFound} When no C library opens (the message lists what was tried).
 *
 * @example Sharing a memfd's page between two mappings
 * ```ts
 * import { linuxKernel } from "@dmabuf/dmabuf/kernel";
 * import { MAP_SHARED, MFD_CLOEXEC, PROT_READ, PROT_WRITE } from "@dmabuf/dmabuf/uapi";
 * import assert from "node:assert/strict";
 *
 * const k = linuxKernel();
 * const fd = k.memfdCreate("example", MFD_CLOEXEC);
 * k.ftruncate(fd, k.pageSize);
 * const a = k.mmap(fd, k.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
 * const b = k.mmap(fd, k.pageSize, PROT_READ, MAP_SHARED, 0);
 * new Uint8Array(a.buffer)[0] = 42;
 * assert.equal(new Uint8Array(b.buffer)[0], 42);
 * k.munmap(a);
 * k.munmap(b);
 * k.close(fd);
 * assert.equal(a.buffer.byteLength, 0); // unmapping detached the memory
 * ```
 */
export function linuxKernel(): LinuxKernel {
  return kernel ??= new LinuxKernel();
}
