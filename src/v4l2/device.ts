/**
 * A V4L2 video node (`/dev/videoN`) and its buffer queues, through the kernel seam: capability,
 * formats, buffers with DMABUF or MMAP memory, streaming, controls, inputs and outputs. Every
 * call is one `ioctl` from `include/uapi/linux/videodev2.h`; failures are the library's typed
 * errors with the request's name (`ioctl(VIDIOC_QBUF)`), the device path and, where the cause is
 * known, a hint.
 *
 * The node is opened `O_NONBLOCK`, so `VIDIOC_DQBUF` never blocks the thread: it returns `null`
 * when nothing is done, and {@linkcode VideoQueue.wait} waits through the kernel's `pollAsync`.
 *
 * @module
 */
import type { Kernel, UserBuffer } from "../kernel/types.ts";
import { kernelOption } from "../kernel/select.ts";
import { type ErrnoError, errnoError, sameKernel } from "../errors.ts";
import { FdResource } from "../fd_resource.ts";
import { adoptDmaBuf, DmaBuf } from "../dmabuf/buffer.ts";
import { waitForEvents, type WaitOptions } from "../dmabuf/wait.ts";
import { Errno } from "../uapi/errno.ts";
import { O_CLOEXEC, O_NONBLOCK, O_RDWR, POLLIN, POLLOUT } from "../uapi/constants.ts";
import {
  fourccString,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  v4l2_buffer,
  V4L2_CAP_DEVICE_CAPS,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_CAPTURE_MPLANE,
  V4L2_CAP_VIDEO_OUTPUT,
  V4L2_CAP_VIDEO_OUTPUT_MPLANE,
  v4l2_capability,
  v4l2_control,
  V4L2_CTRL_FLAG_NEXT_COMPOUND,
  V4L2_CTRL_FLAG_NEXT_CTRL,
  V4L2_CTRL_ID2WHICH,
  V4L2_CTRL_TYPE_INTEGER64,
  V4L2_CTRL_TYPE_MENU,
  v4l2_exportbuffer,
  v4l2_ext_control,
  v4l2_ext_controls,
  v4l2_fmtdesc,
  v4l2_format,
  v4l2_fourcc,
  v4l2_input,
  V4L2_MEMORY_DMABUF,
  V4L2_MEMORY_MMAP,
  v4l2_output,
  v4l2_pix_format as PIX,
  v4l2_pix_format_mplane as MPIX,
  v4l2_plane,
  v4l2_plane_pix_format as PPF,
  v4l2_query_ext_ctrl as QEC,
  v4l2_querymenu,
  v4l2_requestbuffers,
  V4L2_TYPE_IS_MULTIPLANAR,
  V4L2_TYPE_IS_OUTPUT,
  VIDEO_MAX_PLANES,
  VIDIOC_DQBUF,
  VIDIOC_ENUM_FMT,
  VIDIOC_ENUMINPUT,
  VIDIOC_ENUMOUTPUT,
  VIDIOC_EXPBUF,
  VIDIOC_G_CTRL,
  VIDIOC_G_EXT_CTRLS,
  VIDIOC_G_FMT,
  VIDIOC_G_INPUT,
  VIDIOC_G_OUTPUT,
  VIDIOC_QBUF,
  VIDIOC_QUERY_EXT_CTRL,
  VIDIOC_QUERYBUF,
  VIDIOC_QUERYCAP,
  VIDIOC_QUERYMENU,
  VIDIOC_REQBUFS,
  VIDIOC_S_CTRL,
  VIDIOC_S_EXT_CTRLS,
  VIDIOC_S_FMT,
  VIDIOC_S_INPUT,
  VIDIOC_S_OUTPUT,
  VIDIOC_STREAMOFF,
  VIDIOC_STREAMON,
  VIDIOC_TRY_FMT,
} from "../uapi/videodev2.ts";

const decoder = new TextDecoder();

function cstr(bytes: Uint8Array, offset: number, max: number): string {
  const s = bytes.subarray(offset, offset + max);
  const end = s.indexOf(0);
  return decoder.decode(end < 0 ? s : s.subarray(0, end));
}

/** `struct v4l2_capability`, decoded. */
export interface VideoCapability {
  /** The driver's name, e.g. `"vivid"`. */
  readonly driver: string;
  /** The device's name, e.g. `"vivid"`. */
  readonly card: string;
  /** e.g. `"platform:vivid-000"`. */
  readonly busInfo: string;
  /** `KERNEL_VERSION` of the driver. */
  readonly version: number;
  /** Capabilities of the whole physical device (`V4L2_CAP_*`). */
  readonly capabilities: number;
  /** Capabilities of this node (`device_caps`, or `capabilities` without `DEVICE_CAPS`). */
  readonly deviceCaps: number;
}

/** Which queue of a node: the video capture or output queue. */
export type QueueDirection = "capture" | "output";

/** One plane of a format: bytes per line and bytes per image. */
export interface PlaneFormat {
  /** Bytes per line (stride). */
  readonly bytesperline: number;
  /** Bytes a buffer for this plane needs. */
  readonly sizeimage: number;
}

/** A video format (`v4l2_pix_format` or `v4l2_pix_format_mplane`). */
export interface VideoFormat {
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** The fourcc as four characters, e.g. `"YUYV"`. */
  readonly pixelformat: string;
  /** `enum v4l2_field` (1 = progressive). */
  readonly field: number;
  /** `enum v4l2_colorspace`. */
  readonly colorspace: number;
  /** The planes: one for single-planar formats. */
  readonly planes: readonly PlaneFormat[];
  /** The first plane's bytes per image (`sizeimage` of a single-planar format). */
  readonly sizeimage: number;
  /** The first plane's stride. */
  readonly bytesperline: number;
}

/** What to ask of `S_FMT`/`TRY_FMT`; unset fields keep the current format's values. */
export interface VideoFormatRequest {
  /** Width in pixels. */
  width?: number;
  /** Height in pixels. */
  height?: number;
  /** The fourcc, e.g. `"YUYV"`. */
  pixelformat?: string;
  /** `enum v4l2_field`. */
  field?: number;
  /** Stride of the first plane (0: the driver chooses). */
  bytesperline?: number;
}

/** An entry of `VIDIOC_ENUM_FMT`. */
export interface FormatDescription {
  /** Its index. */
  readonly index: number;
  /** The fourcc, e.g. `"YUYV"`. */
  readonly pixelformat: string;
  /** The driver's description, e.g. `"YUV 4:2:2 (YUYV)"`. */
  readonly description: string;
  /** `V4L2_FMT_FLAG_*`. */
  readonly flags: number;
}

/** A control as `VIDIOC_QUERY_EXT_CTRL` describes it. */
export interface ControlInfo {
  /** The control id. */
  readonly id: number;
  /** The name, e.g. `"Test Pattern"`. */
  readonly name: string;
  /** `enum v4l2_ctrl_type`. */
  readonly type: number;
  /** Minimum value. */
  readonly minimum: number;
  /** Maximum value. */
  readonly maximum: number;
  /** Step. */
  readonly step: number;
  /** Default value. */
  readonly defaultValue: number;
  /** `V4L2_CTRL_FLAG_*`. */
  readonly flags: number;
}

/** An input (`VIDIOC_ENUMINPUT`) or output (`VIDIOC_ENUMOUTPUT`). */
export interface VideoPort {
  /** Its index, for `S_INPUT`/`S_OUTPUT`. */
  readonly index: number;
  /** e.g. `"HDMI 0"`. */
  readonly name: string;
  /** `V4L2_INPUT_TYPE_*` / `V4L2_OUTPUT_TYPE_*`. */
  readonly type: number;
}

/** A buffer `VIDIOC_DQBUF` gave back (or `VIDIOC_QUERYBUF` described). */
export interface DequeuedBuffer {
  /** The buffer's index in the queue. */
  readonly index: number;
  /** `bytesused` of the first plane. */
  readonly bytesused: number;
  /** `V4L2_BUF_FLAG_*`. */
  readonly flags: number;
  /** `enum v4l2_field`. */
  readonly field: number;
  /** The frame's sequence number (counts from 0 at `STREAMON`). */
  readonly sequence: number;
  /** Timestamp in µs (`timeval`). */
  readonly timestampUs: number;
  /** `length` of the first plane (bytes). */
  readonly length: number;
  /** Per plane `bytesused` (one entry for single-planar queues). */
  readonly planes: readonly { bytesused: number; length: number; dataOffset: number }[];
}

/** One plane of a DMABUF buffer to queue. */
export interface QueuePlane {
  /** The dma-buf holding the plane. */
  buffer: DmaBuf;
  /** Bytes of the buffer the driver may use (`length`); default the buffer's size. */
  length?: number;
  /** Bytes of payload (output queues); default `length`. */
  bytesused?: number;
  /** Where the plane's data starts in the buffer (multi-planar only). Default 0. */
  dataOffset?: number;
}

/** Options of {@linkcode VideoQueue.queue}. */
export interface QueueOptions {
  /** Bytes of payload of a single-plane output buffer; default the buffer's length. */
  bytesused?: number;
  /** `field` of an output buffer; default `V4L2_FIELD_NONE` for output, 0 for capture. */
  field?: number;
}

/** Options of {@linkcode openVideoDevice}. */
export interface VideoDeviceOptions {
  /** The kernel; default: the kernel in use. */
  kernel?: Kernel;
}

/** Criteria of {@linkcode findVideoDevice}; all given ones must match. */
export interface VideoDeviceQuery {
  /** `driver` of QUERYCAP, e.g. `"vivid"`. */
  driver?: string;
  /** `card` of QUERYCAP (exact, or a RegExp). */
  card?: string | RegExp;
  /** `V4L2_CAP_*` bits every one of which the node's `device_caps` must have. */
  capabilities?: number;
  /** The kernel; default: the kernel in use. */
  kernel?: Kernel;
}

const kOpen = Symbol("open");
const EAGAIN = Errno.EAGAIN;

/**
 * An open video node. Owns its fd: `close()` is idempotent and `using` closes it; closing it
 * frees the driver's buffers of the queues this file owns (vb2 `vb2_fop_release`).
 */
export class VideoDevice extends FdResource {
  /** The node, e.g. `"/dev/video0"`. */
  readonly path: string;
  /** What `VIDIOC_QUERYCAP` said at open. */
  readonly capability: VideoCapability;
  /** @internal Scratch struct for small ioctls. */
  readonly _int: UserBuffer;
  #queues = new Map<number, VideoQueue>();
  // The base holds the truth (and the closed check); these copies keep _ioctl free of getters.
  readonly #kernel: Kernel;
  readonly #fd: number;

  /**
   * Internal: use {@linkcode openVideoDevice}.
   *
   * @param token Internal token.
   * @param path The node.
   * @param kernel The kernel.
   */
  constructor(token: typeof kOpen, path: string, kernel: Kernel) {
    if (token !== kOpen) throw new TypeError("Use openVideoDevice(path) to open a video node");
    const fd = kernel.open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    super(kernel, fd, "VideoDevice");
    this.#kernel = kernel;
    this.#fd = fd;
    this.path = path;
    this._int = kernel.userBuffer(8);
    try {
      this.capability = this.#querycap();
    } catch (e) {
      this.close();
      if ((e as ErrnoError).errno === Errno.ENOTTY) {
        throw errnoError(Errno.ENOTTY, "ioctl(VIDIOC_QUERYCAP)", {
          path,
          detail: "Not a V4L2 device",
        });
      }
      throw e;
    }
  }

  /** @internal */
  static open(path: string, kernel: Kernel): VideoDevice {
    return new VideoDevice(kOpen, path, kernel);
  }

  /**
   * @internal One ioctl on this node, errors naming the request and the path. `hint(context)`
   * is called only on failure (a function made once and its argument, so that a call that
   * succeeds allocates no closure); a failure with errno `expected` returns `-expected`.
   */
  _ioctl<C = undefined>(
    request: number,
    arg: UserBuffer | null,
    name: string,
    hint?: (context: C) => string | undefined,
    context?: C,
    expected?: number,
  ): number {
    this.checkOpen(name);
    try {
      return this.#kernel.ioctl(this.#fd, request, arg, name, expected);
    } catch (e) {
      const err = e as ErrnoError;
      if (typeof err.errno !== "number") throw e;
      const h = hint?.(context as C) ?? defaultHint(name, err.errno);
      throw errnoError(err.errno, `ioctl(${name})`, {
        path: this.path,
        hint: h,
        detail: undefined,
        cause: e,
      });
    }
  }

  #querycap(): VideoCapability {
    const b = this.kernel.userBuffer(v4l2_capability.size);
    this._ioctl(VIDIOC_QUERYCAP, b, "VIDIOC_QUERYCAP");
    const v = b.view;
    const caps = v.getUint32(v4l2_capability.capabilities, true);
    return {
      driver: cstr(b.bytes, v4l2_capability.driver, 16),
      card: cstr(b.bytes, v4l2_capability.card, 32),
      busInfo: cstr(b.bytes, v4l2_capability.bus_info, 32),
      version: v.getUint32(v4l2_capability.version, true),
      capabilities: caps,
      deviceCaps: caps & V4L2_CAP_DEVICE_CAPS
        ? v.getUint32(v4l2_capability.device_caps, true)
        : caps,
    };
  }

  /**
   * The capture or output queue of this node: single-planar when the node has the
   * single-planar capability, multi-planar otherwise.
   *
   * @param direction `"capture"` or `"output"`.
   * @returns The queue (the same object on every call).
   * @throws {ErrnoError} `EINVAL` when the node has no such queue.
   */
  queue(direction: QueueDirection): VideoQueue {
    this.checkOpen("get a queue of");
    const caps = this.capability.deviceCaps;
    let type: number;
    if (direction === "capture") {
      type = caps & V4L2_CAP_VIDEO_CAPTURE
        ? V4L2_BUF_TYPE_VIDEO_CAPTURE
        : caps & V4L2_CAP_VIDEO_CAPTURE_MPLANE
        ? V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE
        : 0;
    } else if (direction === "output") {
      type = caps & V4L2_CAP_VIDEO_OUTPUT
        ? V4L2_BUF_TYPE_VIDEO_OUTPUT
        : caps & V4L2_CAP_VIDEO_OUTPUT_MPLANE
        ? V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE
        : 0;
    } else {
      type = 0;
    }
    if (type === 0) {
      throw errnoError(Errno.EINVAL, "VideoDevice.queue", {
        path: this.path,
        detail: `The node has no video ${direction} queue (device_caps 0x${caps.toString(16)})`,
      });
    }
    let q = this.#queues.get(type);
    if (!q) this.#queues.set(type, q = new VideoQueue(kOpen, this, type));
    return q;
  }

  /**
   * Every control of the node (`VIDIOC_QUERY_EXT_CTRL` with `V4L2_CTRL_FLAG_NEXT_CTRL`),
   * class headings left out.
   *
   * @returns The controls in id order.
   */
  controls(): ControlInfo[] {
    const b = this.kernel.userBuffer(QEC.size);
    const out: ControlInfo[] = [];
    let id = 0;
    for (;;) {
      b.bytes.fill(0);
      b.view.setUint32(
        QEC.id,
        (id | V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND) >>> 0,
        true,
      );
      try {
        this._ioctl(VIDIOC_QUERY_EXT_CTRL, b, "VIDIOC_QUERY_EXT_CTRL");
      } catch (e) {
        if ((e as ErrnoError).errno === Errno.EINVAL) return out; // past the last control
        throw e;
      }
      const info = readQueryExtCtrl(b);
      id = info.id;
      if (info.type !== 6 /* V4L2_CTRL_TYPE_CTRL_CLASS */) out.push(info);
    }
  }

  /**
   * The control called `name` (as `QUERY_EXT_CTRL` names it, e.g. vivid's `"Test Pattern"`).
   *
   * @param name The exact name.
   * @returns Its description.
   * @throws {ErrnoError} `EINVAL` when the node has no control of that name.
   */
  findControl(name: string): ControlInfo {
    const c = this.controls().find((c) => c.name === name);
    if (!c) {
      throw errnoError(Errno.EINVAL, "ioctl(VIDIOC_QUERY_EXT_CTRL)", {
        path: this.path,
        detail: `No control named ${JSON.stringify(name)}`,
        hint: `The node's controls: ${this.controls().map((c) => c.name).join(", ")}`,
      });
    }
    return c;
  }

  /**
   * The names of a menu control's items, by value (`VIDIOC_QUERYMENU`; holes skipped).
   *
   * @param control The control or its name.
   * @returns Value → name.
   */
  menu(control: ControlInfo | string): Map<number, string> {
    const c = typeof control === "string" ? this.findControl(control) : control;
    const b = this.kernel.userBuffer(v4l2_querymenu.size);
    const out = new Map<number, string>();
    for (let i = c.minimum; i <= c.maximum; i++) {
      b.bytes.fill(0);
      b.view.setUint32(v4l2_querymenu.id, c.id, true);
      b.view.setUint32(v4l2_querymenu.index, i, true);
      try {
        this._ioctl(VIDIOC_QUERYMENU, b, "VIDIOC_QUERYMENU");
      } catch (e) {
        if ((e as ErrnoError).errno === Errno.EINVAL) continue; // a skipped item
        throw e;
      }
      out.set(i, cstr(b.bytes, v4l2_querymenu.name, 32));
    }
    return out;
  }

  /**
   * A control's current value: `VIDIOC_G_CTRL`, or `VIDIOC_G_EXT_CTRLS` for 64-bit controls.
   *
   * @param control The control, its id or its name.
   * @returns The value.
   */
  getControl(control: ControlInfo | number | string): number {
    const c = this.#control(control);
    if (c.type === V4L2_CTRL_TYPE_INTEGER64) return this.#extCtrl(c.id, undefined);
    const b = this.kernel.userBuffer(v4l2_control.size);
    b.view.setUint32(v4l2_control.id, c.id, true);
    this._ioctl(VIDIOC_G_CTRL, b, "VIDIOC_G_CTRL");
    return b.view.getInt32(v4l2_control.value, true);
  }

  /**
   * Sets a control: `VIDIOC_S_CTRL`, or `VIDIOC_S_EXT_CTRLS` for 64-bit controls. A menu
   * control also takes the item's name (`"None"`).
   *
   * @param control The control, its id or its name.
   * @param value The value, or a menu item's name.
   * @throws {ErrnoError} `EINVAL`/`ERANGE` for a value the driver refuses.
   */
  setControl(control: ControlInfo | number | string, value: number | string): void {
    const c = this.#control(control);
    if (typeof value === "string") {
      if (c.type !== V4L2_CTRL_TYPE_MENU) {
        throw errnoError(Errno.EINVAL, "ioctl(VIDIOC_S_CTRL)", {
          path: this.path,
          detail: `Control "${c.name}" is not a menu; give a number`,
        });
      }
      const items = this.menu(c);
      const hit = [...items].find(([, n]) => n === value);
      if (!hit) {
        throw errnoError(Errno.EINVAL, "ioctl(VIDIOC_S_CTRL)", {
          path: this.path,
          detail: `Menu "${c.name}" has no item ${JSON.stringify(value)}`,
          hint: `Items: ${[...items.values()].join(", ")}`,
        });
      }
      value = hit[0];
    }
    if (c.type === V4L2_CTRL_TYPE_INTEGER64) {
      this.#extCtrl(c.id, value);
      return;
    }
    const b = this.kernel.userBuffer(v4l2_control.size);
    b.view.setUint32(v4l2_control.id, c.id, true);
    b.view.setInt32(v4l2_control.value, value, true);
    this._ioctl(VIDIOC_S_CTRL, b, "VIDIOC_S_CTRL");
  }

  #extCtrl(id: number, value: number | undefined): number {
    const ctrl = this.kernel.userBuffer(v4l2_ext_control.size);
    const ctrls = this.kernel.userBuffer(v4l2_ext_controls.size);
    ctrl.view.setUint32(v4l2_ext_control.id, id, true);
    if (value !== undefined) ctrl.view.setBigInt64(v4l2_ext_control.value, BigInt(value), true);
    ctrls.view.setUint32(v4l2_ext_controls.which, V4L2_CTRL_ID2WHICH(id), true);
    ctrls.view.setUint32(v4l2_ext_controls.count, 1, true);
    ctrls.view.setBigUint64(v4l2_ext_controls.controls, BigInt(ctrl.address), true);
    if (value === undefined) {
      this._ioctl(VIDIOC_G_EXT_CTRLS, ctrls, "VIDIOC_G_EXT_CTRLS");
    } else {
      this._ioctl(VIDIOC_S_EXT_CTRLS, ctrls, "VIDIOC_S_EXT_CTRLS");
    }
    return Number(ctrl.view.getBigInt64(v4l2_ext_control.value, true));
  }

  #control(control: ControlInfo | number | string): ControlInfo {
    if (typeof control === "string") return this.findControl(control);
    if (typeof control === "number") {
      const b = this.kernel.userBuffer(QEC.size);
      b.view.setUint32(QEC.id, control, true);
      this._ioctl(VIDIOC_QUERY_EXT_CTRL, b, "VIDIOC_QUERY_EXT_CTRL");
      return readQueryExtCtrl(b);
    }
    return control;
  }

  /** The inputs (`VIDIOC_ENUMINPUT`); none on a node without inputs (ENOTTY). */
  inputs(): VideoPort[] {
    return this.#ports(VIDIOC_ENUMINPUT, v4l2_input, "VIDIOC_ENUMINPUT");
  }

  /** The outputs (`VIDIOC_ENUMOUTPUT`); none on a node without outputs (ENOTTY). */
  outputs(): VideoPort[] {
    return this.#ports(VIDIOC_ENUMOUTPUT, v4l2_output, "VIDIOC_ENUMOUTPUT");
  }

  #ports(
    request: number,
    layout: { size: number; index: number; name: number; type: number },
    name: string,
  ): VideoPort[] {
    const b = this.kernel.userBuffer(layout.size);
    const out: VideoPort[] = [];
    for (let i = 0;; i++) {
      b.bytes.fill(0);
      b.view.setUint32(layout.index, i, true);
      try {
        this._ioctl(request, b, name);
      } catch (e) {
        // EINVAL: past the last one; ENOTTY: a node without inputs (outputs), e.g. ENUMOUTPUT
        // on a capture node.
        const errno = (e as ErrnoError).errno;
        if (errno === Errno.EINVAL || errno === Errno.ENOTTY) return out;
        throw e;
      }
      out.push({
        index: i,
        name: cstr(b.bytes, layout.name, 32),
        type: b.view.getUint32(layout.type, true),
      });
    }
  }

  /** The current input (`VIDIOC_G_INPUT`). */
  get input(): number {
    this._ioctl(VIDIOC_G_INPUT, this._int, "VIDIOC_G_INPUT");
    return this._int.view.getInt32(0, true);
  }

  /**
   * Selects an input (`VIDIOC_S_INPUT`), e.g. vivid's HDMI input 3.
   *
   * @throws {ErrnoError} `EINVAL` for an index past the last input; `EBUSY` while streaming.
   */
  set input(index: number) {
    this._int.view.setInt32(0, index, true);
    this._ioctl(VIDIOC_S_INPUT, this._int, "VIDIOC_S_INPUT");
  }

  /** The current output (`VIDIOC_G_OUTPUT`). */
  get output(): number {
    this._ioctl(VIDIOC_G_OUTPUT, this._int, "VIDIOC_G_OUTPUT");
    return this._int.view.getInt32(0, true);
  }

  /**
   * Selects an output (`VIDIOC_S_OUTPUT`), e.g. vivid's HDMI output 1.
   *
   * @throws {ErrnoError} `EINVAL` for an index past the last output; `EBUSY` while streaming.
   */
  set output(index: number) {
    this._int.view.setInt32(0, index, true);
    this._ioctl(VIDIOC_S_OUTPUT, this._int, "VIDIOC_S_OUTPUT");
  }
}

function readQueryExtCtrl(b: UserBuffer): ControlInfo {
  const v = b.view;
  return {
    id: v.getUint32(QEC.id, true),
    type: v.getUint32(QEC.type, true),
    name: cstr(b.bytes, QEC.name, 32),
    minimum: Number(v.getBigInt64(QEC.minimum, true)),
    maximum: Number(v.getBigInt64(QEC.maximum, true)),
    step: Number(v.getBigUint64(QEC.step, true)),
    defaultValue: Number(v.getBigInt64(QEC.default_value, true)),
    flags: v.getUint32(QEC.flags, true),
  };
}

function defaultHint(name: string, errno: number): string | undefined {
  if (errno === Errno.EBUSY && (name === "VIDIOC_REQBUFS" || name === "VIDIOC_S_FMT")) {
    return "Another file owns the queue (it allocated buffers, streams, or a poll(POLLIN) " +
      "without buffers started vb2's read() emulation); close it or REQBUFS 0 there first";
  }
  if (errno === Errno.ENOTTY) return "The node does not implement this ioctl";
  return undefined;
}

/**
 * One buffer queue of a video node (capture or output, single- or multi-planar). Methods are
 * one ioctl each; the queue keeps one `v4l2_buffer` and plane array and reuses them, so
 * {@linkcode queue}/{@linkcode dequeue} allocate nothing but their result.
 */
export class VideoQueue {
  /** The node. */
  readonly device: VideoDevice;
  /** `enum v4l2_buf_type`. */
  readonly type: number;
  /** Whether the queue is multi-planar (`*_MPLANE`). */
  readonly multiplanar: boolean;
  /** Whether this is an output queue (user space fills buffers, the device consumes them). */
  readonly isOutput: boolean;
  /** Memory of the buffers from the last {@linkcode requestBuffers} (0 before). */
  memory = 0;
  /** Buffers from the last {@linkcode requestBuffers}. */
  count = 0;
  /** `V4L2_BUF_CAP_*` the last `REQBUFS` reported. */
  bufferCapabilities = 0;
  #buf: UserBuffer;
  /** The device's kernel (never changes). */
  #kernel: Kernel;
  // `#buf`'s bytes and view, read once: queue()/dequeue() run once per frame.
  #bytes: Uint8Array;
  #view: DataView;
  #planes: UserBuffer;
  #fmt: UserBuffer;
  #sizeimage: number[] | undefined;
  #streaming = false;
  /** What wait() names in its timeout error. */
  #what: string;

  /**
   * Internal: use {@linkcode VideoDevice.queue}.
   *
   * @param token Internal token.
   * @param device The node.
   * @param type The buffer type.
   */
  constructor(token: typeof kOpen, device: VideoDevice, type: number) {
    if (token !== kOpen) throw new TypeError("Use VideoDevice.queue()");
    this.device = device;
    this.type = type;
    this.multiplanar = V4L2_TYPE_IS_MULTIPLANAR(type);
    this.isOutput = V4L2_TYPE_IS_OUTPUT(type);
    const k = device.kernel;
    this.#kernel = k;
    this.#buf = k.userBuffer(v4l2_buffer.size);
    this.#bytes = this.#buf.bytes;
    this.#view = this.#buf.view;
    this.#planes = k.userBuffer(v4l2_plane.size * VIDEO_MAX_PLANES);
    this.#what = `${device.path} ${this.isOutput ? "output" : "capture"} buffer`;
    this.#fmt = k.userBuffer(v4l2_format.size);
  }

  /** Whether `STREAMON` was called (and no `STREAMOFF` since) through this object. */
  get streaming(): boolean {
    return this.#streaming;
  }

  /** The poll event that says a buffer can be dequeued: `POLLIN` (capture), `POLLOUT` (output). */
  get doneEvents(): number {
    return this.isOutput ? POLLOUT : POLLIN;
  }

  /**
   * The formats the queue offers (`VIDIOC_ENUM_FMT`).
   *
   * @returns The formats in the driver's order.
   */
  formats(): FormatDescription[] {
    const b = this.device.kernel.userBuffer(v4l2_fmtdesc.size);
    const out: FormatDescription[] = [];
    for (let i = 0;; i++) {
      b.bytes.fill(0);
      b.view.setUint32(v4l2_fmtdesc.index, i, true);
      b.view.setUint32(v4l2_fmtdesc.type, this.type, true);
      try {
        this.device._ioctl(VIDIOC_ENUM_FMT, b, "VIDIOC_ENUM_FMT");
      } catch (e) {
        if ((e as ErrnoError).errno === Errno.EINVAL) return out;
        throw e;
      }
      out.push({
        index: i,
        pixelformat: fourccString(b.view.getUint32(v4l2_fmtdesc.pixelformat, true)),
        description: cstr(b.bytes, v4l2_fmtdesc.description, 32),
        flags: b.view.getUint32(v4l2_fmtdesc.flags, true),
      });
    }
  }

  /** The current format (`VIDIOC_G_FMT`). */
  getFormat(): VideoFormat {
    this.#fmt.bytes.fill(0);
    this.#fmt.view.setUint32(v4l2_format.type, this.type, true);
    this.device._ioctl(VIDIOC_G_FMT, this.#fmt, "VIDIOC_G_FMT");
    return this.#readFormat();
  }

  /**
   * Sets the format (`VIDIOC_S_FMT`); fields left out keep their current values. The driver may
   * adjust what it cannot do: read the result.
   *
   * @param request Width, height, fourcc, field, stride.
   * @returns The format the driver chose.
   * @throws {Deno.errors.Busy} `EBUSY` when buffers are allocated or the queue streams.
   */
  setFormat(request: VideoFormatRequest): VideoFormat {
    return this.#format(VIDIOC_S_FMT, "VIDIOC_S_FMT", request);
  }

  /**
   * What `setFormat(request)` would give, without changing anything (`VIDIOC_TRY_FMT`).
   *
   * @param request Width, height, fourcc, field, stride.
   * @returns The format the driver would choose.
   */
  tryFormat(request: VideoFormatRequest): VideoFormat {
    return this.#format(VIDIOC_TRY_FMT, "VIDIOC_TRY_FMT", request);
  }

  #format(req: number, name: string, r: VideoFormatRequest): VideoFormat {
    this.getFormat(); // start from the current format
    const v = this.#fmt.view, f = v4l2_format.fmt;
    if (r.width !== undefined) v.setUint32(f + PIX.width, r.width, true);
    if (r.height !== undefined) v.setUint32(f + PIX.height, r.height, true);
    if (r.pixelformat !== undefined) {
      v.setUint32(f + PIX.pixelformat, v4l2_fourcc(r.pixelformat), true);
    }
    if (r.field !== undefined) v.setUint32(f + PIX.field, r.field, true);
    if (this.multiplanar) {
      if (r.bytesperline !== undefined) {
        v.setUint32(f + MPIX.plane_fmt + PPF.bytesperline, r.bytesperline, true);
      }
    } else {
      v.setUint32(f + PIX.bytesperline, r.bytesperline ?? 0, true);
      v.setUint32(f + PIX.sizeimage, 0, true);
    }
    this.device._ioctl(req, this.#fmt, name);
    const out = this.#readFormat();
    if (req === VIDIOC_S_FMT) this.#sizeimage = out.planes.map((p) => p.sizeimage);
    return out;
  }

  #readFormat(): VideoFormat {
    const v = this.#fmt.view, f = v4l2_format.fmt;
    const planes: PlaneFormat[] = [];
    let colorspace: number;
    if (this.multiplanar) {
      const n = v.getUint8(f + MPIX.num_planes);
      for (let i = 0; i < n && i < VIDEO_MAX_PLANES; i++) {
        const p = f + MPIX.plane_fmt + i * PPF.size;
        planes.push({
          bytesperline: v.getUint32(p + PPF.bytesperline, true),
          sizeimage: v.getUint32(p + PPF.sizeimage, true),
        });
      }
      colorspace = v.getUint32(f + MPIX.colorspace, true);
    } else {
      planes.push({
        bytesperline: v.getUint32(f + PIX.bytesperline, true),
        sizeimage: v.getUint32(f + PIX.sizeimage, true),
      });
      colorspace = v.getUint32(f + PIX.colorspace, true);
    }
    return {
      width: v.getUint32(f + PIX.width, true),
      height: v.getUint32(f + PIX.height, true),
      pixelformat: fourccString(v.getUint32(f + PIX.pixelformat, true)),
      field: v.getUint32(f + PIX.field, true),
      colorspace,
      planes,
      sizeimage: planes[0]?.sizeimage ?? 0,
      bytesperline: planes[0]?.bytesperline ?? 0,
    };
  }

  /**
   * Allocates (`MMAP`) or sets up slots for (`DMABUF`) `count` buffers (`VIDIOC_REQBUFS`);
   * `count` 0 frees them. The driver may grant a different number.
   *
   * @param count How many buffers.
   * @param memory `"dmabuf"` (buffers come from the caller, e.g. a heap) or `"mmap"`.
   * @returns The number granted.
   * @throws {Deno.errors.Busy} `EBUSY` while streaming or when another file owns the queue.
   */
  requestBuffers(count: number, memory: "dmabuf" | "mmap" = "dmabuf"): number {
    const mem = memory === "mmap" ? V4L2_MEMORY_MMAP : V4L2_MEMORY_DMABUF;
    const b = this.device.kernel.userBuffer(v4l2_requestbuffers.size);
    b.view.setUint32(v4l2_requestbuffers.count, count, true);
    b.view.setUint32(v4l2_requestbuffers.type, this.type, true);
    b.view.setUint32(v4l2_requestbuffers.memory, mem, true);
    this.device._ioctl(VIDIOC_REQBUFS, b, "VIDIOC_REQBUFS");
    this.count = b.view.getUint32(v4l2_requestbuffers.count, true);
    this.memory = this.count > 0 ? mem : 0;
    this.bufferCapabilities = b.view.getUint32(v4l2_requestbuffers.capabilities, true);
    if (count === 0) this.#streaming = false;
    this.#sizeimage ??= this.getFormat().planes.map((p) => p.sizeimage);
    return this.count;
  }

  /**
   * Queues buffer `index` backed by `buffer` (`VIDIOC_QBUF`, `V4L2_MEMORY_DMABUF`): the driver
   * imports the dma-buf (`dma_buf_attach`, then maps it for the device) and fills it (capture)
   * or consumes it (output). Nothing is copied in user space. Queue the same buffer at the same
   * index to let vb2 reuse its attachment.
   *
   * @param index The slot, 0 … count − 1.
   * @param buffer The dma-buf (single plane), or the planes.
   * @param options `bytesused` and `field` of an output buffer.
   * @throws {ErrnoError} `EINVAL` for a buffer smaller than the format's `sizeimage` (hint
   *   says so), an index out of range or a slot already queued; `EXDEV` for a buffer of another
   *   kernel than the device's (before the ioctl).
   */
  queue(index: number, buffer: DmaBuf | readonly QueuePlane[], options?: QueueOptions): void {
    const field = options?.field ?? (this.isOutput ? 1 : 0);
    if (buffer instanceof DmaBuf && !this.multiplanar) {
      // The per-frame case (one dma-buf, single-planar), without the planes array below.
      if (buffer.kernel !== this.#kernel) {
        sameKernel(this.#kernel, buffer, "buffer", "ioctl(VIDIOC_QBUF)", this.device.path);
      }
      const v = this.#header(index, V4L2_MEMORY_DMABUF, field);
      const length = buffer.size;
      v.setInt32(v4l2_buffer.m, buffer.fd, true);
      v.setUint32(v4l2_buffer.length, length, true);
      v.setUint32(v4l2_buffer.bytesused, options?.bytesused ?? length, true);
      this.device._ioctl(VIDIOC_QBUF, this.#buf, "VIDIOC_QBUF", this.#qbufHint, buffer);
      return;
    }
    const planes: readonly QueuePlane[] = buffer instanceof DmaBuf ? [{ buffer }] : buffer;
    for (const pl of planes) {
      sameKernel(this.#kernel, pl.buffer, "buffer", "ioctl(VIDIOC_QBUF)", this.device.path);
    }
    const v = this.#header(index, V4L2_MEMORY_DMABUF, field);
    if (this.multiplanar) {
      const p = this.#planes.view;
      this.#planes.bytes.fill(0, 0, planes.length * v4l2_plane.size);
      for (let i = 0; i < planes.length; i++) {
        const o = i * v4l2_plane.size, pl = planes[i];
        const length = pl.length ?? pl.buffer.size;
        p.setUint32(o + v4l2_plane.length, length, true);
        p.setUint32(o + v4l2_plane.bytesused, pl.bytesused ?? length, true);
        p.setInt32(o + v4l2_plane.m, pl.buffer.fd, true);
        p.setUint32(o + v4l2_plane.data_offset, pl.dataOffset ?? 0, true);
      }
      v.setBigUint64(v4l2_buffer.m, BigInt(this.#planes.address), true);
      v.setUint32(v4l2_buffer.length, planes.length, true);
    } else {
      const pl = planes[0];
      const length = pl.length ?? pl.buffer.size;
      v.setInt32(v4l2_buffer.m, pl.buffer.fd, true);
      v.setUint32(v4l2_buffer.length, length, true);
      v.setUint32(v4l2_buffer.bytesused, options?.bytesused ?? pl.bytesused ?? length, true);
    }
    this.device._ioctl(VIDIOC_QBUF, this.#buf, "VIDIOC_QBUF", this.#qbufHint, planes);
  }

  /** The `struct v4l2_buffer` for a QBUF, zeroed, with its header: index, type, memory, field. */
  #header(index: number, memory: number, field: number): DataView {
    const v = this.#view;
    this.#bytes.fill(0);
    v.setUint32(v4l2_buffer.index, index, true);
    v.setUint32(v4l2_buffer.type, this.type, true);
    v.setUint32(v4l2_buffer.memory, memory, true);
    v.setUint32(v4l2_buffer.field, field, true);
    return v;
  }

  /**
   * Queues MMAP buffer `index` (`VIDIOC_QBUF`, `V4L2_MEMORY_MMAP`).
   *
   * @param index The slot.
   * @param options `bytesused` of an output buffer (default: the whole buffer).
   */
  queueMmap(index: number, options: QueueOptions = {}): void {
    const v = this.#header(index, V4L2_MEMORY_MMAP, options.field ?? (this.isOutput ? 1 : 0));
    if (this.multiplanar) {
      this.#planes.bytes.fill(0);
      if (options.bytesused !== undefined) {
        this.#planes.view.setUint32(v4l2_plane.bytesused, options.bytesused, true);
      }
      v.setBigUint64(v4l2_buffer.m, BigInt(this.#planes.address), true);
      v.setUint32(v4l2_buffer.length, this.#sizeimage?.length ?? 1, true);
    } else {
      v.setUint32(v4l2_buffer.bytesused, options.bytesused ?? 0, true);
    }
    this.device._ioctl(VIDIOC_QBUF, this.#buf, "VIDIOC_QBUF");
  }

  /** The hint of a failed DMABUF `QBUF` (an arrow function, made once: see `_ioctl`). */
  #qbufHint = (buffer: DmaBuf | readonly QueuePlane[]): string | undefined => {
    const planes: readonly QueuePlane[] = buffer instanceof DmaBuf ? [{ buffer }] : buffer;
    const need = this.#sizeimage;
    if (this.memory !== V4L2_MEMORY_DMABUF) {
      return 'REQBUFS with V4L2_MEMORY_DMABUF first (queue.requestBuffers(n, "dmabuf"))';
    }
    if (need) {
      for (let i = 0; i < planes.length; i++) {
        const have = planes[i].length ?? planes[i].buffer.size;
        if (need[i] !== undefined && have < need[i]) {
          return `Plane ${i} is ${have} bytes, smaller than the format's sizeimage ${need[i]}`;
        }
      }
    }
    return undefined;
  };

  /**
   * Takes a done buffer back (`VIDIOC_DQBUF`), without blocking.
   *
   * @returns The buffer, or `null` when none is done yet (`EAGAIN`).
   * @throws {ErrnoError} `EINVAL` when the queue does not stream; `EPIPE` after the last buffer.
   */
  dequeue(): DequeuedBuffer | null {
    const v = this.#view;
    this.#bytes.fill(0);
    v.setUint32(v4l2_buffer.type, this.type, true);
    v.setUint32(v4l2_buffer.memory, this.memory, true);
    if (this.multiplanar) {
      this.#planes.bytes.fill(0);
      v.setBigUint64(v4l2_buffer.m, BigInt(this.#planes.address), true);
      v.setUint32(v4l2_buffer.length, VIDEO_MAX_PLANES, true);
    }
    // EAGAIN (nothing done yet) comes back as -EAGAIN, not as an error object per empty poll.
    let r: number;
    try {
      r = this.device._ioctl(VIDIOC_DQBUF, this.#buf, "VIDIOC_DQBUF", undefined, undefined, EAGAIN);
    } catch (e) {
      // A Kernel implementation that throws EAGAIN anyway.
      if ((e as ErrnoError).errno === EAGAIN) return null;
      throw e;
    }
    return r === -EAGAIN ? null : this.#readBuffer();
  }

  /**
   * Describes buffer `index` (`VIDIOC_QUERYBUF`).
   *
   * @param index The slot.
   * @returns Its state: flags (`QUEUED`, `DONE`, `MAPPED`), length, …
   */
  query(index: number): DequeuedBuffer {
    const v = this.#header(index, this.memory, 0);
    if (this.multiplanar) {
      this.#planes.bytes.fill(0);
      v.setBigUint64(v4l2_buffer.m, BigInt(this.#planes.address), true);
      v.setUint32(v4l2_buffer.length, VIDEO_MAX_PLANES, true);
    }
    this.device._ioctl(VIDIOC_QUERYBUF, this.#buf, "VIDIOC_QUERYBUF");
    return this.#readBuffer();
  }

  #readBuffer(): DequeuedBuffer {
    const v = this.#view;
    // `struct timeval` (two `long`s, x86_64/arm64) read as 32-bit halves: a BigInt per field
    // would cost two allocations per frame. hi·2³² is exact and the sum rounds once, as
    // Number(BigInt) does.
    const sec = v.getInt32(v4l2_buffer.timestamp + 4, true) * 0x1_0000_0000 +
      v.getUint32(v4l2_buffer.timestamp, true);
    const usec = v.getInt32(v4l2_buffer.timestamp + 12, true) * 0x1_0000_0000 +
      v.getUint32(v4l2_buffer.timestamp + 8, true);
    if (!this.multiplanar) {
      const bytesused = v.getUint32(v4l2_buffer.bytesused, true);
      const length = v.getUint32(v4l2_buffer.length, true);
      return {
        index: v.getUint32(v4l2_buffer.index, true),
        bytesused,
        flags: v.getUint32(v4l2_buffer.flags, true),
        field: v.getUint32(v4l2_buffer.field, true),
        sequence: v.getUint32(v4l2_buffer.sequence, true),
        timestampUs: sec * 1e6 + usec,
        length,
        planes: [{ bytesused, length, dataOffset: 0 }],
      };
    }
    const planes: { bytesused: number; length: number; dataOffset: number }[] = [];
    const n = v.getUint32(v4l2_buffer.length, true);
    const p = this.#planes.view;
    for (let i = 0; i < n && i < VIDEO_MAX_PLANES; i++) {
      const o = i * v4l2_plane.size;
      planes.push({
        bytesused: p.getUint32(o + v4l2_plane.bytesused, true),
        length: p.getUint32(o + v4l2_plane.length, true),
        dataOffset: p.getUint32(o + v4l2_plane.data_offset, true),
      });
    }
    return {
      index: v.getUint32(v4l2_buffer.index, true),
      bytesused: planes[0]?.bytesused ?? 0,
      flags: v.getUint32(v4l2_buffer.flags, true),
      field: v.getUint32(v4l2_buffer.field, true),
      sequence: v.getUint32(v4l2_buffer.sequence, true),
      timestampUs: sec * 1e6 + usec,
      length: planes[0]?.length ?? 0,
      planes,
    };
  }

  /**
   * Waits, without blocking the thread, until a buffer can be dequeued (`POLLIN` on capture,
   * `POLLOUT` on output, through the kernel's `pollAsync`).
   *
   * @param options Timeout (ms) and abort signal.
   * @throws {Deno.errors.TimedOut} When the timeout passes first.
   * @throws {ErrnoError} `EIO` when the queue reports `POLLERR` (not streaming, or no buffer
   *   queued).
   */
  async wait(options: WaitOptions = {}): Promise<void> {
    await waitForEvents(this.device.kernel, this.device.fd, this.doneEvents, options, this.#what);
  }

  /**
   * Dequeues the next done buffer, waiting for it without blocking the thread.
   *
   * @param options Timeout (ms) and abort signal.
   * @returns The buffer.
   */
  async next(options: WaitOptions = {}): Promise<DequeuedBuffer> {
    for (;;) {
      const b = this.dequeue();
      if (b) return b;
      await this.wait(options);
    }
  }

  /** Starts streaming (`VIDIOC_STREAMON`). */
  streamOn(): void {
    this.device._int.view.setUint32(0, this.type, true);
    this.device._ioctl(VIDIOC_STREAMON, this.device._int, "VIDIOC_STREAMON");
    this.#streaming = true;
  }

  /**
   * Stops streaming (`VIDIOC_STREAMOFF`): every queued buffer returns to user space without
   * being dequeued, the sequence restarts at 0.
   */
  streamOff(): void {
    this.device._int.view.setUint32(0, this.type, true);
    this.device._ioctl(VIDIOC_STREAMOFF, this.device._int, "VIDIOC_STREAMOFF");
    this.#streaming = false;
  }

  /**
   * Exports MMAP buffer `index` (plane `plane`) as a dma-buf (`VIDIOC_EXPBUF`): the driver's
   * memory becomes a {@linkcode DmaBuf} that maps, syncs and shares like any other.
   *
   * @param index The slot.
   * @param plane The plane, default 0.
   * @returns The new dma-buf (owned: close it).
   * @throws {ErrnoError} `EINVAL` unless the queue has MMAP buffers.
   */
  exportBuffer(index: number, plane = 0): DmaBuf {
    const b = this.device.kernel.userBuffer(v4l2_exportbuffer.size);
    b.view.setUint32(v4l2_exportbuffer.type, this.type, true);
    b.view.setUint32(v4l2_exportbuffer.index, index, true);
    b.view.setUint32(v4l2_exportbuffer.plane, plane, true);
    b.view.setUint32(v4l2_exportbuffer.flags, O_CLOEXEC | O_RDWR, true);
    this.device._ioctl(
      VIDIOC_EXPBUF,
      b,
      "VIDIOC_EXPBUF",
      () =>
        this.memory !== V4L2_MEMORY_MMAP
          ? 'EXPBUF exports MMAP buffers: requestBuffers(n, "mmap") first'
          : undefined,
    );
    const fd = b.view.getInt32(v4l2_exportbuffer.fd, true);
    return adoptDmaBuf(this.device.kernel, fd);
  }
}

/**
 * Opens a video node.
 *
 * @param path The node, e.g. `"/dev/video0"`.
 * @param options The kernel.
 * @returns The open device, with its `VIDIOC_QUERYCAP` answer.
 * @throws {Deno.errors.NotFound} When the node does not exist (vivid not loaded?).
 * @throws {ErrnoError} `ENOTTY` when the file is not a V4L2 device.
 */
export function openVideoDevice(path: string, options: VideoDeviceOptions = {}): VideoDevice {
  return VideoDevice.open(path, kernelOption(options.kernel, "openVideoDevice"));
}

/**
 * Finds the first `/dev/videoN` (in N order) whose `VIDIOC_QUERYCAP` matches, and opens it.
 *
 * @param query Driver, card and capability bits to match.
 * @returns The open device.
 * @throws {Deno.errors.NotFound} `ENOENT` when no node matches (the message lists the nodes).
 */
export function findVideoDevice(query: VideoDeviceQuery = {}): VideoDevice {
  const kernel = kernelOption(query.kernel, "findVideoDevice");
  let names: string[] = [];
  try {
    names = kernel.readDir("/dev").filter((n) => /^video\d+$/.test(n));
  } catch {
    // no /dev: nothing matches
  }
  names.sort((a, b) => Number(a.slice(5)) - Number(b.slice(5)));
  const seen: string[] = [];
  for (const name of names) {
    let dev: VideoDevice;
    try {
      dev = VideoDevice.open(`/dev/${name}`, kernel);
    } catch (e) {
      seen.push(`/dev/${name} (${(e as Error).message})`);
      continue;
    }
    const c = dev.capability;
    const cardOk = query.card === undefined ||
      (typeof query.card === "string" ? c.card === query.card : query.card.test(c.card));
    if (
      (query.driver === undefined || c.driver === query.driver) && cardOk &&
      (query.capabilities === undefined ||
        (c.deviceCaps & query.capabilities) === query.capabilities)
    ) {
      return dev;
    }
    seen.push(`/dev/${name} (${c.driver} "${c.card}" caps 0x${c.deviceCaps.toString(16)})`);
    dev.close();
  }
  throw errnoError(Errno.ENOENT, "findVideoDevice", {
    detail: `No video node matches ${JSON.stringify({ ...query, kernel: undefined })}`,
    hint: seen.length
      ? `Seen: ${seen.join("; ")}`
      : "No /dev/video* node: load a V4L2 driver (e.g. modprobe vivid)",
  });
}
