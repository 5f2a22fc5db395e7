/**
 * A test importer driver: two misc devices that take a dma-buf by fd, map it for DMA and for the
 * CPU, log what they see and write a string into it — the experiment this project started from.
 * Written against the model's driver API the way the project's real kernel module (its C twin,
 * loaded in the test guests) is: misc devices `driverA` and `driverB`, ioctls `TEST_DRIVERA` and `TEST_DRIVERB` taking a
 * `struct buf_info { int fd; char *buf; unsigned int size; }`; other commands are ENOTTY.
 *
 * Each ioctl imports the dma-buf for DMA (`test_dma_access`: attach, map, log the sg entries,
 * unmap, detach) and for CPU access (`test_cpu_access`: vmap, log the string there, write its own
 * string, vunmap), then puts the buffer. The log names the function and the line of this file
 * that prints, like `__func__` and `__LINE__`.
 *
 * @module
 */
import { Errno, fail } from "../errno.ts";
import type { file, inode } from "../file_table.ts";
import type { Task } from "../sched.ts";
import type { DriverContext } from "../driver_context.ts";
import { copy_from_user } from "../uaccess.ts";
import { misc_register, type miscdevice } from "../miscdevice.ts";
import { DMA_BIT_MASK, dma_set_mask_and_coherent } from "../dma_mapping.ts";
import { test_queue_ioctl, test_queue_open, test_queue_poll, test_queue_release } from "./queue.ts";
import { TEST_DEQUEUE, TEST_QUEUE } from "../../uapi/queue_driver.ts";
import {
  type device,
  type dma_buf,
  dma_buf_attach,
  type dma_buf_attachment,
  dma_buf_detach,
  dma_buf_get,
  dma_buf_map_attachment,
  dma_buf_put,
  dma_buf_unmap_attachment,
  dma_buf_vmap,
  dma_buf_vunmap,
  DMA_TO_DEVICE,
  type sg_table,
} from "../dma_buf.ts";
import {
  buf_info,
  DRIVER_A_STRING,
  DRIVER_B_STRING,
  TEST_DRIVERA,
  TEST_DRIVERB,
} from "../../uapi/test_driver.ts";

/** What a hook sees: the ioctl in progress. */
export interface TestDriverContext {
  /** The calling process. */
  readonly current: Task;
  /** The `buf_info` the ioctl got. */
  readonly info: { fd: number; buf: number; size: number };
  /** The buffer. */
  readonly dmabuf: dma_buf;
  /** The attachment, while attached. */
  readonly attachment?: dma_buf_attachment;
  /** The sg table, while mapped. */
  readonly sgt?: sg_table;
}

/** Test hooks and the order of the import steps. */
export interface TestDriverOptions {
  /**
   * `"fixed"` (default): `dma_buf_put` after `dma_buf_vunmap`. `"put-before-vmap"`: the order of
   * the first version of this driver,
   * `dma_buf_put` right after `dma_buf_detach` and before `dma_buf_vmap` — a use after put that
   * only works while user space still holds the buffer (the model warns when it does not).
   */
  order?: "fixed" | "put-before-vmap";
  /** Runs right after `dma_buf_get` (e.g. another thread closing the fd). */
  afterGet?: (ctx: TestDriverContext) => void;
  /** Runs while the buffer is attached and mapped (e.g. to read bufinfo). */
  whileAttached?: (ctx: TestDriverContext) => void;
}

/** `__LINE__` of the caller: the line of this file that calls it, read from a stack trace. */
function __LINE__(): number {
  const frame = new Error().stack?.split("\n")[2] ?? "";
  const m = /:(\d+):\d+\)?$/.exec(frame);
  return m ? Number(m[1]) : 0;
}

function hex(n: number | bigint, width: number): string {
  return n.toString(16).padStart(width, "0");
}

/** The C string at the start of `bytes` (up to the first NUL). */
function c_str(bytes: Uint8Array): string {
  const nul = bytes.indexOf(0);
  return new TextDecoder().decode(nul < 0 ? bytes : bytes.subarray(0, nul));
}

/** The longest string the CPU-access log line prints from the buffer (`LOG_STR_MAX`). */
const LOG_STR_MAX = 128;

/** The test driver's state and its two misc devices. */
export class TestDriver {
  /** Options; change them between ioctls from tests. */
  options: TestDriverOptions;
  /** `/dev/driverA`. */
  readonly driverA: miscdevice;
  /** `/dev/driverB`. */
  readonly driverB: miscdevice;
  readonly #m: DriverContext;

  /**
   * Registers both misc devices and gives each a 64-bit DMA mask (`test_setup_dma`): a misc
   * device has none, and `dma_map_sgtable` refuses a device without one.
   *
   * @param m The machine.
   * @param options Order and hooks.
   */
  constructor(m: DriverContext, options: TestDriverOptions = {}) {
    this.#m = m;
    this.options = options;
    // Each open file is also a queueing stage (`queue.ts`).
    const fops = {
      unlocked_ioctl: (f: file, cmd: number, arg: number, current: Task) =>
        this.test_ioctl(f, cmd, arg, current),
      open: (_inode: inode, f: file) => test_queue_open(m, f),
      poll: test_queue_poll,
      release: (_inode: inode, f: file) => test_queue_release(f),
    };
    this.driverA = { name: "driverA", fops };
    this.driverB = { name: "driverB", fops };
    for (const misc of [this.driverA, this.driverB]) {
      misc_register(m, misc);
      dma_set_mask_and_coherent(misc.this_device!, DMA_BIT_MASK(64));
    }
  }

  /** `test_dma_access(dmabuf, dev)`: attach, map for the device, log each entry, unmap, detach. */
  test_dma_access(ctx: TestDriverContext, dev: device): void {
    const attachment = dma_buf_attach(ctx.dmabuf, dev);
    let sgt: sg_table;
    try {
      sgt = dma_buf_map_attachment(attachment, DMA_TO_DEVICE);
    } catch (e) {
      dma_buf_detach(ctx.dmabuf, attachment);
      throw e;
    }
    for (const sg of sgt.entries) {
      this.#m.printk(
        `<test_dma_access: ${__LINE__()}>addr = 0x${hex(sg.dma_address, 8)}, len = 0x${
          sg.length.toString(16)
        }`,
      );
    }
    this.options.whileAttached?.({ ...ctx, attachment, sgt });
    dma_buf_unmap_attachment(attachment, sgt, DMA_TO_DEVICE);
    dma_buf_detach(ctx.dmabuf, attachment);
  }

  /**
   * `test_cpu_access(dmabuf, str)`: vmap, log the string there, write `str`, vunmap. `dev` is
   * the misc device the ioctl came through (for the sanitizer's attribution).
   */
  test_cpu_access(ctx: TestDriverContext, str: string, dev?: device): void {
    const dmabuf = ctx.dmabuf;
    const map = dma_buf_vmap(dmabuf);
    const shown = c_str(map.bytes.subarray(0, Math.min(dmabuf.size, LOG_STR_MAX)));
    this.#m.printk(
      `<test_cpu_access: ${__LINE__()}>addr = 0x${hex(map.vaddr, 16)}, str = ${shown}`,
    );
    const bytes = new TextEncoder().encode(str + "\0");
    const n = Math.min(bytes.length, dmabuf.size);
    map.bytes.set(bytes.subarray(0, n)); // memcpy
    // No dma_buf_end_cpu_access() follows, as in the seed's driver (the model attributes it).
    map.cache?.kernel_cpu_write(0, n, dev?.name ?? "the test driver");
    dma_buf_vunmap(dmabuf, map);
  }

  /** `test_import(dev, info, str)`: get, DMA access, CPU access, put. */
  test_import(current: Task, dev: device, info: TestDriverContext["info"], str: string): number {
    const dmabuf = dma_buf_get(current, info.fd);
    const ctx: TestDriverContext = { current, info, dmabuf };
    try {
      this.options.afterGet?.(ctx);
      this.test_dma_access(ctx, dev);
      // The first version called dma_buf_put() here, before dma_buf_vmap(): a use after put that
      // only works because user space still holds the fd. The fixed order puts after CPU access.
      if (this.options.order === "put-before-vmap") dma_buf_put(dmabuf);
      this.test_cpu_access(ctx, str, dev);
    } finally {
      if (this.options.order !== "put-before-vmap") dma_buf_put(dmabuf);
    }
    return 0;
  }

  /** `test_ioctl(file, cmd, arg)`. */
  test_ioctl(f: file, cmd: number, arg: number, current: Task): number {
    if (cmd === TEST_QUEUE) return test_queue_ioctl(f, "queue", arg, current);
    if (cmd === TEST_DEQUEUE) return test_queue_ioctl(f, "dequeue", arg, current);
    const misc = f.private_data as miscdevice; // set by misc_open()
    let raw: Uint8Array;
    try {
      raw = copy_from_user(current, arg, buf_info.size);
    } catch (e) {
      this.#m.printk("copy_from_user failed");
      throw e;
    }
    const v = new DataView(raw.buffer);
    const info = {
      fd: v.getInt32(buf_info.fd, true),
      buf: Number(v.getBigUint64(buf_info.buf, true)),
      size: v.getUint32(buf_info.size_, true),
    };
    this.#m.printk(
      `fd[${info.fd}], buf[0x${hex(info.buf, 16)}], size[0x${info.size.toString(16)}]`,
    );
    switch (cmd) {
      case TEST_DRIVERA:
        return this.test_import(current, misc.this_device!, info, DRIVER_A_STRING);
      case TEST_DRIVERB:
        return this.test_import(current, misc.this_device!, info, DRIVER_B_STRING);
      default:
        fail(Errno.ENOTTY);
    }
  }
}

/** Module init: registers `/dev/driverA` and `/dev/driverB` on the machine. */
export function test_driver_init(m: DriverContext, options?: TestDriverOptions): TestDriver {
  return new TestDriver(m, options);
}
