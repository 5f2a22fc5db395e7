/**
 * drivers/tty/: a stand-in for the terminal that fds 0, 1 and 2 of every process are open on
 * (`/dev/pts/0`). Only what user space can observe here: it cannot seek or mmap, it is always
 * writable and never readable in `poll`, and an ioctl it does not know is ENOTTY — so a
 * `DMA_HEAP_IOCTL_ALLOC` on stdin fails the way the heap selftest expects.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import type { file_operations } from "./file_table.ts";
import { nonseekable_open } from "./char_dev.ts";
import { POLLOUT } from "../uapi/constants.ts";

/** `TCGETS`. */
const TCGETS = 0x5401;

/** `tty_fops` of the stand-in terminal. */
export const tty_fops: file_operations = {
  open: (_inode, f) => nonseekable_open(f),
  unlocked_ioctl(_f, cmd) {
    // TCGETS succeeds on a terminal (isatty); everything else this model does not know.
    if (cmd === TCGETS) return 0;
    fail(Errno.ENOTTY);
  },
  poll: (_f, events) => events & POLLOUT,
};

/** `null_fops` (`/dev/null`): seekable to 0, always ready, no ioctls. */
export const null_fops: file_operations = {
  llseek: () => 0,
};
