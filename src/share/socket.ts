/**
 * AF_UNIX sockets that carry fds (SCM_RIGHTS): a connected {@linkcode UnixSocket} and a
 * {@linkcode UnixListener}, each owning its fd. Deno's own `Deno.connect({ transport: "unix" })`
 * cannot send fds, so these go through the kernel boundary (libc on Linux, the model on the
 * simulated kernel).
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import {
  argumentError,
  describe,
  type ErrnoError,
  errnoError,
  optionsArg,
  typeArg,
} from "../errors.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import { POLLIN } from "../uapi/constants.ts";
import {
  AF_UNIX,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_NOSIGNAL,
  MSG_TRUNC,
  SOCK_CLOEXEC,
  SOCK_SEQPACKET,
  SOCK_STREAM,
} from "../uapi/socket.ts";

/** Why a connect fails on the simulated kernel when the listener is another real process. */
const SIMULATED_CONNECT_HINT = "This is the simulated kernel, which lives inside this process: a " +
  "listener in another `deno run` has a simulated kernel of its own and cannot be reached. " +
  "Share between processes of one machine (createSimMachine().process(), the { kernel } " +
  "option), or between real processes on the Linux kernel (DMABUF_KERNEL=linux, --allow-ffi)";

/** The socket type: a byte stream, or messages with boundaries (`SOCK_SEQPACKET`). */
export type SocketType = "stream" | "seqpacket";

/** Options shared by the socket constructors. */
export interface SocketOptions {
  /** Default `"seqpacket"`: one send is one receive, so an fd always travels with its header. */
  type?: SocketType;
  /** The kernel; default: the kernel in use. */
  kernel?: Kernel;
}

/** What {@linkcode UnixSocket.receive} got. */
export interface Received {
  /** The payload. Empty with no fds: the peer closed the connection. */
  data: Uint8Array;
  /** The fds that came with it; the caller owns (and must close) them. All close-on-exec. */
  fds: number[];
  /** The payload did not fit (seqpacket): the rest of the message is lost. */
  truncated: boolean;
  /** More fds came than `maxFds` allowed for; the kernel closed the extra ones. */
  fdsTruncated: boolean;
}

/** Options for {@linkcode UnixSocket.receive}. */
export interface ReceiveOptions {
  /** Largest payload to accept, in bytes (default 4096). */
  maxBytes?: number;
  /** How many fds to make room for (default 1; the kernel may fit one more for odd counts). */
  maxFds?: number;
}

function typeOf(t: SocketType | undefined): number {
  if (t === undefined || t === "seqpacket") return SOCK_SEQPACKET;
  if (t === "stream") return SOCK_STREAM;
  throw errnoError(Errno.EINVAL, "socket", { detail: `Unknown socket type: ${String(t)}` });
}

const kAdopt = Symbol("adopt");

/**
 * A connected AF_UNIX socket that owns its fd. Made by {@linkcode UnixSocket.pair},
 * {@linkcode UnixSocket.connect} or {@linkcode UnixListener.accept}.
 *
 * Like every fd owner of the library, a UnixSocket has `fd`, `kernel` and `closed`, an idempotent
 * `close()` and `[Symbol.dispose]` (`using`); its other methods throw `Deno.errors.BadResource`
 * once it is closed ("Cannot … a closed UnixSocket").
 *
 * @example Passing a memfd between the two ends of a pair
 * ```ts
 * import { UnixSocket } from "@dmabuf/dmabuf/share";
 * import { simulatedKernel } from "@dmabuf/dmabuf/sim";
 * import assert from "node:assert/strict";
 *
 * const kernel = simulatedKernel();
 * const [a, b] = UnixSocket.pair({ kernel });
 * const memfd = kernel.memfdCreate("frame", 0);
 * a.send(new TextEncoder().encode("hi"), [memfd]);
 * const got = b.receive();
 * assert.equal(new TextDecoder().decode(got.data), "hi");
 * assert.equal(got.fds.length, 1);
 * assert.match(kernel.readLink(`/proc/self/fd/${got.fds[0]}`), /^\/memfd:frame/);
 * for (const fd of [memfd, ...got.fds]) kernel.close(fd);
 * a.close();
 * b.close();
 * ```
 */
export class UnixSocket extends FdResource {
  /** @internal Use the static constructors. */
  constructor(token: typeof kAdopt, kernel: Kernel, fd: number) {
    if (token !== kAdopt) throw new TypeError("Use UnixSocket.pair() or UnixSocket.connect()");
    super(kernel, fd, "UnixSocket");
  }

  /** @internal Wraps a connected socket fd the caller owns. */
  static adopt(kernel: Kernel, fd: number): UnixSocket {
    return new UnixSocket(kAdopt, kernel, fd);
  }

  /**
   * `socketpair(AF_UNIX, type | SOCK_CLOEXEC)`: two connected ends in this process (give one
   * to a child or keep both for a test).
   *
   * @param options Type and kernel.
   * @returns The two ends.
   * @throws {ErrnoError} `EMFILE` when out of fds.
   */
  static pair(options?: SocketOptions): [UnixSocket, UnixSocket] {
    options = optionsArg("UnixSocket.pair", options);
    const kernel = kernelOption(options.kernel, "UnixSocket.pair");
    const [a, b] = kernel.socketpair(AF_UNIX, typeOf(options.type) | SOCK_CLOEXEC, 0);
    return [new UnixSocket(kAdopt, kernel, a), new UnixSocket(kAdopt, kernel, b)];
  }

  /**
   * Connects to a listening socket by name; a name starting with `"\0"` is abstract (no file).
   *
   * @param path The name.
   * @param options Type and kernel.
   * @returns The connected socket.
   * @throws {ErrnoError} `ECONNREFUSED` (nobody listens), `ENOENT` (no such file), `EINVAL`
   * (name longer than 107 bytes), `EPROTOTYPE` (the listener's type differs). On the simulated
   * kernel the first two say that only processes of the same simulated machine can listen.
   */
  static connect(path: string, options?: SocketOptions): UnixSocket {
    options = optionsArg("UnixSocket.connect", options);
    pathArg("UnixSocket.connect", path);
    const kernel = kernelOption(options.kernel, "UnixSocket.connect");
    const fd = kernel.socket(AF_UNIX, typeOf(options.type) | SOCK_CLOEXEC, 0);
    try {
      kernel.connect(fd, path);
    } catch (e) {
      kernel.close(fd);
      const err = e as ErrnoError;
      if (
        kernel.kind === "simulated" &&
        (err.errno === Errno.ECONNREFUSED || err.errno === Errno.ENOENT)
      ) {
        throw errnoError(err.errno, err.syscall, { path, hint: SIMULATED_CONNECT_HINT, cause: e });
      }
      throw e;
    }
    return new UnixSocket(kAdopt, kernel, fd);
  }

  /**
   * Sends `data` with `fds` in one SCM_RIGHTS message (`MSG_NOSIGNAL`). The fds stay open here:
   * the receiver gets new fds on the same open files, and an fd in flight holds a reference.
   *
   * @param data The payload; at least one byte when fds go over a stream socket (a stream send
   * of nothing sends nothing).
   * @param fds The fds to pass (at most 253).
   * @returns The bytes sent.
   * @throws {ErrnoError} `EBADF` (an fd is not open), `EINVAL` (more than 253 fds), `EPIPE`
   * (the peer closed), `ENOTSOCK`.
   */
  send(data: Uint8Array, fds: readonly number[] = []): number {
    this.checkOpen("send on");
    if (!(data instanceof Uint8Array)) {
      throw argumentError(
        "type",
        "UnixSocket.send",
        "data",
        `must be a Uint8Array, got ${describe(data)}`,
      );
    }
    if (!Array.isArray(fds)) {
      throw argumentError(
        "type",
        "UnixSocket.send",
        "fds",
        `must be an array of fds, got ${describe(fds)}`,
      );
    }
    return this.kernel.sendmsg(this.fd, data, fds, MSG_NOSIGNAL);
  }

  /**
   * Receives one message (seqpacket) or the bytes queued up to the next fds (stream), with
   * `MSG_CMSG_CLOEXEC`. Blocks on Linux until something arrives; the simulated kernel never
   * sleeps and throws `EAGAIN` instead — wait with {@linkcode readable} first.
   *
   * @param options Payload and fd room.
   * @returns The payload and the received fds (the caller owns them).
   * @throws {ErrnoError} `EAGAIN` (nothing queued and the socket is non-blocking, or on the
   * simulated kernel), `ECONNRESET` (the peer closed with messages unread).
   */
  receive(options?: ReceiveOptions): Received {
    this.checkOpen("receive on");
    options = optionsArg("UnixSocket.receive", options);
    const maxBytes = options.maxBytes ?? 4096;
    const maxFds = options.maxFds ?? 1;
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 0 || maxBytes > 1 << 30) {
      throw errnoError(Errno.EINVAL, "recvmsg", { detail: `Invalid maxBytes: ${maxBytes}` });
    }
    const data = new Uint8Array(maxBytes);
    const r = this.kernel.recvmsg(this.fd, data, maxFds, MSG_CMSG_CLOEXEC);
    return {
      data: data.subarray(0, r.bytes),
      fds: r.fds,
      truncated: (r.flags & MSG_TRUNC) !== 0,
      fdsTruncated: (r.flags & MSG_CTRUNC) !== 0,
    };
  }

  /**
   * Resolves once a receive would not block (a message, an error or the peer's close), polling
   * the fd without blocking the event loop.
   *
   * @param timeoutMs Give up after this long (default: never).
   * @returns True when readable, false on timeout.
   */
  readable(timeoutMs = Infinity): Promise<boolean> {
    this.checkOpen("poll");
    return waitReadable(this.kernel, this.fd, timeoutMs);
  }
}

function pathArg(where: string, path: unknown): void {
  typeArg(where, "path", path, "string");
}

/** Polls `fd` for POLLIN every few milliseconds without blocking the event loop. */
async function waitReadable(kernel: Kernel, fd: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (let wait = 1;; wait = Math.min(wait * 2, 20)) {
    if (kernel.poll([{ fd, events: POLLIN }], 0)[0] !== 0) return true;
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, wait));
  }
}

/**
 * A listening AF_UNIX socket bound to a name, owning its fd. `close()` removes the socket file
 * that `listen` created for a filesystem name (`unlink`); an abstract name (`"\0…"`) vanishes
 * with the socket. A listener that is garbage-collected without `close()` has its fd closed by
 * the backstop, but its socket file stays.
 *
 * Like every fd owner of the library, a UnixListener has `fd`, `kernel` and `closed`, an idempotent
 * `close()` and `[Symbol.dispose]` (`using`); its other methods throw `Deno.errors.BadResource`
 * once it is closed ("Cannot … a closed UnixListener").
 *
 * @example A connection by name on the simulated kernel
 * ```ts
 * import { UnixListener, UnixSocket } from "@dmabuf/dmabuf/share";
 * import { createSimMachine } from "@dmabuf/dmabuf/sim";
 * import assert from "node:assert/strict";
 *
 * const m = createSimMachine();
 * const server = m.process("server"), client = m.process("client");
 * using listener = UnixListener.listen("\0frames", { kernel: server });
 * using c = UnixSocket.connect("\0frames", { kernel: client });
 * using s = listener.accept();
 * c.send(new Uint8Array([7]));
 * assert.deepEqual([...s.receive().data], [7]);
 * ```
 */
export class UnixListener extends FdResource {
  #type: number;

  #path: string | undefined;

  private constructor(kernel: Kernel, fd: number, type: number, path: string) {
    super(kernel, fd, "UnixListener");
    this.#type = type;
    this.#path = path.startsWith("\0") ? undefined : path;
  }

  /**
   * Closes the socket and removes the socket file `listen` made. Idempotent.
   *
   * @throws {ErrnoError} If `close(2)` fails; a file already gone is not an error.
   */
  override close(): void {
    if (this.closed) return;
    const path = this.#path;
    this.#path = undefined;
    const unlink = () => {
      if (path === undefined) return;
      try {
        this.kernel.unlink?.(path);
      } catch (e) {
        if ((e as ErrnoError).errno !== Errno.ENOENT) throw e;
      }
    };
    try {
      super.close();
    } catch (e) {
      unlink();
      throw e;
    }
    unlink();
  }

  /**
   * `socket` + `bind` + `listen`.
   *
   * @param path The name; `"\0…"` for the abstract namespace.
   * @param options Type and kernel.
   * @returns The listener.
   * @throws {ErrnoError} `EADDRINUSE` (the name is taken, or a stale socket file is left),
   * `EINVAL` (name longer than 107 bytes).
   */
  static listen(path: string, options?: SocketOptions): UnixListener {
    options = optionsArg("UnixListener.listen", options);
    pathArg("UnixListener.listen", path);
    const kernel = kernelOption(options.kernel, "UnixListener.listen");
    const type = typeOf(options.type);
    const fd = kernel.socket(AF_UNIX, type | SOCK_CLOEXEC, 0);
    try {
      kernel.bind(fd, path);
      kernel.listen(fd, 16);
    } catch (e) {
      kernel.close(fd);
      throw e;
    }
    return new UnixListener(kernel, fd, type, path);
  }

  /**
   * Accepts one connection (blocks on Linux; `EAGAIN` on the simulated kernel when none is
   * waiting — see {@linkcode acceptAsync}).
   *
   * @returns The connected socket.
   */
  accept(): UnixSocket {
    this.checkOpen("accept on");
    return UnixSocket.adopt(this.kernel, this.kernel.accept(this.fd, SOCK_CLOEXEC));
  }

  /**
   * Waits (polling, without blocking the event loop) for a connection, then accepts it.
   *
   * @param timeoutMs Give up after this long (default: never).
   * @returns The connected socket.
   * @throws {ErrnoError} `ETIMEDOUT` when nobody connected in time.
   */
  async acceptAsync(timeoutMs = Infinity): Promise<UnixSocket> {
    this.checkOpen("accept on");
    if (!await waitReadable(this.kernel, this.fd, timeoutMs)) {
      throw errnoError(Errno.ETIMEDOUT, "accept4", { detail: "Nobody connected in time" });
    }
    return this.accept();
  }

  /** `"stream"` or `"seqpacket"`. */
  get type(): SocketType {
    return this.#type === SOCK_STREAM ? "stream" : "seqpacket";
  }
}
