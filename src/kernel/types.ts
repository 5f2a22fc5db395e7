/**
 * The syscall boundary: the few system calls the public API needs, as one interface with two
 * implementations — Linux through libc FFI (`linux.ts`) and the simulated kernel (`src/sim/`).
 * Nothing above this seam knows which one it has.
 *
 * Contract shared by both implementations:
 * - Every failure throws the error made by `errnoError(errno, syscall, { path })` from
 *   `src/errors.ts`, with the errno the Linux kernel gives for the same input. `syscall` names
 *   the call and, for ioctls, the request: `"ioctl(DMA_HEAP_IOCTL_ALLOC)"`. Nothing retries
 *   here: EINTR/EAGAIN reach the caller, which decides.
 * - Numbers only: fds, sizes, offsets and addresses are JS numbers (user addresses fit in 47
 *   bits). No BigInt crosses the seam.
 * - Memory that an ioctl argument points at is a {@linkcode UserBuffer} made by the same kernel,
 *   so a pointer inside a struct (`buf_info.buf`) can be given as `UserBuffer.address` or as a
 *   {@linkcode MappedRegion.address}, and the kernel can follow it.
 *
 * @module
 */

/** Which kernel is underneath. */
export type KernelKind = "linux" | "simulated";

/** Memory owned by user space that can be an ioctl argument (a struct, a string). */
export interface UserBuffer {
  /** The bytes. Never reallocated: keep it and reuse it across calls. */
  readonly bytes: Uint8Array;
  /** A DataView over {@linkcode bytes}. */
  readonly view: DataView;
  /** The user-space address of `bytes[0]`, as a C pointer to it would read. */
  readonly address: number;
}

/** A live `mmap(2)` of a file. */
export interface MappedRegion {
  /** The user-space address the kernel chose. */
  readonly address: number;
  /** The mapped length in bytes (a multiple of the page size). */
  readonly length: number;
  /** The file offset the mapping starts at. */
  readonly offset: number;
  /**
   * The memory. Views over it are `new Uint8Array(region.buffer, region.byteOffset,
   * region.length)`. Read it again before making a view: the simulated kernel may hand out a
   * new ArrayBuffer object for the same memory (see `src/sim/README.md`). After `munmap` it is
   * detached (length 0).
   */
  readonly buffer: ArrayBuffer;
  /** Where the mapping starts inside {@linkcode buffer}. */
  readonly byteOffset: number;
}

/** One entry of a `poll(2)` set. */
export interface PollRequest {
  /** The fd to watch. */
  fd: number;
  /** `POLLIN`, `POLLOUT`, … */
  events: number;
}

/** What {@linkcode Kernel.recvmsg} received. */
export interface ReceivedMessage {
  /** Payload bytes placed in the buffer; 0 with no fds means the peer closed (stream). */
  readonly bytes: number;
  /** The fds that arrived with the message, in the sender's order (new fds of this process). */
  readonly fds: number[];
  /** `msg_flags`: `MSG_CTRUNC` (fds dropped), `MSG_TRUNC` (payload cut). */
  readonly flags: number;
}

/** The syscall boundary. */
export interface Kernel {
  /** `"linux"` or `"simulated"`. */
  readonly kind: KernelKind;
  /** The page size, 4096 on the supported platforms. */
  readonly pageSize: number;
  /** A one-line description for logs and the demo, e.g. `"Linux 6.12.117 (libc.so.6)"`. */
  readonly description: string;

  /** `open(2)`; returns the new fd. */
  open(path: string, flags: number): number;
  /** `close(2)`. */
  close(fd: number): void;
  /**
   * `ioctl(2)` with a pointer argument (`null` passes NULL). Returns the ioctl's non-negative
   * return value (udmabuf returns the new fd there; most ioctls return 0).
   *
   * @param name The request's name for error messages, e.g. `"DMA_BUF_IOCTL_SYNC"`.
   * @param expected An errno the caller handles as a normal outcome (`EAGAIN` of a
   *   non-blocking `VIDIOC_DQBUF`): that failure returns `-expected` instead of throwing, so a
   *   poll loop builds no error object. Other failures throw as always.
   */
  ioctl(
    fd: number,
    request: number,
    arg: UserBuffer | null,
    name?: string,
    expected?: number,
  ): number;
  /** `mmap(2)` of `length` bytes of `fd` at `offset` with `prot` and `flags`. */
  mmap(fd: number, length: number, prot: number, flags: number, offset: number): MappedRegion;
  /** Detaches `region.buffer` (every view over it becomes empty), then `munmap(2)`. */
  munmap(region: MappedRegion): void;
  /** `fcntl(2)` with an integer argument (`F_DUPFD_CLOEXEC`, `F_GETFD`, `F_ADD_SEALS`, …). */
  fcntl(fd: number, cmd: number, arg: number): number;
  /** `lseek(2)`; returns the resulting offset. */
  lseek(fd: number, offset: number, whence: number): number;
  /** `poll(2)`; returns `revents` for each request, in order. `timeoutMs` -1 waits forever. */
  poll(requests: readonly PollRequest[], timeoutMs: number): number[];
  /**
   * `poll(2)` without blocking the JS thread: resolves with `revents` for each request once any
   * is non-zero, or all zeros after `timeoutMs` (-1: no timeout). Rejects with `signal.reason`
   * when `signal` aborts, and with the errno error of a failed `poll`. Linux runs `poll` on
   * another thread; the simulated kernel resolves from its wait queues. Neither busy-waits.
   */
  pollAsync(
    requests: readonly PollRequest[],
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<number[]>;
  /**
   * Optional, only where the kernel can count it (the simulated one): payload bytes the kernel
   * copied between user memory that maps a dma-buf and kernel memory (`copy_from_user` /
   * `copy_to_user`) since boot. Real Linux has no such counter and does not implement it.
   */
  payloadBytesCopied?(): number;
  /** `ftruncate(2)`. */
  ftruncate(fd: number, length: number): void;
  /** `memfd_create(2)`; returns the new fd. */
  memfdCreate(name: string, flags: number): number;
  /**
   * `unlink(2)`: removes a name (the socket file a `bind` made). Optional so that wrappers of
   * the seam need not add it; both kernels of the library have it.
   */
  unlink?(path: string): void;

  /** Names in a directory (`getdents`), without `.` and `..`, sorted. */
  readDir(path: string): string[];
  /** A whole text file (`/proc/self/fdinfo/<fd>`, debugfs, sysfs). */
  readText(path: string): string;
  /** `readlink(2)`, e.g. of `/proc/self/fd/<fd>`. */
  readLink(path: string): string;
  /**
   * The kernel log as `dmesg` prints it, one record per line: `[   31.678467] text`
   * (`klogctl(SYSLOG_ACTION_READ_ALL)` with the `<level>` prefixes removed).
   */
  syslog(): string;

  /** `getpid(2)`. */
  getpid(): number;
  /** `socketpair(2)`; returns the two connected ends. */
  socketpair(domain: number, type: number, protocol: number): [number, number];
  /** `socket(2)`; returns the fd. */
  socket(domain: number, type: number, protocol: number): number;
  /**
   * `bind(2)` of an AF_UNIX socket to a path; a name starting with `"\0"` is in the abstract
   * namespace (no file, gone when the socket closes).
   */
  bind(fd: number, path: string): void;
  /** `listen(2)`. */
  listen(fd: number, backlog: number): void;
  /** `accept4(2)` with `SOCK_CLOEXEC`/`SOCK_NONBLOCK` flags; returns the connected fd. */
  accept(fd: number, flags: number): number;
  /** `connect(2)` of an AF_UNIX socket to a path (abstract with a leading `"\0"`). */
  connect(fd: number, path: string): void;
  /**
   * `sendmsg(2)` of `data` with the fds in one `SCM_RIGHTS` control message (none: no control
   * message). Returns the payload bytes sent.
   */
  sendmsg(fd: number, data: Uint8Array, fds: readonly number[], flags: number): number;
  /**
   * `recvmsg(2)` into `data` with a control buffer of `CMSG_SPACE(4 * maxFds)` bytes (none for
   * 0). Fds that do not fit are closed by the kernel and `MSG_CTRUNC` is set.
   */
  recvmsg(fd: number, data: Uint8Array, maxFds: number, flags: number): ReceivedMessage;
  /** `pidfd_open(2)`; the fd is always close-on-exec. */
  pidfdOpen(pid: number, flags: number): number;
  /** `pidfd_getfd(2)`: a copy of another process's fd (always close-on-exec). */
  pidfdGetfd(pidfd: number, targetFd: number, flags: number): number;

  /** Allocates zeroed user memory of `size` bytes to pass to {@linkcode ioctl}. */
  userBuffer(size: number): UserBuffer;
}
