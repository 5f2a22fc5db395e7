/**
 * Moving a dma-buf to another process: over an AF_UNIX socket (SCM_RIGHTS) or by taking it
 * from the owner's fd table (`pidfd_getfd`). Either way the receiver gets a new fd on the same
 * buffer — zero copy; the kernel's `count` goes up by one per fd (and by one while the message
 * is in flight).
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import {
  type ErrnoError,
  errnoError,
  instanceArg,
  intArg,
  optionsArg,
  sameKernel,
} from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { DmaBuf } from "../dmabuf/buffer.ts";
import { UnixSocket } from "./socket.ts";

/** The 16-byte header sent with the fd: magic, version, size. */
const MAGIC = [0x44, 0x4d, 0x41, 0x42, 0x55, 0x46]; // "DMABUF"
const VERSION = 1;
/** Header bytes: magic (6), version (u16), size (f64: a safe integer). */
export const SHARE_HEADER_SIZE = 16;

function header(size: number): Uint8Array {
  const b = new Uint8Array(SHARE_HEADER_SIZE);
  b.set(MAGIC);
  const v = new DataView(b.buffer);
  v.setUint16(6, VERSION, true);
  v.setFloat64(8, size, true);
  return b;
}

/**
 * Sends a dma-buf over a connected socket: one message with a 16-byte header (magic, version,
 * size) and the fd. The sender keeps its `buf` (close it when done); the buffer lives while
 * any process holds an fd or a mapping.
 *
 * @param socket A connected socket (`UnixSocket.pair`, `connect`, `accept`).
 * @param buf The buffer.
 * @throws {ErrnoError} `EBADF` if `buf` is closed, `EPIPE` if the peer closed, `EXDEV` if `buf`
 *   belongs to another kernel than `socket` (another simulated process), before sending.
 *
 * @example Two simulated processes
 * ```ts
 * import { receiveDmaBuf, sendDmaBuf, UnixListener, UnixSocket } from "@dmabuf/dmabuf/share";
 * import { openHeap } from "@dmabuf/dmabuf";
 * import { createSimMachine } from "@dmabuf/dmabuf/sim";
 * import assert from "node:assert/strict";
 *
 * const m = createSimMachine();
 * const camera = m.process("camera"), display = m.process("display");
 * using listener = UnixListener.listen("\0frames", { kernel: display });
 * using out = UnixSocket.connect("\0frames", { kernel: camera });
 * using inbox = listener.accept();
 *
 * using heap = openHeap("system", { kernel: camera });
 * using frame = heap.allocate(4096, { name: "frame-0" });
 * frame.map().write((b) => b.fill(9));
 * sendDmaBuf(out, frame);
 *
 * using got = receiveDmaBuf(inbox);
 * assert.equal(got.name, "frame-0");
 * got.map().read((b) => assert.equal(b[0], 9));
 * ```
 */
export function sendDmaBuf(socket: UnixSocket, buf: DmaBuf): void {
  socketArg("sendDmaBuf", socket);
  instanceArg("sendDmaBuf", "buf", buf, DmaBuf);
  sameKernel(socket.kernel, buf, "buffer", "sendmsg");
  socket.send(header(buf.size), [buf.fd]);
}

/**
 * Receives a dma-buf sent by {@linkcode sendDmaBuf}. The returned buffer owns its new fd
 * (close-on-exec). Blocks on Linux until a message arrives; on the simulated kernel, a socket
 * with nothing queued throws `EAGAIN` (await `socket.readable()` first).
 *
 * @param socket A connected socket.
 * @returns The buffer.
 * @throws {ErrnoError} `ECONNRESET` when the peer closed the socket; `EMFILE` when this
 * process's fd table was full and the kernel dropped the fd (`MSG_CTRUNC`); `EBADMSG` when the message
 * is not a dma-buf message (no fd, wrong header, or the fd is not a dma-buf — any fd received is
 * closed); `EAGAIN` as above.
 */
export function receiveDmaBuf(socket: UnixSocket): DmaBuf {
  socketArg("receiveDmaBuf", socket);
  const kernel = socket.kernel;
  const r = socket.receive({ maxBytes: SHARE_HEADER_SIZE, maxFds: 1 });
  const closeAll = () => r.fds.forEach((fd) => kernel.close(fd));
  if (r.data.length === 0 && r.fds.length === 0) {
    throw errnoError(Errno.ECONNRESET, "receiveDmaBuf", { detail: "The peer closed the socket" });
  }
  if (r.fdsTruncated && r.fds.length === 0) {
    // net/core/scm.c scm_detach_fds(): an fd that cannot be installed in the receiver's table
    // (EMFILE) is dropped and the message flagged MSG_CTRUNC. The sender did nothing wrong.
    throw errnoError(Errno.EMFILE, "receiveDmaBuf", {
      detail: "the kernel dropped the buffer's fd (MSG_CTRUNC) because this process's fd " +
        "table is full (RLIMIT_NOFILE); the message is consumed and no fd was installed",
      hint: "Close fds you no longer need or raise the limit (ulimit -n), then have the " +
        "sender send the buffer again",
    });
  }
  const bad = (detail: string): never => {
    closeAll();
    throw errnoError(Errno.EBADMSG, "receiveDmaBuf", { detail });
  };
  if (r.data.length !== SHARE_HEADER_SIZE || MAGIC.some((c, i) => r.data[i] !== c)) {
    bad(`Not a dma-buf message (${r.data.length} bytes without the DMABUF header)`);
  }
  const v = new DataView(r.data.buffer, r.data.byteOffset, r.data.length);
  if (v.getUint16(6, true) !== VERSION) bad(`Unknown message version ${v.getUint16(6, true)}`);
  if (r.fds.length !== 1 || r.fdsTruncated) bad(`Expected one fd, got ${r.fds.length}`);
  try {
    const buf = DmaBuf.from(r.fds[0], { kernel });
    if (buf.size !== v.getFloat64(8, true)) {
      buf.close();
      r.fds.length = 0;
      bad(`The header says ${v.getFloat64(8, true)} bytes, the buffer has a different size`);
    }
    return buf;
  } catch (e) {
    if ((e as ErrnoError).code === "EBADMSG") throw e;
    bad(`The fd received is not a dma-buf: ${(e as Error).message}`);
    throw e; // unreachable
  }
}

/** What lets {@linkcode takeDmaBuf} through when `pidfd_getfd` says `EPERM`. */
export const TAKE_HINT =
  "pidfd_getfd needs ptrace access to the owner: the same user and a dumpable process " +
  "(not setuid, no prctl(PR_SET_DUMPABLE, 0)), or CAP_SYS_PTRACE; with Yama ptrace_scope=1 " +
  "the owner must be an ancestor or call prctl(PR_SET_PTRACER, <taker pid>). Or have the owner " +
  "pass the buffer with sendDmaBuf() over a Unix socket, which needs no ptrace access";

/** Options for {@linkcode takeDmaBuf}. */
export interface TakeOptions {
  /** The kernel; default: the kernel in use. */
  kernel?: Kernel;
}

/**
 * Takes a copy of another process's dma-buf fd: `pidfd_open(pid)` + `pidfd_getfd(pidfd, fd)`.
 * No cooperation from the owner is needed, only ptrace access to it (same user and a dumpable
 * process, or root; Yama's `ptrace_scope` may restrict it further). The new fd is
 * close-on-exec and owned by the returned buffer.
 *
 * @param pid The owner's pid.
 * @param fd The fd number in the owner's table.
 * @param options The kernel.
 * @returns The buffer.
 * @throws {ErrnoError} `ESRCH` (no such process, or it exited), `EPERM` (no ptrace access; the
 * message says what grants it, see {@linkcode TAKE_HINT}),
 * `EBADF` (`fd` is not open there), `EINVAL` (the fd is not a dma-buf, or pid ≤ 0; it is
 * closed again).
 *
 * @example Taking a buffer from another simulated process
 * ```ts
 * import { openHeap } from "@dmabuf/dmabuf";
 * import { takeDmaBuf } from "@dmabuf/dmabuf/share";
 * import { createSimMachine } from "@dmabuf/dmabuf/sim";
 * import assert from "node:assert/strict";
 *
 * const m = createSimMachine();
 * const owner = m.process("owner"), taker = m.process("taker");
 * using heap = openHeap("system", { kernel: owner });
 * using buf = heap.allocate(8192);
 * using mine = takeDmaBuf(owner.pid, buf.fd, { kernel: taker });
 * assert.equal(mine.size, 8192);
 * assert.equal(mine.info().count, 2);
 * ```
 */
export function takeDmaBuf(pid: number, fd: number, options?: TakeOptions): DmaBuf {
  const kernel = kernelOption(optionsArg("takeDmaBuf", options).kernel, "takeDmaBuf");
  intArg("takeDmaBuf", "pid", pid, 1, 2 ** 31 - 1);
  intArg("takeDmaBuf", "fd", fd, 0, 2 ** 31 - 1);
  const pidfd = kernel.pidfdOpen(pid, 0);
  let got: number;
  try {
    got = kernel.pidfdGetfd(pidfd, fd, 0);
  } catch (e) {
    const err = e as ErrnoError;
    if (err.errno === Errno.EPERM || err.errno === Errno.EACCES) {
      // kernel/pid.c pidfd_getfd(): ptrace_may_access(PTRACE_MODE_ATTACH_REALCREDS).
      throw errnoError(err.errno, err.syscall ?? "pidfd_getfd", {
        path: `/proc/${pid}/fd/${fd}`,
        detail: `no ptrace access to process ${pid}`,
        hint: TAKE_HINT,
        cause: e,
      });
    }
    if (err.errno === Errno.EBADF) {
      throw errnoError(err.errno, err.syscall ?? "pidfd_getfd", {
        path: `/proc/${pid}/fd/${fd}`,
        detail: `fd ${fd} is not open in process ${pid}`,
        cause: e,
      });
    }
    throw e;
  } finally {
    kernel.close(pidfd);
  }
  try {
    return DmaBuf.from(got, { kernel });
  } catch (e) {
    kernel.close(got);
    // DmaBuf.from names `got`, this process's copy, which is closed now: name the owner's fd.
    if ((e as ErrnoError).errno === Errno.EINVAL) {
      throw errnoError(Errno.EINVAL, "takeDmaBuf", {
        path: `/proc/${pid}/fd/${fd}`,
        detail: `fd ${fd} of process ${pid} is not a dma-buf`,
        cause: e,
      });
    }
    throw e;
  }
}

function socketArg(where: string, socket: unknown): void {
  instanceArg(where, "socket", socket, UnixSocket);
}
