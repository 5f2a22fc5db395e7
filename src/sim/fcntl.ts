/**
 * fs/fcntl.c: `fcntl(2)` — dup, close-on-exec, file status flags, and memfd seals.
 *
 * @module
 */
import {
  F_ADD_SEALS,
  F_DUPFD,
  F_DUPFD_CLOEXEC,
  F_GET_SEALS,
  F_GETFD,
  F_GETFL,
  F_SETFD,
  F_SETFL,
  FD_CLOEXEC,
  O_NONBLOCK,
} from "../uapi/constants.ts";
import { Errno, fail, is_int } from "./errno.ts";
import type { Task } from "./sched.ts";
import { memfd_fcntl } from "./shmem.ts";

/** `O_APPEND`. */
export const O_APPEND = 0o2000;
/** `SETFL_MASK` (the flags the model has): what F_SETFL may change. */
const SETFL_MASK = O_APPEND | O_NONBLOCK;

/**
 * `do_fcntl()`.
 *
 * @throws {KernelError} EBADF for a closed fd, EINVAL for an unknown command or a bad F_DUPFD
 * bound, EMFILE when no fd is free, or the seal errors of `memfd_fcntl`.
 */
export function do_fcntl(current: Task, fd: number, cmd: number, arg: number): number {
  const files = current.files;
  const f = files.fdget(fd);
  switch (cmd) {
    case F_DUPFD:
    case F_DUPFD_CLOEXEC:
      if (!is_int(arg)) fail(Errno.EINVAL);
      return files.f_dupfd(arg, f, cmd === F_DUPFD_CLOEXEC);
    case F_GETFD:
      return files.close_on_exec(fd) ? FD_CLOEXEC : 0;
    case F_SETFD:
      files.set_close_on_exec(fd, (arg & FD_CLOEXEC) !== 0);
      return 0;
    case F_GETFL:
      return f.f_flags;
    case F_SETFL:
      f.f_flags = (f.f_flags & ~SETFL_MASK) | (arg & SETFL_MASK);
      return 0;
    case F_ADD_SEALS:
      return memfd_fcntl(f, "add", arg);
    case F_GET_SEALS:
      return memfd_fcntl(f, "get", arg);
    default:
      fail(Errno.EINVAL);
  }
}
