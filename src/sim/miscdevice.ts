/**
 * drivers/char/misc.c: `misc_register()` for drivers written against the model. A misc device
 * gets `/dev/<name>`, a `this_device` (a name for bufinfo's "Attached Devices" and a DMA mask),
 * and its `open` sees the miscdevice in `file->private_data`, as in Linux.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import type { file, file_operations, inode } from "./file_table.ts";
import type { device } from "./dma_buf.ts";
import type { Devtmpfs } from "./char_dev.ts";
import type { Task } from "./sched.ts";
import type { poll_table } from "./wait.ts";

/** The fops a misc driver provides. */
export interface misc_fops {
  /** `open`. */
  open?(inode: inode, file: file, current: Task): void;
  /** `unlocked_ioctl`: `arg` is the user address. */
  unlocked_ioctl?(file: file, cmd: number, arg: number, current: Task): number;
  /** `poll`. */
  poll?(file: file, events: number, pt?: poll_table): number;
  /** `release`. */
  release?(inode: inode, file: file): void;
}

/** `struct miscdevice`. */
export interface miscdevice {
  /** Device name: `/dev/<name>` (or `nodename`). */
  readonly name: string;
  /** Node path under /dev when it differs from `name`. */
  readonly nodename?: string;
  /** The operations. */
  readonly fops: misc_fops;
  /** The device, once registered. */
  this_device?: device;
}

/** Misc devices of a machine. */
export class MiscSubsys {
  readonly #dev: Devtmpfs;
  readonly #devices = new Map<string, miscdevice>();

  /**
   * No misc devices yet.
   *
   * @param dev The machine's `/dev`, where the nodes go.
   */
  constructor(dev: Devtmpfs) {
    this.#dev = dev;
  }

  /**
   * `misc_register(misc)`.
   *
   * @throws {KernelError} EBUSY when the name is taken.
   */
  misc_register(misc: miscdevice): void {
    if (this.#devices.has(misc.name)) fail(Errno.EBUSY);
    const fops: file_operations = {
      open(ino, f, current) {
        // misc_open(): private_data is the miscdevice, then the driver's open.
        f.private_data = misc;
        misc.fops.open?.(ino, f, current);
      },
      unlocked_ioctl: misc.fops.unlocked_ioctl,
      poll: misc.fops.poll,
      release: misc.fops.release,
    };
    this.#dev.add(misc.nodename ?? misc.name, fops, misc);
    // A misc device has no DMA mask; a driver that maps buffers for it must set one.
    misc.this_device = { name: misc.name, dma_mask: null };
    this.#devices.set(misc.name, misc);
  }

  /** `misc_deregister(misc)`. */
  misc_deregister(misc: miscdevice): void {
    if (this.#devices.get(misc.name) !== misc) return;
    this.#devices.delete(misc.name);
    this.#dev.remove(`/dev/${misc.nodename ?? misc.name}`);
  }
}

/** `misc_register(misc)` on a machine. */
export function misc_register(m: { readonly misc: MiscSubsys }, misc: miscdevice): void {
  m.misc.misc_register(misc);
}
