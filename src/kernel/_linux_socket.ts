/**
 * AF_UNIX sockets, SCM_RIGHTS and pidfds of the Linux kernel through libc: the `msghdr` /
 * `cmsghdr` / `iovec` / `sockaddr_un` structs built in off-heap buffers that are reused across
 * calls. These are cold paths (one message per buffer handed over), so the `isize`/`i64`
 * results, which come back as BigInt, are acceptable.
 *
 * @module
 */
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import type { LoadedLibc } from "../ffi/load.ts";
import type { ReceivedMessage } from "./types.ts";
import {
  AF_UNIX,
  CMSG_LEN,
  CMSG_SPACE,
  CMSGHDR,
  IOVEC,
  MSGHDR,
  SCM_MAX_FD,
  SCM_RIGHTS,
  SOCKADDR_UN,
  SOL_SOCKET,
  SYS_pidfd_getfd,
  SYS_pidfd_open,
} from "../uapi/socket.ts";

const encoder = new TextEncoder();

/** An off-heap buffer and its address, grown (never shrunk) on demand. */
class Scratch {
  bytes: Uint8Array;
  view: DataView;
  pointer: Deno.PointerValue;
  address: bigint;
  constructor(size: number) {
    // An explicit ArrayBuffer lives outside the V8 heap: its address is stable while we hold it.
    const ab = new ArrayBuffer(size);
    this.bytes = new Uint8Array(ab);
    this.view = new DataView(ab);
    this.pointer = Deno.UnsafePointer.of(ab);
    this.address = Deno.UnsafePointer.value(this.pointer);
  }
}

function isInt(x: unknown): x is number {
  return typeof x === "number" && (x | 0) === x;
}

/**
 * Encodes an AF_UNIX address: `{ sun_family = AF_UNIX, sun_path }`, NUL-terminated for a
 * filesystem path, exactly the name's bytes for an abstract one (leading NUL). Returns the
 * address length, or throws EINVAL when the name does not fit `sun_path[108]`.
 */
export function encodeSockaddrUn(into: Uint8Array, path: string, syscall: string): number {
  if (typeof path !== "string" || path.length === 0) {
    throw errnoError(Errno.EINVAL, syscall, { detail: "A socket path must be a non-empty string" });
  }
  const abstract = path.startsWith("\0");
  const name = encoder.encode(path);
  if (!abstract && name.includes(0)) {
    throw errnoError(Errno.EINVAL, syscall, { path, detail: "A socket path must not contain NUL" });
  }
  const len = name.length + (abstract ? 0 : 1);
  if (len > SOCKADDR_UN.pathMax) {
    throw errnoError(Errno.EINVAL, syscall, {
      path,
      detail: `The name is ${name.length} bytes; sun_path holds ${SOCKADDR_UN.pathMax - 1}`,
    });
  }
  into.fill(0, 0, SOCKADDR_UN.size);
  new DataView(into.buffer, into.byteOffset).setUint16(SOCKADDR_UN.sun_family, AF_UNIX, true);
  into.set(name, SOCKADDR_UN.sun_path);
  return SOCKADDR_UN.sun_path + len;
}

/** The socket and pidfd calls of `LinuxKernel`. */
export class LinuxSockets {
  #libc: LoadedLibc;
  #msg = new Scratch(MSGHDR.size + IOVEC.size);
  #addr = new Scratch(SOCKADDR_UN.size);
  #pair = new Scratch(8);
  #data = new Scratch(4096);
  #control = new Scratch(CMSG_SPACE(4 * SCM_MAX_FD));

  constructor(libc: LoadedLibc) {
    this.#libc = libc;
  }

  #fail(syscall: string, path?: string): Error {
    return errnoError(this.#libc.errno[0], syscall, { path });
  }

  #data_at_least(n: number): Scratch {
    if (this.#data.bytes.length < n) {
      this.#data = new Scratch(Math.max(n, this.#data.bytes.length * 2));
    }
    return this.#data;
  }

  getpid(): number {
    return this.#libc.symbols.getpid();
  }

  socketpair(domain: number, type: number, protocol: number): [number, number] {
    if (!isInt(domain) || !isInt(type) || !isInt(protocol)) {
      throw errnoError(Errno.EINVAL, "socketpair", { detail: "Arguments must be 32-bit integers" });
    }
    // SAFETY: `#pair` holds 8 writable bytes (int sv[2]) and lives as long as this object.
    if (this.#libc.symbols.socketpair(domain, type, protocol, this.#pair.pointer) < 0) {
      throw this.#fail("socketpair");
    }
    return [this.#pair.view.getInt32(0, true), this.#pair.view.getInt32(4, true)];
  }

  socket(domain: number, type: number, protocol: number): number {
    if (!isInt(domain) || !isInt(type) || !isInt(protocol)) {
      throw errnoError(Errno.EINVAL, "socket", { detail: "Arguments must be 32-bit integers" });
    }
    const fd = this.#libc.symbols.socket(domain, type, protocol);
    if (fd < 0) throw this.#fail("socket");
    return fd;
  }

  bind(fd: number, path: string): void {
    const len = encodeSockaddrUn(this.#addr.bytes, path, "bind");
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "bind", { path });
    // SAFETY: `#addr` holds a sockaddr_un of `len` bytes, alive during the call.
    if (this.#libc.symbols.bind(fd, this.#addr.pointer, len) < 0) throw this.#fail("bind", path);
  }

  listen(fd: number, backlog: number): void {
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "listen");
    if (this.#libc.symbols.listen(fd, isInt(backlog) ? backlog : 0) < 0) {
      throw this.#fail("listen");
    }
  }

  accept(fd: number, flags: number): number {
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "accept4");
    if (!isInt(flags)) throw errnoError(Errno.EINVAL, "accept4");
    const r = this.#libc.symbols.accept4(fd, null, null, flags);
    if (r < 0) throw this.#fail("accept4");
    return r;
  }

  connect(fd: number, path: string): void {
    const len = encodeSockaddrUn(this.#addr.bytes, path, "connect");
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "connect", { path });
    // SAFETY: `#addr` holds a sockaddr_un of `len` bytes, alive during the call.
    if (this.#libc.symbols.connect(fd, this.#addr.pointer, len) < 0) {
      throw this.#fail("connect", path);
    }
  }

  /** Fills the msghdr + iovec for `n` payload bytes and `controllen` control bytes. */
  #msghdr(data: Scratch, n: number, controllen: number): void {
    const v = this.#msg.view;
    this.#msg.bytes.fill(0);
    const iov = this.#msg.address + BigInt(MSGHDR.size);
    v.setBigUint64(MSGHDR.msg_iov, iov, true);
    v.setBigUint64(MSGHDR.msg_iovlen, 1n, true);
    v.setBigUint64(MSGHDR.size + IOVEC.iov_base, n === 0 ? 0n : data.address, true);
    v.setBigUint64(MSGHDR.size + IOVEC.iov_len, BigInt(n), true);
    v.setBigUint64(MSGHDR.msg_control, controllen === 0 ? 0n : this.#control.address, true);
    v.setBigUint64(MSGHDR.msg_controllen, BigInt(controllen), true);
  }

  sendmsg(fd: number, data: Uint8Array, fds: readonly number[], flags: number): number {
    if (!(data instanceof Uint8Array)) throw errnoError(Errno.EFAULT, "sendmsg");
    if (!Array.isArray(fds) || !isInt(flags)) throw errnoError(Errno.EINVAL, "sendmsg");
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "sendmsg");
    const n = fds.length;
    const controllen = n === 0 ? 0 : CMSG_SPACE(4 * n);
    if (this.#control.bytes.length < controllen) this.#control = new Scratch(controllen);
    const buf = this.#data_at_least(data.length);
    buf.bytes.set(data);
    if (n > 0) {
      const c = this.#control.view;
      this.#control.bytes.fill(0, 0, controllen);
      // One fd: cmsg_len = CMSG_LEN(4) = 20 inside msg_controllen = CMSG_SPACE(4) = 24.
      c.setBigUint64(CMSGHDR.cmsg_len, BigInt(CMSG_LEN(4 * n)), true);
      c.setInt32(CMSGHDR.cmsg_level, SOL_SOCKET, true);
      c.setInt32(CMSGHDR.cmsg_type, SCM_RIGHTS, true);
      for (let i = 0; i < n; i++) {
        // A non-integer fd becomes -1, which the kernel rejects with EBADF like any bad fd.
        c.setInt32(CMSGHDR.data + 4 * i, isInt(fds[i]) ? fds[i] : -1, true);
      }
    }
    this.#msghdr(buf, data.length, controllen);
    // SAFETY: the msghdr points at `#msg` (iovec), `buf` (data.length bytes) and `#control`
    // (controllen bytes), all off-heap buffers held by this object during the call.
    const r = this.#libc.symbols.sendmsg(fd, this.#msg.pointer, flags);
    if (r < 0) throw this.#fail("sendmsg");
    return Number(r);
  }

  recvmsg(fd: number, data: Uint8Array, maxFds: number, flags: number): ReceivedMessage {
    if (!(data instanceof Uint8Array)) throw errnoError(Errno.EFAULT, "recvmsg");
    if (!isInt(maxFds) || maxFds < 0 || !isInt(flags)) throw errnoError(Errno.EINVAL, "recvmsg");
    if (!isInt(fd)) throw errnoError(Errno.EBADF, "recvmsg");
    // A message carries at most SCM_MAX_FD fds, so room for more changes nothing: clamp.
    const room = Math.min(maxFds, SCM_MAX_FD);
    const controllen = room === 0 ? 0 : CMSG_SPACE(4 * room);
    if (this.#control.bytes.length < controllen) this.#control = new Scratch(controllen);
    this.#control.bytes.fill(0, 0, controllen);
    const buf = this.#data_at_least(data.length);
    this.#msghdr(buf, data.length, controllen);
    // SAFETY: as in sendmsg; the kernel writes at most data.length bytes into `buf` and
    // controllen bytes into `#control`, and updates msg_controllen and msg_flags in `#msg`.
    const r = this.#libc.symbols.recvmsg(fd, this.#msg.pointer, flags);
    if (r < 0) throw this.#fail("recvmsg");
    const bytes = Number(r);
    data.set(buf.bytes.subarray(0, Math.min(bytes, data.length)));
    const v = this.#msg.view;
    const msgFlags = v.getInt32(MSGHDR.msg_flags, true);
    const got = Number(v.getBigUint64(MSGHDR.msg_controllen, true));
    const received: number[] = [];
    // Walk the control messages (CMSG_FIRSTHDR / CMSG_NXTHDR).
    const c = this.#control.view;
    for (let off = 0; off + CMSGHDR.size <= got;) {
      const len = Number(c.getBigUint64(off + CMSGHDR.cmsg_len, true));
      if (len < CMSGHDR.size || off + len > got) break;
      if (
        c.getInt32(off + CMSGHDR.cmsg_level, true) === SOL_SOCKET &&
        c.getInt32(off + CMSGHDR.cmsg_type, true) === SCM_RIGHTS
      ) {
        for (let p = off + CMSGHDR.data; p + 4 <= off + len; p += 4) {
          received.push(c.getInt32(p, true));
        }
      }
      off += CMSG_SPACE(len - CMSGHDR.size);
    }
    return { bytes, fds: received, flags: msgFlags };
  }

  pidfdOpen(pid: number, flags: number): number {
    if (!isInt(pid) || !isInt(flags)) throw errnoError(Errno.EINVAL, "pidfd_open");
    const r = this.#libc.symbols.syscall3(BigInt(SYS_pidfd_open), pid, flags, 0);
    if (r < 0n) throw this.#fail("pidfd_open");
    return Number(r);
  }

  pidfdGetfd(pidfd: number, targetFd: number, flags: number): number {
    if (!isInt(flags)) throw errnoError(Errno.EINVAL, "pidfd_getfd");
    if (!isInt(pidfd) || !isInt(targetFd)) throw errnoError(Errno.EBADF, "pidfd_getfd");
    const r = this.#libc.symbols.syscall3(BigInt(SYS_pidfd_getfd), pidfd, targetFd, flags >>> 0);
    if (r < 0n) throw this.#fail("pidfd_getfd");
    return Number(r);
  }
}
