/**
 * One processing stage of a driver pipeline: an open file of a device that
 * implements the queue ABI of `src/uapi/queue_driver.ts` (`TEST_QUEUE`, `TEST_DEQUEUE`, `poll`).
 * The library hands the driver the buffer's fd; the driver reaches the pages itself (DMA or
 * vmap), so no payload byte is copied.
 *
 * @module
 */
import type { Kernel, UserBuffer } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import {
  type ErrnoError,
  errnoError,
  instanceArg,
  optionsArg,
  sameKernel,
  typeArg,
} from "../errors.ts";
import { FdResource } from "../fd_resource.ts";
import { Errno } from "../uapi/errno.ts";
import { O_CLOEXEC, O_RDWR, POLLIN, POLLOUT } from "../uapi/constants.ts";
import {
  TEST_DEQUEUE,
  TEST_OP_INCREMENT,
  TEST_OP_INVERT,
  TEST_OP_NONE,
  test_qbuf as Q,
  TEST_QUEUE,
} from "../uapi/queue_driver.ts";
import { DmaBuf } from "../dmabuf/buffer.ts";
import { waitForEvents, type WaitOptions } from "../dmabuf/wait.ts";
import { stageClosed } from "./_ledger.ts";

/** What a stage does to every byte: nothing, `b ^= 0xff`, or `b + 1` (mod 256). */
export type StageOp = "none" | "invert" | "increment";

const OPS: Record<StageOp, number> = {
  none: TEST_OP_NONE,
  invert: TEST_OP_INVERT,
  increment: TEST_OP_INCREMENT,
};

/** Options for {@linkcode openStage}. */
export interface StageOptions {
  /** The operation the driver applies to every buffer queued here. Default `"none"`. */
  op?: StageOp;
  /** The kernel; default: the kernel in use. */
  kernel?: Kernel;
}

/** What `TEST_DEQUEUE` reports about a processed buffer. */
export interface StageResult extends PipelineStageResult {
  /** The cookie given to {@linkcode Stage.queue}. */
  readonly cookie: number;
  /** DMA address of the buffer's first sg entry as the device saw it. */
  readonly dmaAddress: number;
  /** Sum of the buffer's bytes after the op, mod 2^32. */
  readonly checksum: number;
  /** 0, or the negative errno of a failed processing. */
  readonly status: number;
}

/** What every stage reports about a buffer it gives back: the cookie and a status. */
export interface PipelineStageResult {
  /** The cookie given to `tryQueue`. */
  readonly cookie: number;
  /** 0, or the negative errno of a failed processing. */
  readonly status: number;
}

/**
 * What {@linkcode Pipeline} needs of a stage: the test driver's queue ({@linkcode Stage}) and a
 * V4L2 queue (`VideoStage` of the `./v4l2` sub-export) both are one.
 */
export interface PipelineStage<R extends PipelineStageResult = PipelineStageResult> {
  /** The device, for error messages. */
  readonly path: string;
  /** The fd the pipeline polls. */
  readonly fd: number;
  /** The kernel the fd belongs to. */
  readonly kernel: Kernel;
  /** True once closed. */
  readonly closed: boolean;
  /**
   * The poll events that mean "a buffer can be taken back" (default `POLLIN`; a V4L2 output
   * queue reports `POLLOUT`). Room for another buffer is awaited with `roomEvents`.
   */
  readonly doneEvents?: number;
  /** The poll events that mean "room for another buffer" (default `POLLOUT`). */
  readonly roomEvents?: number;
  /** Queues `buffer` with `cookie`; false when the stage is full. */
  tryQueue(buffer: DmaBuf, cookie: number): boolean;
  /** The oldest finished buffer, or `null` when none is finished. */
  dequeue(): R | null;
  /**
   * Optional: gives back buffers the device keeps until another one replaces them (vivid's
   * output holds the last frame it shows). The pipeline calls it when nothing more will come.
   *
   * @returns Whether buffers became ready to dequeue.
   */
  flush?(): boolean;
}

/** Whether a stage can take a buffer / has one to give back (`poll` with timeout 0). */
export interface StageReadiness {
  /** A processed buffer waits for {@linkcode Stage.dequeue} (`POLLIN`). */
  readonly readable: boolean;
  /** The stage has room for another buffer (`POLLOUT`). */
  readonly writable: boolean;
}

const kOpen = Symbol("open");

/**
 * An open stage: queue buffers, learn when they are done (`poll`, {@linkcode wait}), take them
 * back. Closing the stage makes the driver drop every buffer it still holds. Owns its fd:
 * `close()` is idempotent, `using` closes it.
 *
 * Like every fd owner of the library, a Stage has `fd`, `kernel` and `closed`, an idempotent
 * `close()` and `[Symbol.dispose]` (`using`); its other methods throw `Deno.errors.BadResource`
 * once it is closed ("Cannot … a closed Stage").
 */
export class Stage extends FdResource implements PipelineStage<StageResult> {
  /** The device path, e.g. `"/dev/driverA"`. */
  readonly path: string;
  /** The op applied to every buffer. */
  readonly op: StageOp;
  #arg: UserBuffer;
  #opNumber: number;

  /**
   * Internal: use {@linkcode openStage}.
   *
   * @param token Internal token.
   * @param path The device.
   * @param options Op and kernel.
   */
  constructor(token: typeof kOpen, path: string, options: StageOptions) {
    if (token !== kOpen) throw new TypeError("Use openStage(path) to open a stage");
    const op = options.op ?? "none";
    if (!Object.hasOwn(OPS, op)) {
      throw errnoError(Errno.EINVAL, "openStage", {
        path,
        detail: `Unknown op ${JSON.stringify(op)}; use "none", "invert" or "increment"`,
      });
    }
    const kernel = kernelOption(options.kernel, "openStage");
    super(kernel, kernel.open(path, O_RDWR | O_CLOEXEC), "Stage");
    this.path = path;
    this.op = op;
    this.#opNumber = OPS[op];
    this.#arg = kernel.userBuffer(Q.size);
  }

  /** @internal */
  static open(path: string, options: StageOptions): Stage {
    return new Stage(kOpen, path, options);
  }

  /** The driver drops what it holds at release: buffers of settled runs go back to their pools. */
  protected override onClose(): void {
    stageClosed(this);
  }

  /**
   * Queues `buffer` (`TEST_QUEUE`): the driver takes a reference and processes it
   * asynchronously, with a write fence on the buffer until it is done.
   *
   * @param buffer The buffer.
   * @param cookie A tag (safe integer ≥ 0) that {@linkcode dequeue} gives back.
   * @throws {Deno.errors.Busy} `EBUSY` when the stage is full.
   * @throws {ErrnoError} `EBADF`/`EINVAL` from the driver for a bad buffer; `EXDEV` for a buffer
   *   of another kernel than the stage's, before the ioctl.
   * @throws {TypeError} `EINVAL` when `buffer` is not a `DmaBuf`.
   */
  queue(buffer: DmaBuf, cookie: number): void {
    this.checkOpen("queue on");
    instanceArg("Stage.queue", "buffer", buffer, DmaBuf);
    sameKernel(this.kernel, buffer, "buffer", "ioctl(TEST_QUEUE)", this.path);
    if (!Number.isSafeInteger(cookie) || cookie < 0) {
      throw errnoError(Errno.EINVAL, "ioctl(TEST_QUEUE)", {
        path: this.path,
        detail: `The cookie must be a safe integer ≥ 0, got ${cookie}`,
      });
    }
    const v = this.#arg.view;
    v.setInt32(Q.fd, buffer.fd, true);
    v.setUint32(Q.op, this.#opNumber, true);
    v.setBigUint64(Q.cookie, BigInt(cookie), true);
    this.kernel.ioctl(this.fd, TEST_QUEUE, this.#arg, "TEST_QUEUE");
  }

  /**
   * Like {@linkcode queue}, but a full stage returns false instead of throwing.
   *
   * @param buffer The buffer.
   * @param cookie The tag.
   * @returns Whether the buffer was queued.
   */
  tryQueue(buffer: DmaBuf, cookie: number): boolean {
    try {
      this.queue(buffer, cookie);
      return true;
    } catch (e) {
      if ((e as ErrnoError).errno === Errno.EBUSY) return false;
      throw e;
    }
  }

  /**
   * Takes the oldest processed buffer back (`TEST_DEQUEUE`); the driver drops its reference.
   *
   * @returns What the driver reported, or `null` when nothing is done yet (`EAGAIN`).
   */
  dequeue(): StageResult | null {
    this.checkOpen("dequeue from");
    // EAGAIN (nothing done yet) comes back as -EAGAIN, not as an error object per empty poll.
    let r: number;
    try {
      r = this.kernel.ioctl(this.fd, TEST_DEQUEUE, this.#arg, "TEST_DEQUEUE", Errno.EAGAIN);
    } catch (e) {
      // A Kernel implementation that throws EAGAIN anyway.
      if ((e as ErrnoError).errno === Errno.EAGAIN) return null;
      throw e;
    }
    if (r === -Errno.EAGAIN) return null;
    const v = this.#arg.view;
    return {
      cookie: Number(v.getBigUint64(Q.cookie, true)),
      dmaAddress: Number(v.getBigUint64(Q.dma_addr, true)),
      checksum: v.getUint32(Q.checksum, true),
      status: v.getInt32(Q.status, true),
    };
  }

  /**
   * Whether the stage has a processed buffer or room for another, now.
   *
   * @returns The readiness.
   */
  poll(): StageReadiness {
    this.checkOpen("poll");
    const [r] = this.kernel.poll([{ fd: this.fd, events: POLLIN | POLLOUT }], 0);
    return { readable: (r & POLLIN) !== 0, writable: (r & POLLOUT) !== 0 };
  }

  /**
   * Waits, without blocking the thread, until a processed buffer waits (`"readable"`, the
   * default) or the stage has room (`"writable"`).
   *
   * @param what What to wait for.
   * @param options `timeout` in ms and an abort `signal`.
   * @throws {Deno.errors.TimedOut} When the timeout passes first.
   * @throws {DOMException} The signal's reason when aborted.
   */
  async wait(what: "readable" | "writable" = "readable", options: WaitOptions = {}): Promise<void> {
    this.checkOpen("wait on");
    const events = what === "writable" ? POLLOUT : POLLIN;
    await waitForEvents(this.kernel, this.fd, events, options, `${this.path} ${what}`);
  }
}

/**
 * Opens a stage on a device that implements the queue ABI (`/dev/driverA`, `/dev/driverB`).
 * Every call opens a new file, so the same device can be several stages of one pipeline.
 *
 * @param path The device.
 * @param options The op and the kernel.
 * @returns The stage.
 * @throws {Deno.errors.NotFound} When the device does not exist (the module is not loaded).
 *
 * @example Inverting a buffer on driver A
 * ```ts
 * import { openHeap } from "@dmabuf/dmabuf";
 * import { openStage } from "@dmabuf/dmabuf/pipeline";
 * import assert from "node:assert/strict";
 *
 * using heap = openHeap("system");
 * using buf = heap.allocate(4096);
 * using stage = openStage("/dev/driverA", { op: "invert" });
 * stage.queue(buf, 1);
 * await stage.wait("readable", { timeout: 5000 });
 * const done = stage.dequeue()!;
 * assert.equal(done.cookie, 1);
 * assert.equal(done.checksum, 0xff * 4096);
 * ```
 */
export function openStage(path: string, options?: StageOptions): Stage {
  typeArg("openStage", "path", path, "string");
  return Stage.open(path, optionsArg("openStage", options));
}
