/**
 * kernel/pid.c, kernel/pidfd parts of kernel/fork.c, kernel/ptrace.c: pidfds (`pidfd_open`,
 * `pidfd_getfd`) and the ptrace access check that guards taking another process's fd and reading
 * its `/proc` files.
 *
 * Credentials are one uid per process (no separate euid/suid/fsuid, no capabilities other than
 * "uid 0 has CAP_SYS_PTRACE", no Yama) plus the `dumpable` flag.
 *
 * @module
 */
import { Errno, fail, is_int32 } from "./errno.ts";
import { file, FMODE_READ, FMODE_WRITE, get_file } from "./file_table.ts";
import type { file_operations, inode } from "./file_table.ts";
import type { MachineContext } from "./context.ts";
import type { Task } from "./sched.ts";
import { O_EXCL, O_NONBLOCK, O_RDWR, POLLIN } from "../uapi/constants.ts";

/** Mount id of pidfs (arbitrary, fixed). */
const PIDFS_MNT_ID = 4;

/**
 * `__ptrace_may_access()`: the same process always may; otherwise the caller needs the target's
 * uid and a dumpable target, or uid 0 (CAP_SYS_PTRACE).
 */
export function ptrace_may_access(caller: Task, target: Task): boolean {
  if (caller === target) return true;
  if (caller.uid === 0) return true;
  return caller.uid === target.uid && target.dumpable;
}

const pidfd_fops: file_operations = {
  poll(f: file): number {
    return (f.private_data as pidfd_priv).task.exited ? POLLIN : 0;
  },
  show_fdinfo(f: file): string {
    const t = (f.private_data as pidfd_priv).task;
    const nr = t.exited ? -1 : t.pid;
    return `Pid:\t${nr}\nNSpid:\t${nr}\n`;
  },
};

interface pidfd_priv {
  readonly task: Task;
}

/**
 * `pidfd_open(pid, flags)`: a file referring to the process (close-on-exec is the caller's to
 * set: it always is).
 *
 * @throws {KernelError} EINVAL for unknown flags or pid ≤ 0, ESRCH for no such live process.
 */
export function pidfd_open(m: MachineContext, pid: number, flags: number): file {
  if (flags & ~(O_NONBLOCK | O_EXCL)) fail(Errno.EINVAL);
  if (pid <= 0) fail(Errno.EINVAL);
  const task = m.find_task_by_vpid(pid);
  if (!task) fail(Errno.ESRCH);
  const ino: inode = { i_ino: m.get_next_ino(), kind: "anon", i_size: 0, mnt_id: PIDFS_MNT_ID };
  return new file(
    pidfd_fops,
    ino,
    O_RDWR | (flags & O_NONBLOCK),
    FMODE_READ | FMODE_WRITE,
    () => "anon_inode:[pidfd]",
    { task } satisfies pidfd_priv,
  );
}

/**
 * `pidfd_getfd(pidfd, fd, 0)`'s kernel part: a new reference to the target's file.
 *
 * @throws {KernelError} EBADF if `pidfd` is not a pidfd or `fd` is not open in the target,
 * ESRCH if the target exited, EPERM without ptrace access.
 */
export function pidfd_getfd(caller: Task, pidfd: file, fd: number): file {
  const priv = pidfd.f_op === pidfd_fops ? pidfd.private_data as pidfd_priv : undefined;
  if (!priv) fail(Errno.EBADF);
  return pidfd_fget(caller, priv.task, fd);
}

/**
 * `__pidfd_fget()`: a new reference to `task`'s file at `fd`.
 *
 * @throws {KernelError} ESRCH if the task exited, EPERM without ptrace access, EBADF if `fd` is
 * not open there.
 */
export function pidfd_fget(caller: Task, task: Task, fd: number): file {
  if (task.exited) fail(Errno.ESRCH);
  if (!ptrace_may_access(caller, task)) fail(Errno.EPERM);
  const f = Number.isInteger(fd) && fd >= 0 ? task.files.lookup(fd) : undefined;
  if (!f) fail(Errno.EBADF);
  return get_file(f);
}

/**
 * `pidfd_open(2)`: a pidfd (always close-on-exec) on the process `pid`.
 *
 * @throws {KernelError} EINVAL for bad arguments or flags, ESRCH for no such process, EMFILE
 * when no fd is free.
 */
export function sys_pidfd_open(current: Task, pid: number, flags: number): number {
  if (!is_int32(pid) || !is_int32(flags)) fail(Errno.EINVAL);
  return current.files.fd_install_or_fput(pidfd_open(current.machine, pid, flags), true);
}

/**
 * `pidfd_getfd(2)`: a new fd (always close-on-exec) on the file behind `targetFd` of the process
 * `pidfd` refers to — or, the model's shortcut, of `target` itself.
 *
 * @throws {KernelError} EINVAL for flags ≠ 0; EBADF for a bad pidfd or target fd; ESRCH when
 * the target exited or lives on another machine; EPERM without ptrace access.
 */
export function sys_pidfd_getfd(
  current: Task,
  pidfd: number | Task,
  targetFd: number,
  flags: number,
): number {
  if (!is_int32(flags) || flags !== 0) fail(Errno.EINVAL);
  if (!is_int32(targetFd)) fail(Errno.EBADF);
  let f: file;
  if (typeof pidfd === "object" && pidfd !== null) {
    if (current.machine.find_task_by_vpid(pidfd.pid) !== pidfd) fail(Errno.ESRCH);
    f = pidfd_fget(current, pidfd, targetFd);
  } else {
    if (!is_int32(pidfd)) fail(Errno.EBADF);
    f = pidfd_getfd(current, current.files.fdget(pidfd), targetFd);
  }
  return current.files.fd_install_or_fput(f, true);
}
