/**
 * net/socket.c: the socket syscalls. They check their arguments, find the socket behind the fd
 * and call AF_UNIX (`af_unix.ts`), the only family the model has; files they make are installed
 * at the lowest free fd.
 *
 * @module
 */
import type { ReceivedMessage } from "../kernel/types.ts";
import { O_NONBLOCK } from "../uapi/constants.ts";
import { SOCK_CLOEXEC, SOCK_NONBLOCK } from "../uapi/socket.ts";
import {
  sock_from_file,
  unix_accept,
  unix_bind,
  unix_connect,
  unix_listen,
  unix_recvmsg,
  unix_sendmsg,
  unix_socket,
  unix_socketpair,
  unix_validate_addr,
} from "./af_unix.ts";
import { Errno, fail, is_int32 } from "./errno.ts";
import { fput } from "./file_table.ts";
import type { Task } from "./sched.ts";

function check_socket_args(domain: number, type: number, protocol: number): void {
  if (!is_int32(domain) || !is_int32(type) || !is_int32(protocol)) fail(Errno.EINVAL);
}

/**
 * `__sys_socketpair()`: two connected sockets on the two lowest free fds.
 *
 * @throws {KernelError} the family's and type's errors (EAFNOSUPPORT, EOPNOTSUPP,
 * ESOCKTNOSUPPORT, EPROTONOSUPPORT), EMFILE when fewer than two fds are free.
 */
export function __sys_socketpair(
  current: Task,
  domain: number,
  type: number,
  protocol: number,
): [number, number] {
  check_socket_args(domain, type, protocol);
  const [a, b] = unix_socketpair(current.machine, domain, type, protocol);
  const cloexec = (type & SOCK_CLOEXEC) !== 0;
  let fa: number;
  try {
    fa = current.files.fd_install_or_fput(a, cloexec);
  } catch (e) {
    fput(b);
    throw e;
  }
  try {
    return [fa, current.files.fd_install_or_fput(b, cloexec)];
  } catch (e) {
    current.files.close_fd(fa);
    throw e;
  }
}

/**
 * `__sys_socket()`.
 *
 * @throws {KernelError} the family's and type's errors, EMFILE when no fd is free.
 */
export function __sys_socket(
  current: Task,
  domain: number,
  type: number,
  protocol: number,
): number {
  check_socket_args(domain, type, protocol);
  const f = unix_socket(current.machine, domain, type, protocol);
  return current.files.fd_install_or_fput(f, (type & SOCK_CLOEXEC) !== 0);
}

/**
 * `__sys_bind()` to an AF_UNIX name.
 *
 * @throws {KernelError} EINVAL for a bad name or a bound socket, EADDRINUSE, ENOTSOCK, EBADF.
 */
export function __sys_bind(current: Task, fd: number, path: string): void {
  unix_validate_addr(path);
  unix_bind(sock_from_file(current.files.fdget(fd)), path);
}

/**
 * `__sys_listen()`.
 *
 * @throws {KernelError} EINVAL for an unbound or connected socket, ENOTSOCK, EBADF.
 */
export function __sys_listen(current: Task, fd: number): void {
  unix_listen(sock_from_file(current.files.fdget(fd)));
}

/**
 * `__sys_accept4()`: the next connection of a listening socket, on a new fd.
 *
 * @throws {KernelError} EINVAL for unknown flags or a socket that is not listening, EAGAIN with
 * an empty backlog, EMFILE when no fd is free.
 */
export function __sys_accept4(current: Task, fd: number, flags: number): number {
  if (!is_int32(flags) || flags & ~(SOCK_CLOEXEC | SOCK_NONBLOCK)) fail(Errno.EINVAL);
  const lf = current.files.fdget(fd);
  const f = unix_accept(sock_from_file(lf), flags, (lf.f_flags & O_NONBLOCK) !== 0);
  return current.files.fd_install_or_fput(f, (flags & SOCK_CLOEXEC) !== 0);
}

/**
 * `__sys_connect()` to an AF_UNIX name.
 *
 * @throws {KernelError} EINVAL for a bad name, ECONNREFUSED, EISCONN, ENOTSOCK, EBADF.
 */
export function __sys_connect(current: Task, fd: number, path: string): void {
  unix_validate_addr(path);
  unix_connect(sock_from_file(current.files.fdget(fd)), path);
}

/**
 * `__sys_sendmsg()`: `data` and, as SCM_RIGHTS, the files behind `fds`.
 *
 * @throws {KernelError} EFAULT for bad data, EINVAL for bad fds or flags, EBADF, ENOTCONN,
 * EPIPE.
 */
export function __sys_sendmsg(
  current: Task,
  fd: number,
  data: Uint8Array,
  fds: readonly number[],
  flags: number,
): number {
  if (!(data instanceof Uint8Array)) fail(Errno.EFAULT);
  if (!Array.isArray(fds) || !is_int32(flags)) fail(Errno.EINVAL);
  const u = sock_from_file(current.files.fdget(fd));
  return unix_sendmsg(u, current.files, data, fds.map((x) => (is_int32(x) ? x : -1)));
}

/**
 * `__sys_recvmsg()`: up to `data.length` bytes and up to `maxFds` received files, installed as
 * new fds.
 *
 * @throws {KernelError} EFAULT for bad data, EINVAL for bad arguments, EAGAIN when nothing is
 * queued, EBADF, ENOTSOCK.
 */
export function __sys_recvmsg(
  current: Task,
  fd: number,
  data: Uint8Array,
  maxFds: number,
  flags: number,
): ReceivedMessage {
  if (!(data instanceof Uint8Array)) fail(Errno.EFAULT);
  if (!is_int32(maxFds) || maxFds < 0 || !is_int32(flags)) fail(Errno.EINVAL);
  const f = current.files.fdget(fd);
  const u = sock_from_file(f);
  return unix_recvmsg(u, current.files, data, maxFds, flags, (f.f_flags & O_NONBLOCK) !== 0);
}
