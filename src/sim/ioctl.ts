/**
 * fs/ioctl.c: `ioctl(2)`. The VFS handles a few commands for every file (`do_vfs_ioctl`); the
 * rest go to the file's `unlocked_ioctl`.
 *
 * @module
 */
import { O_NONBLOCK } from "../uapi/constants.ts";
import { Errno, fail } from "./errno.ts";
import type { Task } from "./sched.ts";

/** `FIONBIO`: set or clear O_NONBLOCK from an `int` at `arg`. */
export const FIONBIO = 0x5421;
/** `FIONCLEX`: clear close-on-exec. */
export const FIONCLEX = 0x5450;
/** `FIOCLEX`: set close-on-exec. */
export const FIOCLEX = 0x5451;
/** `FIOASYNC`: O_ASYNC (accepted, not modelled). */
export const FIOASYNC = 0x5452;

/**
 * `do_vfs_ioctl()`, then the file's `unlocked_ioctl`. `request` is the command as an unsigned
 * 32-bit number, `uarg` the user address of the argument (0 for none).
 *
 * @throws {KernelError} EBADF for a closed fd, EFAULT for a bad FIONBIO argument, ENOTTY when the
 * file has no ioctls, or the driver's error.
 */
export function do_vfs_ioctl(current: Task, fd: number, request: number, uarg: number): number {
  const f = current.files.fdget(fd);
  switch (request) {
    case FIOCLEX:
    case FIONCLEX:
      current.files.set_close_on_exec(fd, request === FIOCLEX);
      return 0;
    case FIONBIO: {
      const m = current.mm.resolve(uarg);
      if (!m || m.bytes.length < 4) fail(Errno.EFAULT);
      const on = new DataView(m.bytes.buffer, m.bytes.byteOffset, 4).getInt32(0, true) !== 0;
      f.f_flags = on ? f.f_flags | O_NONBLOCK : f.f_flags & ~O_NONBLOCK;
      return 0;
    }
    case FIOASYNC:
      return 0;
  }
  if (!f.f_op.unlocked_ioctl) fail(Errno.ENOTTY);
  return f.f_op.unlocked_ioctl(f, request, uarg, current);
}
