/**
 * A V4L2 buffer queue as a pipeline stage: `Pipeline` queues pool buffers on it by fd
 * (`VIDIOC_QBUF` with `V4L2_MEMORY_DMABUF`), waits for them with `pollAsync` and takes them back
 * with `VIDIOC_DQBUF`. A capture stage fills the buffers (a camera, vivid's test pattern or
 * loopback), an output stage consumes them (a display, vivid's output). No byte is copied in
 * user space: the driver imports the same dma-buf.
 *
 * @module
 */
import type { Kernel } from "../kernel/types.ts";
import type { DmaBuf } from "../dmabuf/buffer.ts";
import { errnoError } from "../errors.ts";
import { Errno } from "../uapi/errno.ts";
import { POLLIN, POLLOUT } from "../uapi/constants.ts";
import { V4L2_BUF_FLAG_ERROR, V4L2_MEMORY_DMABUF } from "../uapi/videodev2.ts";
import type { PipelineStage, PipelineStageResult } from "../pipeline/stage.ts";
import { stageClosed } from "../pipeline/_ledger.ts";
import type { VideoQueue } from "./device.ts";

/** What a V4L2 stage reports about a buffer it gives back. */
export interface VideoStageResult extends PipelineStageResult {
  /** The V4L2 buffer index the frame used. */
  readonly index: number;
  /** The frame's sequence number (0 at `STREAMON`); -1 for a buffer returned by `STREAMOFF`. */
  readonly sequence: number;
  /** `bytesused` (capture: the frame's size; output: what was queued). */
  readonly bytesused: number;
  /** `V4L2_BUF_FLAG_*` of the dequeued buffer (0 after `STREAMOFF`). */
  readonly flags: number;
  /** True when the buffer came back through `STREAMOFF` (flush) instead of `DQBUF`. */
  readonly flushed: boolean;
}

/** Options of {@linkcode VideoStage}. */
export interface VideoStageOptions {
  /**
   * How many V4L2 buffer slots to request (`REQBUFS` with `V4L2_MEMORY_DMABUF`). Default 4.
   * Ignored when the queue already has DMABUF slots.
   */
  count?: number;
  /** `bytesused` for output buffers; default the format's `sizeimage`. */
  bytesused?: number;
}

/**
 * A capture or output queue as a {@linkcode PipelineStage}. Slots are assigned per buffer and
 * kept (the same dma-buf goes to the same index, so vb2 reuses its attachment); streaming
 * starts at the first queued buffer. `flush()` (output queues) stops streaming to get back the
 * frame the device keeps showing. Closing the stage stops streaming and frees the slots; the
 * device stays open (it belongs to the caller).
 */
export class VideoStage implements PipelineStage<VideoStageResult> {
  /** The queue. */
  readonly queue: VideoQueue;
  /** `POLLIN` for capture, `POLLOUT` for output (vb2's `vb2_core_poll`). */
  readonly doneEvents: number;
  /** Same as {@linkcode doneEvents}: a slot frees when a buffer is done. */
  readonly roomEvents: number;
  #slots: (DmaBuf | undefined)[];
  #cookies: (number | undefined)[];
  #flushed: VideoStageResult[] = [];
  /** Queued slot indices, oldest first. */
  #order: number[] = [];
  #bytesused: number;
  #closed = false;

  /**
   * Makes `queue` a stage; requests DMABUF slots unless it has them.
   *
   * @param queue A capture or output queue of an open video device.
   * @param options Slot count and output `bytesused`.
   */
  constructor(queue: VideoQueue, options: VideoStageOptions = {}) {
    this.queue = queue;
    if (queue.memory !== V4L2_MEMORY_DMABUF || queue.count === 0) {
      queue.requestBuffers(options.count ?? 4, "dmabuf");
    }
    this.#slots = new Array(queue.count).fill(undefined);
    this.#cookies = new Array(queue.count).fill(undefined);
    this.#bytesused = options.bytesused ?? queue.getFormat().sizeimage;
    this.doneEvents = queue.isOutput ? POLLOUT : POLLIN;
    this.roomEvents = this.doneEvents;
  }

  /** The device path. */
  get path(): string {
    return this.queue.device.path;
  }

  /** The device's fd. */
  get fd(): number {
    return this.queue.device.fd;
  }

  /** The kernel. */
  get kernel(): Kernel {
    return this.queue.device.kernel;
  }

  /** True once the stage or its device is closed. */
  get closed(): boolean {
    return this.#closed || this.queue.device.closed;
  }

  /**
   * Queues `buffer` (`VIDIOC_QBUF`) in a free slot, the one it had before when that is free;
   * starts streaming after the first.
   *
   * @param buffer The dma-buf (at least the format's `sizeimage`).
   * @param cookie The tag {@linkcode dequeue} gives back.
   * @returns False when every slot is queued.
   */
  tryQueue(buffer: DmaBuf, cookie: number): boolean {
    if (this.closed) {
      throw errnoError(Errno.EBADF, "ioctl(VIDIOC_QBUF)", {
        path: this.path,
        detail: "Cannot queue on a closed VideoStage",
      });
    }
    let index = this.#slots.findIndex((b, i) => b === buffer && this.#cookies[i] === undefined);
    if (index < 0) index = this.#slots.findIndex((b, i) => !b && this.#cookies[i] === undefined);
    if (index < 0) index = this.#cookies.findIndex((c) => c === undefined);
    if (index < 0) return false;
    this.queue.queue(index, buffer, {
      bytesused: this.queue.isOutput ? Math.min(this.#bytesused, buffer.size) : undefined,
    });
    this.#slots[index] = buffer;
    this.#cookies[index] = cookie;
    this.#order.push(index);
    if (!this.queue.streaming) this.queue.streamOn();
    return true;
  }

  /**
   * The oldest done buffer (`VIDIOC_DQBUF`), or one returned by {@linkcode flush}.
   *
   * @returns Its cookie and what V4L2 reported, or `null`.
   */
  dequeue(): VideoStageResult | null {
    return this.#flushed.shift() ?? this.#dequeueDone();
  }

  /** `VIDIOC_DQBUF` of one done buffer, or `null` (none done, or not streaming). */
  #dequeueDone(): VideoStageResult | null {
    if (!this.queue.streaming) return null;
    const b = this.queue.dequeue();
    if (!b) return null;
    const cookie = this.#cookies[b.index];
    if (cookie === undefined) {
      throw errnoError(Errno.EINVAL, "ioctl(VIDIOC_DQBUF)", {
        path: this.path,
        detail: `The driver gave back buffer ${b.index}, which this stage did not queue`,
      });
    }
    this.#cookies[b.index] = undefined;
    this.#order.splice(this.#order.indexOf(b.index), 1);
    return {
      cookie,
      status: b.flags & V4L2_BUF_FLAG_ERROR ? -Errno.EIO : 0,
      index: b.index,
      sequence: b.sequence,
      bytesused: b.bytesused,
      flags: b.flags,
      flushed: false,
    };
  }

  /**
   * Output queues only (a capture queue returns false: its buffers come back with frames).
   * Stops streaming (`VIDIOC_STREAMOFF`): vb2 returns every queued buffer, and
   * {@linkcode dequeue} gives them back (`flushed: true`). The next `tryQueue` restarts
   * streaming. Used by `Pipeline` for an output whose driver keeps the last frame (vivid).
   *
   * @returns Whether buffers came back.
   */
  flush(): boolean {
    if (!this.queue.isOutput || !this.queue.streaming || this.closed) return false;
    // Done buffers first, with their real sequence numbers. From the queue only: through
    // dequeue(), which gives #flushed first, this loop would take back what it just pushed,
    // forever, whenever the output had a done buffer (it once spun a vivid chain test so).
    for (let r = this.#dequeueDone(); r; r = this.#dequeueDone()) this.#flushed.push(r);
    this.queue.streamOff();
    for (const i of this.#order.splice(0)) {
      const cookie = this.#cookies[i];
      if (cookie === undefined) continue;
      this.#cookies[i] = undefined;
      this.#flushed.push({
        cookie,
        status: 0,
        index: i,
        sequence: -1,
        bytesused: 0,
        flags: 0,
        flushed: true,
      });
    }
    return this.#flushed.length > 0;
  }

  /**
   * Stops streaming and frees the slots (`STREAMOFF`, `REQBUFS` 0); buffers of a settled
   * `Pipeline.run` it still held go back to their pool. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.queue.device.closed) return;
      if (this.queue.streaming) this.queue.streamOff();
      this.queue.requestBuffers(0, "dmabuf");
      this.#order.length = 0;
    } finally {
      stageClosed(this);
    }
  }

  /** Same as `close()`. */
  [Symbol.dispose](): void {
    this.close();
  }
}
