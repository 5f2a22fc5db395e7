/**
 * net/unix/af_unix.c and net/core/scm.c in miniature: AF_UNIX stream and seqpacket sockets
 * (socketpair, bind/listen/connect/accept by name), their receive queues, and SCM_RIGHTS — the
 * files of an in-flight message hold a reference (`count` +1 in fdinfo) until it is received or
 * the receiving socket is released.
 *
 * Differences from Linux (see `README.md`): nothing ever blocks — an empty queue or backlog is
 * `EAGAIN` even on a blocking socket; send buffers are unlimited; a filesystem name needs no
 * existing directory and stays bound (connect → ECONNREFUSED) until the machine goes away, as
 * Linux leaves the socket file until it is unlinked; no SCM_CREDENTIALS, no garbage collection of
 * sockets in flight (passing a socket over itself leaks it, as Linux before its GC runs).
 *
 * @module
 */
import { Errno, fail, KernelError } from "./errno.ts";
import { file, FMODE_READ, FMODE_WRITE, fput } from "./file_table.ts";
import type { file_operations, inode } from "./file_table.ts";
import type { MachineContext } from "./context.ts";
import type { files_struct } from "./file.ts";
import {
  AF_UNIX,
  MSG_CMSG_CLOEXEC,
  MSG_CTRUNC,
  MSG_DONTWAIT,
  MSG_TRUNC,
  SCM_MAX_FD,
  scmCapacity,
  SOCK_CLOEXEC,
  SOCK_DGRAM,
  SOCK_NONBLOCK,
  SOCK_SEQPACKET,
  SOCK_STREAM,
  SOCKADDR_UN,
} from "../uapi/socket.ts";
import { O_NONBLOCK, O_RDWR, POLLERR, POLLHUP, POLLIN, POLLOUT } from "../uapi/constants.ts";

/** Mount id of sockfs (arbitrary, fixed). */
const SOCKFS_MNT_ID = 8;
/** `SOCK_TYPE_MASK`. */
const SOCK_TYPE_MASK = 0xf;
/** `SOCK_MAX`. */
const SOCK_MAX = 11;
/** `SOCK_RAW`: AF_UNIX treats it as SOCK_DGRAM. */
const SOCK_RAW = 3;
/** `NPROTO`: address families are below this. */
const NPROTO = 46;
/** Families Linux registers whose `socketpair` op is `sock_no_socketpair` (EOPNOTSUPP). */
const OTHER_FAMILIES = new Set([2, 10, 16, 17]);
/** `POLLRDHUP`. */
const POLLRDHUP = 0x2000;

/** An `sk_buff` on a receive queue: payload and the files of its SCM_RIGHTS message. */
interface sk_buff {
  data: Uint8Array;
  /** `UNIXCB(skb).fp`: files in flight, each holding a reference. */
  fp: file[] | null;
}

type sk_state = "unconnected" | "listening" | "connected";

/** `struct unix_sock`. */
export class unix_sock {
  readonly type: number;
  state: sk_state = "unconnected";
  peer: unix_sock | null = null;
  /** `sk_receive_queue`. */
  readonly queue: sk_buff[] = [];
  /** Connections waiting for `accept` (listening sockets). */
  readonly backlog: unix_sock[] = [];
  /** `sk_shutdown & RCV_SHUTDOWN`: the peer is gone. */
  rcv_shutdown = false;
  /** `sk_err`: reported once by the next receive (or seqpacket send). */
  err = 0;
  dead = false;
  /** The bound name. */
  addr: string | null = null;
  /** The socket's file, once it has one. */
  file: file | null = null;
  readonly machine: MachineContext;

  constructor(machine: MachineContext, type: number) {
    this.machine = machine;
    this.type = type;
  }

  /** `scm_stat.nr_fds`: fds in flight on the receive queue. */
  get nr_fds(): number {
    return this.queue.reduce((n, skb) => n + (skb.fp?.length ?? 0), 0);
  }
}

/** Bound names per machine: a socket, or `null` for a filesystem name whose socket closed. */
const names = new WeakMap<MachineContext, Map<string, unix_sock | null>>();
function namespace(m: MachineContext): Map<string, unix_sock | null> {
  let n = names.get(m);
  if (!n) names.set(m, n = new Map());
  return n;
}

/** `skb_queue_purge` of a dying socket: every in-flight file's reference is put. */
function unix_purge(u: unix_sock): void {
  for (const skb of u.queue.splice(0)) for (const f of skb.fp ?? []) fput(f);
}

/** `unix_release_sock()`. */
function unix_release_sock(u: unix_sock): void {
  u.dead = true;
  if (u.addr !== null) {
    const ns = namespace(u.machine);
    // An abstract name ("<type>:\0…") goes with the socket; a file stays until unlinked.
    if (u.addr.includes("\0")) ns.delete(u.addr);
    else ns.set(u.addr, null);
  }
  const peer = u.peer;
  if (peer && u.state === "connected") {
    peer.rcv_shutdown = true;
    if (u.queue.length > 0) peer.err = Errno.ECONNRESET;
  }
  unix_purge(u);
  for (const embryo of u.backlog.splice(0)) unix_release_sock(embryo);
}

const unix_fops: file_operations = {
  release(_i: inode, f: file) {
    unix_release_sock(f.private_data as unix_sock);
  },
  poll(f: file, _events: number): number {
    const u = f.private_data as unix_sock;
    let mask = 0;
    if (u.err) mask |= POLLERR;
    if (u.rcv_shutdown) mask |= POLLRDHUP | POLLIN | POLLHUP;
    if (u.queue.length > 0 || u.backlog.length > 0) mask |= POLLIN;
    if (u.state === "connected" && !u.peer?.dead) mask |= POLLOUT;
    if (u.state === "unconnected" && u.type === SOCK_STREAM) mask |= POLLOUT | POLLHUP;
    return mask;
  },
  show_fdinfo(f: file): string {
    return `scm_fds: ${(f.private_data as unix_sock).nr_fds}\n`;
  },
};

/** `sock_alloc_file()`: the socket's file on sockfs (`socket:[ino]`). */
function sock_alloc_file(u: unix_sock, flags: number): file {
  const ino: inode = {
    i_ino: u.machine.get_next_ino(),
    kind: "anon",
    i_size: 0,
    mnt_id: SOCKFS_MNT_ID,
  };
  const f = new file(
    unix_fops,
    ino,
    O_RDWR | (flags & SOCK_NONBLOCK ? O_NONBLOCK : 0),
    FMODE_READ | FMODE_WRITE,
    () => `socket:[${ino.i_ino}]`,
    u,
  );
  u.file = f;
  return f;
}

/** The socket behind a file, or ENOTSOCK (`sockfd_lookup`). */
export function sock_from_file(f: file): unix_sock {
  if (!(f.private_data instanceof unix_sock)) fail(Errno.ENOTSOCK);
  return f.private_data;
}

/** `__sock_create()` + `unix_create()`: checks family, type and protocol; returns the type. */
function unix_create(domain: number, type: number, protocol: number, pair: boolean): number {
  if (type & ~SOCK_TYPE_MASK & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) fail(Errno.EINVAL);
  if (domain < 0 || domain >= NPROTO) fail(Errno.EAFNOSUPPORT);
  const t = type & SOCK_TYPE_MASK;
  if (t >= SOCK_MAX) fail(Errno.EINVAL);
  if (domain !== AF_UNIX) {
    // The model has only AF_UNIX; socketpair() of a family Linux has is EOPNOTSUPP.
    fail(pair && OTHER_FAMILIES.has(domain) ? Errno.EOPNOTSUPP : Errno.EAFNOSUPPORT);
  }
  if (protocol !== 0 && protocol !== AF_UNIX) fail(Errno.EPROTONOSUPPORT);
  switch (t) {
    case SOCK_STREAM:
    case SOCK_SEQPACKET:
    case SOCK_DGRAM:
      return t;
    case SOCK_RAW:
      return SOCK_DGRAM;
    default:
      fail(Errno.ESOCKTNOSUPPORT);
  }
}

const encoder = new TextEncoder();

/**
 * `unix_validate_addr()` + `unix_mkname()`: the checks both kernels make on an AF_UNIX name
 * (see `_linux_socket.ts`): not empty, no NUL in a filesystem name, and it fits `sun_path` with
 * its NUL.
 *
 * @throws {KernelError} EINVAL otherwise.
 */
export function unix_validate_addr(path: string): void {
  if (typeof path !== "string" || path.length === 0) fail(Errno.EINVAL);
  const abstract = path.startsWith("\0");
  const bytes = encoder.encode(path);
  if (!abstract && bytes.includes(0)) fail(Errno.EINVAL);
  if (bytes.length + (abstract ? 0 : 1) > SOCKADDR_UN.pathMax) fail(Errno.EINVAL);
}

/** `socketpair(2)`: two connected sockets and their files. */
export function unix_socketpair(
  m: MachineContext,
  domain: number,
  type: number,
  protocol: number,
): [file, file] {
  const t = unix_create(domain, type, protocol, true);
  const a = new unix_sock(m, t), b = new unix_sock(m, t);
  a.peer = b;
  b.peer = a;
  a.state = b.state = "connected";
  return [sock_alloc_file(a, type), sock_alloc_file(b, type)];
}

/** `socket(2)`. */
export function unix_socket(
  m: MachineContext,
  domain: number,
  type: number,
  protocol: number,
): file {
  const t = unix_create(domain, type, protocol, false);
  return sock_alloc_file(new unix_sock(m, t), type);
}

/** `unix_bind()`. */
export function unix_bind(u: unix_sock, name: string): void {
  if (u.addr !== null) fail(Errno.EINVAL);
  const ns = namespace(u.machine);
  const key = name_key(name, u.type);
  if (ns.has(key)) fail(Errno.EADDRINUSE);
  ns.set(key, u);
  u.addr = key;
}

/**
 * `unlink(2)` of a socket file: the name goes (a socket still bound to it stays open but can no
 * longer be found). An abstract name is not a file: ENOENT, as for any name never bound.
 */
export function unix_unlink(m: MachineContext, name: string): void {
  const ns = namespace(m);
  if (name.startsWith("\0") || !ns.has(name)) fail(Errno.ENOENT);
  ns.delete(name);
}

/**
 * The namespace key: an abstract name is looked up together with the socket type (Linux hashes
 * the type into the abstract lookup, so a seqpacket connect never finds a stream listener:
 * ECONNREFUSED); a filesystem name is one file whatever the type (EPROTOTYPE on a mismatch).
 */
function name_key(name: string, type: number): string {
  return name.startsWith("\0") ? `${type}:${name}` : name;
}

/** `unix_listen()`. */
export function unix_listen(u: unix_sock): void {
  if (u.type !== SOCK_STREAM && u.type !== SOCK_SEQPACKET) fail(Errno.EOPNOTSUPP);
  if (u.addr === null || u.state === "connected") fail(Errno.EINVAL);
  u.state = "listening";
}

/** `unix_stream_connect()`: queues an embryo socket on the listener's backlog. */
export function unix_connect(u: unix_sock, name: string): void {
  if (u.type === SOCK_DGRAM) fail(Errno.EOPNOTSUPP); // datagram connect is not modelled
  if (u.state === "connected") fail(Errno.EISCONN);
  if (u.state === "listening") fail(Errno.EINVAL);
  const ns = namespace(u.machine);
  const other = ns.get(name_key(name, u.type));
  if (other === undefined) fail(name.startsWith("\0") ? Errno.ECONNREFUSED : Errno.ENOENT);
  if (other === null || other.state !== "listening") fail(Errno.ECONNREFUSED);
  if (other.type !== u.type) fail(Errno.EPROTOTYPE);
  const embryo = new unix_sock(u.machine, u.type);
  embryo.state = u.state = "connected";
  embryo.peer = u;
  u.peer = embryo;
  other.backlog.push(embryo);
}

/** `unix_accept()`: the first connection of the backlog, with its new file. */
export function unix_accept(u: unix_sock, flags: number, nonblock: boolean): file {
  if (u.state !== "listening") fail(Errno.EINVAL);
  const embryo = u.backlog.shift();
  if (!embryo) {
    fail(Errno.EAGAIN, nonblock ? undefined : "accept would block (the model never sleeps)");
  }
  return sock_alloc_file(embryo, flags);
}

/** `scm_fp_copy()`: a reference to each file, EINVAL past SCM_MAX_FD, EBADF for a bad fd. */
function scm_fp_copy(files: files_struct, fds: readonly number[]): file[] | null {
  if (fds.length === 0) return null;
  if (fds.length > SCM_MAX_FD) fail(Errno.EINVAL);
  const fp: file[] = [];
  for (const fd of fds) {
    const f = Number.isInteger(fd) && fd >= 0 ? files.fget(fd) : undefined;
    if (!f) {
      for (const g of fp) fput(g);
      fail(Errno.EBADF);
    }
    fp.push(f);
  }
  return fp;
}

function scm_destroy(fp: file[] | null): void {
  for (const f of fp ?? []) fput(f);
}

/**
 * `unix_stream_sendmsg()` / `unix_seqpacket_sendmsg()`: queues `data` with the files of `fds`
 * on the peer's receive queue. Returns the bytes sent.
 */
export function unix_sendmsg(
  u: unix_sock,
  files: files_struct,
  data: Uint8Array,
  fds: readonly number[],
): number {
  if (u.type === SOCK_SEQPACKET) {
    if (u.err) {
      const e = u.err;
      u.err = 0;
      fail(e);
    }
    if (u.state !== "connected") fail(Errno.ENOTCONN);
  }
  if (u.type === SOCK_DGRAM && u.state !== "connected") fail(Errno.ENOTCONN);
  const fp = scm_fp_copy(files, fds);
  try {
    if (u.state !== "connected" || !u.peer) fail(Errno.ENOTCONN);
    // A stream send of nothing sends nothing, not even the fds.
    if (u.type === SOCK_STREAM && data.length === 0) {
      scm_destroy(fp);
      return 0;
    }
    const other = u.peer;
    if (other.dead) fail(Errno.EPIPE);
    other.queue.push({ data: data.slice(), fp });
    return data.length;
  } catch (e) {
    if (e instanceof KernelError) scm_destroy(fp);
    throw e;
  }
}

/** `scm_detach_fds()`: installs what fits, drops the rest (MSG_CTRUNC). */
function scm_detach_fds(
  files: files_struct,
  fp: file[],
  maxFds: number,
  cloexec: boolean,
  out: number[],
): number {
  const cap = scmCapacity(Math.min(maxFds, SCM_MAX_FD)); // as the Linux wrapper clamps
  let flags = 0;
  let i = 0;
  for (; i < fp.length && i < cap; i++) {
    try {
      out.push(files.fd_install(fp[i], cloexec));
    } catch (e) {
      if (!(e instanceof KernelError)) throw e;
      break;
    }
  }
  if (i < fp.length) {
    flags |= MSG_CTRUNC;
    for (; i < fp.length; i++) fput(fp[i]);
  }
  return flags;
}

/** What `unix_recvmsg` returns. */
export interface unix_msg {
  bytes: number;
  fds: number[];
  flags: number;
}

/**
 * `unix_stream_read_generic()` / `unix_dgram_recvmsg()` of a seqpacket socket. A stream read
 * glues queued messages until the buffer is full and stops after the first one that carried
 * fds; a seqpacket read takes one message and drops what does not fit (MSG_TRUNC).
 */
export function unix_recvmsg(
  u: unix_sock,
  files: files_struct,
  data: Uint8Array,
  maxFds: number,
  flags: number,
  nonblock: boolean,
): unix_msg {
  if (u.state !== "connected") fail(u.type === SOCK_SEQPACKET ? Errno.ENOTCONN : Errno.EINVAL);
  const cloexec = (flags & MSG_CMSG_CLOEXEC) !== 0;
  // ____sys_recvmsg() starts msg_flags from the caller's MSG_CMSG_CLOEXEC.
  const out: unix_msg = { bytes: 0, fds: [], flags: flags & MSG_CMSG_CLOEXEC };
  if (u.queue.length === 0) {
    if (u.err) {
      const e = u.err;
      u.err = 0;
      fail(e);
    }
    if (u.rcv_shutdown) return out;
    fail(
      Errno.EAGAIN,
      nonblock || (flags & MSG_DONTWAIT)
        ? undefined
        : "recvmsg would block (the model never sleeps)",
    );
  }
  if (u.type !== SOCK_STREAM) {
    const skb = u.queue.shift()!;
    const n = Math.min(skb.data.length, data.length);
    data.set(skb.data.subarray(0, n));
    out.bytes = n;
    if (n < skb.data.length) out.flags |= MSG_TRUNC;
    if (skb.fp) out.flags |= scm_detach_fds(files, skb.fp, maxFds, cloexec, out.fds);
    return out;
  }
  while (u.queue.length > 0 && out.bytes < data.length) {
    const skb = u.queue[0];
    const n = Math.min(skb.data.length, data.length - out.bytes);
    data.set(skb.data.subarray(0, n), out.bytes);
    out.bytes += n;
    const fp = skb.fp;
    skb.fp = null;
    if (n === skb.data.length) u.queue.shift();
    else skb.data = skb.data.subarray(n);
    if (fp) {
      out.flags |= scm_detach_fds(files, fp, maxFds, cloexec, out.fds);
      break;
    }
  }
  return out;
}
