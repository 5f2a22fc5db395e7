/**
 * `drivers/media/common/videobuf2/videobuf2-core.c` (+ the `-v4l2.c` poll and ownership rules
 * and `videobuf2-vmalloc.c` memory ops), as far as a capture or output queue with DMABUF and
 * MMAP memory needs: REQBUFS, QBUF (importing the dma-buf: `dma_buf_get`, `dma_buf_attach`,
 * `dma_buf_vmap` — vb2-vmalloc's `map_dmabuf`), DQBUF, STREAMON/OFF, EXPBUF, poll, and the
 * driver callbacks (`queue_setup`, `buf_prepare`, `buf_queue`, `start/stop_streaming`) with
 * `vb2_buffer_done`.
 *
 * Buffer states and the errno of every refusal follow the C code: a plane smaller than the
 * driver's `min_length` is EINVAL at QBUF, DQBUF of a queue that does not stream is EINVAL, an
 * empty done list is EAGAIN for a non-blocking file, STREAMON without buffers is EINVAL.
 *
 * @module
 */
import { Errno, fail, KernelError } from "../../errno.ts";
import type { file } from "../../file_table.ts";
import type { Task } from "../../sched.ts";
import {
  type device,
  type dma_buf,
  dma_buf_attach,
  type dma_buf_attachment,
  dma_buf_detach,
  dma_buf_fd,
  dma_buf_get,
  dma_buf_put,
  dma_buf_vmap,
  dma_buf_vunmap,
  get_dma_buf,
  type iosys_map,
} from "../../dma_buf.ts";
import { poll_requested_events, type poll_table, poll_wait, wait_queue_head } from "../../wait.ts";
import { POLLERR, POLLIN, POLLOUT } from "../../../uapi/constants.ts";
import {
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  V4L2_TYPE_IS_OUTPUT,
} from "../../../uapi/videodev2.ts";

/** `POLLRDNORM` (asm-generic/poll.h). */
const POLLRDNORM = 0x40;
/** `POLLWRNORM` (asm-generic/poll.h). */
const POLLWRNORM = 0x100;

/** `enum vb2_buffer_state`. */
export type vb2_buffer_state =
  | "DEQUEUED"
  | "IN_REQUEST"
  | "PREPARING"
  | "QUEUED"
  | "ACTIVE"
  | "DONE"
  | "ERROR";

/** `struct vb2_plane`. */
export interface vb2_plane {
  /** The memory the driver reads or writes: vb2-vmalloc's `vaddr` (a vmap of the dma-buf). */
  map: iosys_map | null;
  /** DMABUF: the imported buffer; MMAP: the queue's own buffer. */
  dbuf: dma_buf | null;
  /** DMABUF: the attachment to the queue's device. */
  attach: dma_buf_attachment | null;
  /** Whether `dbuf` is vmapped (`dbuf_mapped`). */
  dbuf_mapped: boolean;
  /** Bytes of payload. */
  bytesused: number;
  /** Size of the plane's memory. */
  length: number;
  /** The smallest length the driver accepts (`queue_setup`'s size). */
  min_length: number;
  /** DMABUF: the fd user space queued (`m.fd`, echoed by DQBUF). */
  fd: number;
  /** Where the data starts (multi-planar). */
  data_offset: number;
}

/** `struct vb2_buffer` + `struct vb2_v4l2_buffer`. */
export interface vb2_buffer {
  /** The queue. */
  readonly vb2_queue: vb2_queue;
  /** Index in the queue. */
  readonly index: number;
  /** State. */
  state: vb2_buffer_state;
  /** The planes. */
  readonly planes: vb2_plane[];
  /** Frame sequence number (set by the driver). */
  sequence: number;
  /** Timestamp in ns (`ktime_get_ns()`, set by the driver). */
  timestamp: number;
  /** `enum v4l2_field`. */
  field: number;
  /** V4L2 flags the driver or vb2 set (`V4L2_BUF_FLAG_ERROR`, …). */
  flags: number;
}

/** `struct vb2_ops`: the driver's callbacks. */
export interface vb2_ops {
  /** Plane sizes for `num_buffers` buffers (the current format's `sizeimage`s). */
  queue_setup(q: vb2_queue): number[];
  /** Checks and sets the payload before queueing; throws EINVAL. */
  buf_prepare?(vb: vb2_buffer): void;
  /** Gives a buffer to the driver (only while streaming has started). */
  buf_queue(vb: vb2_buffer): void;
  /** Starts the device; `count` buffers are queued. */
  start_streaming(q: vb2_queue, count: number): void;
  /** Stops the device; the driver returns every buffer it holds with `vb2_buffer_done`. */
  stop_streaming(q: vb2_queue): void;
}

/** `struct vb2_queue`. */
export class vb2_queue {
  /** `enum v4l2_buf_type`. */
  readonly type: number;
  /** Whether an output queue. */
  readonly is_output: boolean;
  /** The driver's ops. */
  readonly ops: vb2_ops;
  /** The device buffers are attached to (`q->dev`). */
  readonly dev: device;
  /** `min_queued_buffers`: buffers needed before `start_streaming`. */
  readonly min_queued_buffers: number;
  /** Buffers (`q->bufs`). */
  bufs: vb2_buffer[] = [];
  /** `q->memory` (0: unknown). */
  memory = 0;
  /** `streaming`. */
  streaming = false;
  /** `start_streaming_called`. */
  start_streaming_called = false;
  /** `error`. */
  error = false;
  /** `queued_list`, in queueing order. */
  queued_list: vb2_buffer[] = [];
  /** `done_list`, in completion order. */
  done_list: vb2_buffer[] = [];
  /** `done_wq`. */
  readonly done_wq: wait_queue_head = new wait_queue_head();
  /** `owner` (vb2-v4l2): the file that allocated the buffers, or started read() emulation. */
  owner: file | null = null;
  /** `fileio`: read() emulation started by a poll(POLLIN) on a capture queue without buffers. */
  fileio = false;
  /** The driver's data. */
  drv_priv: unknown;

  /**
   * `vb2_queue_init()`.
   *
   * @param type The buffer type.
   * @param ops The driver's callbacks.
   * @param dev The device.
   * @param min_queued_buffers Buffers needed before streaming starts.
   * @param drv_priv The driver's data.
   */
  constructor(
    type: number,
    ops: vb2_ops,
    dev: device,
    min_queued_buffers: number,
    drv_priv: unknown,
  ) {
    this.type = type;
    this.is_output = V4L2_TYPE_IS_OUTPUT(type);
    this.ops = ops;
    this.dev = dev;
    this.min_queued_buffers = min_queued_buffers;
    this.drv_priv = drv_priv;
  }

  /** `vb2_get_num_buffers(q)`. */
  get num_buffers(): number {
    return this.bufs.length;
  }

  /** `queued_count`. */
  get queued_count(): number {
    return this.queued_list.length;
  }
}

/** `vb2_is_busy(q)`: buffers are allocated. */
export function vb2_is_busy(q: vb2_queue): boolean {
  return q.num_buffers > 0;
}

/** `vb2_is_streaming(q)`. */
export function vb2_is_streaming(q: vb2_queue): boolean {
  return q.streaming;
}

/** `vb2_plane_vaddr(vb, plane)`: the plane's bytes as the driver sees them. */
export function vb2_plane_vaddr(vb: vb2_buffer, plane: number): Uint8Array | null {
  const p = vb.planes[plane];
  if (!p?.map) return null;
  return p.map.bytes.subarray(0, p.length);
}

/**
 * The model's bookkeeping after a driver wrote `length` bytes of a plane through
 * {@linkcode vb2_plane_vaddr}: for a DMABUF plane that is a kernel vmap of the dma-buf (a CPU
 * alias), and neither vb2 core nor vb2-vmalloc (no `prepare`/`finish` in `vb2_vmalloc_memops`)
 * calls `dma_buf_end_cpu_access()` after it — on a non-coherent CPU the lines stay dirty until
 * an importer's `dma_map_sgtable()` cleans them. The sanitizer names `who` for them.
 */
export function vb2_plane_cpu_wrote(
  vb: vb2_buffer,
  plane: number,
  length: number,
  who: string,
): void {
  vb.planes[plane]?.map?.cache?.kernel_cpu_write(0, length, who);
}

/** `vb2_plane_size(vb, plane)`. */
export function vb2_plane_size(vb: vb2_buffer, plane: number): number {
  return vb.planes[plane]?.length ?? 0;
}

/** `vb2_set_plane_payload(vb, plane, size)`. */
export function vb2_set_plane_payload(vb: vb2_buffer, plane: number, size: number): void {
  vb.planes[plane].bytesused = size;
}

/** `vb2_get_plane_payload(vb, plane)`. */
export function vb2_get_plane_payload(vb: vb2_buffer, plane: number): number {
  return vb.planes[plane].bytesused;
}

function plane(): vb2_plane {
  return {
    map: null,
    dbuf: null,
    attach: null,
    dbuf_mapped: false,
    bytesused: 0,
    length: 0,
    min_length: 0,
    fd: -1,
    data_offset: 0,
  };
}

/** `__vb2_plane_dmabuf_put()`: unmaps, detaches and puts an imported plane. */
function plane_dmabuf_put(p: vb2_plane): void {
  if (!p.dbuf) return;
  if (p.dbuf_mapped && p.map) dma_buf_vunmap(p.dbuf, p.map);
  if (p.attach) dma_buf_detach(p.dbuf, p.attach);
  dma_buf_put(p.dbuf);
  p.dbuf = null;
  p.attach = null;
  p.map = null;
  p.dbuf_mapped = false;
}

/** `__vb2_queue_free()`: frees the buffers' memory (imported planes: detach and put). */
function queue_free(q: vb2_queue): void {
  for (const vb of q.bufs) {
    for (const p of vb.planes) {
      if (q.memory === V4L2_MEMORY_MMAP) {
        if (p.map && p.dbuf) dma_buf_vunmap(p.dbuf, p.map);
        if (p.dbuf) dma_buf_put(p.dbuf);
        p.dbuf = null;
        p.map = null;
      } else {
        plane_dmabuf_put(p);
      }
    }
  }
  q.bufs = [];
  q.memory = 0;
}

/**
 * `__vb2_queue_cancel()`: stops the driver if started, returns every buffer to user space
 * (DEQUEUED), empties the lists, wakes waiters.
 */
export function vb2_queue_cancel(q: vb2_queue): void {
  if (q.start_streaming_called) q.ops.stop_streaming(q);
  q.streaming = false;
  q.start_streaming_called = false;
  q.error = false;
  q.queued_list = [];
  q.done_list = [];
  for (const vb of q.bufs) vb.state = "DEQUEUED";
  q.done_wq.wake_up(0);
}

/**
 * `vb2_core_reqbufs(q, memory, count)`: frees the old buffers, then allocates `count` (MMAP:
 * with memory from `alloc_mmap`; DMABUF: empty slots).
 *
 * @returns The number of buffers allocated.
 */
export function vb2_core_reqbufs(
  q: vb2_queue,
  memory: number,
  count: number,
  alloc_mmap: (size: number) => dma_buf,
): number {
  if (memory !== V4L2_MEMORY_MMAP && memory !== V4L2_MEMORY_DMABUF) fail(Errno.EINVAL);
  if (q.streaming) fail(Errno.EBUSY);
  if (q.fileio) fail(Errno.EBUSY);
  if (count === 0 || q.num_buffers !== 0 || (q.memory !== 0 && q.memory !== memory)) {
    vb2_queue_cancel(q);
    queue_free(q);
  }
  if (count === 0) return 0;
  const n = Math.min(Math.max(count, q.min_queued_buffers), 32);
  const sizes = q.ops.queue_setup(q);
  q.memory = memory;
  for (let i = 0; i < n; i++) {
    const vb: vb2_buffer = {
      vb2_queue: q,
      index: i,
      state: "DEQUEUED",
      planes: sizes.map(() => plane()),
      sequence: 0,
      timestamp: 0,
      field: 0,
      flags: 0,
    };
    sizes.forEach((size, p) => {
      vb.planes[p].min_length = size;
      if (memory === V4L2_MEMORY_MMAP) {
        const dbuf = alloc_mmap(size);
        vb.planes[p].dbuf = dbuf;
        vb.planes[p].length = size;
        vb.planes[p].map = dma_buf_vmap(dbuf);
      }
    });
    q.bufs.push(vb);
  }
  return n;
}

/** What user space passes for one plane at QBUF. */
export interface vb2_qbuf_plane {
  /** DMABUF fd. */
  fd: number;
  /** `length` (0: the dma-buf's size). */
  length: number;
  /** `bytesused` (output queues). */
  bytesused: number;
  /** `data_offset`. */
  data_offset: number;
}

/**
 * `__prepare_dmabuf()`: imports the planes' dma-bufs (reusing the attachment when the same
 * buffer comes back at the same index), then `buf_prepare`.
 */
function prepare_dmabuf(current: Task, vb: vb2_buffer, planes: readonly vb2_qbuf_plane[]): void {
  const q = vb.vb2_queue;
  const got: dma_buf[] = [];
  try {
    for (let i = 0; i < vb.planes.length; i++) {
      let dbuf: dma_buf;
      try {
        dbuf = dma_buf_get(current, planes[i]?.fd ?? -1);
      } catch (e) {
        if (e instanceof KernelError) fail(Errno.EINVAL, "invalid dmabuf fd");
        throw e;
      }
      got.push(dbuf);
      const length = planes[i].length || dbuf.size;
      if (length < vb.planes[i].min_length) {
        fail(
          Errno.EINVAL,
          `invalid dmabuf length ${length} for plane ${i}, minimum ${vb.planes[i].min_length}`,
        );
      }
    }
    for (let i = 0; i < vb.planes.length; i++) {
      const p = vb.planes[i], dbuf = got[i];
      const length = planes[i].length || dbuf.size;
      if (p.dbuf === dbuf && p.length === length) {
        dma_buf_put(dbuf); // the same buffer: keep the attachment
      } else {
        plane_dmabuf_put(p);
        p.dbuf = dbuf;
        p.length = length;
        // vb2_vmalloc_attach_dmabuf(): attach to the queue's device.
        p.attach = dma_buf_attach(dbuf, q.dev);
      }
      got[i] = undefined as unknown as dma_buf;
      if (!p.dbuf_mapped) {
        // vb2_vmalloc_map_dmabuf(): the driver reaches the pages through a kernel vmap.
        p.map = dma_buf_vmap(p.dbuf!);
        p.dbuf_mapped = true;
      }
      p.fd = planes[i].fd;
      p.bytesused = planes[i].bytesused;
      p.data_offset = planes[i].data_offset;
    }
  } finally {
    for (const d of got) if (d) dma_buf_put(d);
  }
}

/**
 * `vb2_core_qbuf()`: checks, imports (DMABUF), prepares, and queues buffer `index`; hands it to
 * the driver when streaming has started, and starts streaming once `min_queued_buffers` are
 * queued.
 */
export function vb2_core_qbuf(
  current: Task,
  q: vb2_queue,
  index: number,
  memory: number,
  planes: readonly vb2_qbuf_plane[],
  field: number,
): vb2_buffer {
  if (q.fileio) fail(Errno.EBUSY);
  if (memory !== q.memory || index >= q.num_buffers) fail(Errno.EINVAL);
  const vb = q.bufs[index];
  if (vb.state !== "DEQUEUED") fail(Errno.EINVAL, "buffer still being processed");
  vb.state = "PREPARING";
  try {
    if (memory === V4L2_MEMORY_DMABUF) {
      prepare_dmabuf(current, vb, planes);
    } else {
      for (let i = 0; i < vb.planes.length; i++) vb.planes[i].bytesused = planes[i]?.bytesused ?? 0;
    }
    if (q.is_output) {
      // __fill_vb2_buffer(): bytesused 0 on an output queue means the whole plane.
      for (const p of vb.planes) if (p.bytesused === 0) p.bytesused = p.length;
    }
    vb.field = field;
    vb.flags = 0;
    q.ops.buf_prepare?.(vb);
  } catch (e) {
    vb.state = "DEQUEUED";
    throw e;
  }
  vb.state = "QUEUED";
  q.queued_list.push(vb);
  if (q.start_streaming_called) {
    vb.state = "ACTIVE";
    q.ops.buf_queue(vb);
  } else if (q.streaming && q.queued_count >= q.min_queued_buffers) {
    vb2_start_streaming(q);
  }
  return vb;
}

/** `vb2_start_streaming()`: gives the queued buffers to the driver, then starts it. */
function vb2_start_streaming(q: vb2_queue): void {
  for (const vb of q.queued_list) {
    vb.state = "ACTIVE";
    q.ops.buf_queue(vb);
  }
  q.start_streaming_called = true;
  q.ops.start_streaming(q, q.queued_count);
}

/** `vb2_buffer_done(vb, state)`: the driver is done with `vb` (DONE or ERROR). */
export function vb2_buffer_done(vb: vb2_buffer, state: "DONE" | "ERROR" | "QUEUED"): void {
  const q = vb.vb2_queue;
  if (vb.state !== "ACTIVE") return;
  if (state === "QUEUED") {
    vb.state = "QUEUED";
    return;
  }
  vb.state = state;
  if (state === "ERROR") vb.flags |= 0x40; // V4L2_BUF_FLAG_ERROR
  q.done_list.push(vb);
  q.done_wq.wake_up(q.is_output ? POLLOUT | POLLWRNORM : POLLIN | POLLRDNORM);
}

/**
 * `vb2_core_dqbuf()`: the oldest done buffer, now owned by user space again.
 *
 * @throws EINVAL when not streaming; EIO after a queue error; EAGAIN when nothing is done
 *   (the simulated kernel cannot sleep, so a blocking file gets EAGAIN too).
 */
export function vb2_core_dqbuf(q: vb2_queue, memory: number): vb2_buffer {
  if (q.fileio) fail(Errno.EBUSY);
  if (memory !== q.memory) fail(Errno.EINVAL);
  if (!q.streaming) fail(Errno.EINVAL, "streaming off, will not wait for buffers");
  if (q.error) fail(Errno.EIO);
  const vb = q.done_list.shift();
  if (!vb) fail(Errno.EAGAIN);
  const i = q.queued_list.indexOf(vb);
  if (i >= 0) q.queued_list.splice(i, 1);
  vb.state = "DEQUEUED";
  return vb;
}

/** `vb2_core_streamon()`. */
export function vb2_core_streamon(q: vb2_queue, type: number): void {
  if (q.fileio) fail(Errno.EBUSY);
  if (type !== q.type) fail(Errno.EINVAL);
  if (q.streaming) return;
  if (q.num_buffers === 0) fail(Errno.EINVAL, "no buffers have been allocated");
  if (q.num_buffers < q.min_queued_buffers) fail(Errno.EINVAL);
  q.streaming = true;
  if (q.queued_count >= q.min_queued_buffers) vb2_start_streaming(q);
}

/** `vb2_core_streamoff()`: cancels the queue; every buffer returns to user space. */
export function vb2_core_streamoff(q: vb2_queue, type: number): void {
  if (q.fileio) fail(Errno.EBUSY);
  if (type !== q.type) fail(Errno.EINVAL);
  vb2_queue_cancel(q);
}

/** `vb2_core_expbuf()`: a new fd for plane `plane` of MMAP buffer `index`. */
export function vb2_core_expbuf(
  current: Task,
  q: vb2_queue,
  type: number,
  index: number,
  plane: number,
  flags: number,
): number {
  if (q.memory !== V4L2_MEMORY_MMAP) fail(Errno.EINVAL, "queue is not currently set up for mmap");
  if (type !== q.type) fail(Errno.EINVAL);
  if (index >= q.num_buffers) fail(Errno.EINVAL);
  if (q.fileio) fail(Errno.EBUSY);
  const p = q.bufs[index].planes[plane];
  if (!p?.dbuf) fail(Errno.EINVAL);
  get_dma_buf(p.dbuf);
  try {
    return dma_buf_fd(current, p.dbuf, flags);
  } catch (e) {
    dma_buf_put(p.dbuf);
    throw e;
  }
}

/**
 * `vb2_core_poll()` with vb2-v4l2's rules: a capture poll for POLLIN on a queue without buffers
 * starts read() emulation (the file becomes the owner: REQBUFS from others is EBUSY until it
 * closes); POLLERR when not streaming; POLLIN (capture) / POLLOUT (output) when a buffer is done.
 */
export function vb2_core_poll(q: vb2_queue, f: file, pt?: poll_table): number {
  const req = poll_requested_events(pt);
  poll_wait(q.done_wq, pt);
  if (q.num_buffers === 0 && !q.fileio && !q.is_output && (req & (POLLIN | POLLRDNORM))) {
    if (q.owner === null || q.owner === f) {
      q.fileio = true;
      q.owner = f;
    }
  }
  if (!q.is_output && !(req & (POLLIN | POLLRDNORM))) return 0;
  if (q.is_output && !(req & (POLLOUT | POLLWRNORM))) return 0;
  if (q.fileio) return 0; // the emulation's own buffers: nothing the model fills
  if (!q.streaming || q.error) return POLLERR;
  if (q.done_list.length > 0) return q.is_output ? POLLOUT | POLLWRNORM : POLLIN | POLLRDNORM;
  return 0;
}

/** `vb2_queue_release()` for the owner's close: cancel, free, forget the owner. */
export function vb2_queue_release(q: vb2_queue): void {
  vb2_queue_cancel(q);
  queue_free(q);
  q.fileio = false;
  q.owner = null;
}
