/**
 * The V4L2 core a video driver registers with: `video_register_device()` (`v4l2-dev.c`, a
 * `/dev/videoN` char device), the ioctl dispatcher (`v4l2-ioctl.c`: `copy_from_user` of the
 * request's struct, the driver's `vidioc_*` op or vb2's, `copy_to_user` of the result), the
 * control framework's user-visible part (`v4l2-ctrls-*.c`: QUERY_EXT_CTRL with NEXT_CTRL,
 * QUERYMENU, G/S_CTRL, G/S_EXT_CTRLS) and the vb2 file ops (`vb2_fop_poll`,
 * `vb2_fop_release`: the queue's owner frees it on close).
 *
 * Single-planar video capture/output only (what the simulated vivid offers); a multi-planar
 * type is EINVAL as for a driver without those ops.
 *
 * @module
 */
import { Errno, fail, KernelError } from "../../errno.ts";
import type { file, file_operations, inode } from "../../file_table.ts";
import type { Task } from "../../sched.ts";
import type { MachineContext } from "../../context.ts";
import type { device } from "../../dma_buf.ts";
import type { poll_table } from "../../wait.ts";
import { copy_from_user, copy_to_user } from "../../uaccess.ts";
import {
  V4L2_BUF_FLAG_DONE,
  V4L2_BUF_FLAG_ERROR,
  V4L2_BUF_FLAG_MAPPED,
  V4L2_BUF_FLAG_QUEUED,
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  v4l2_buffer as B,
  V4L2_CAP_DEVICE_CAPS,
  v4l2_capability as CAP,
  v4l2_control,
  V4L2_CTRL_FLAG_NEXT_COMPOUND,
  V4L2_CTRL_FLAG_NEXT_CTRL,
  V4L2_CTRL_TYPE_MENU,
  v4l2_exportbuffer as EXP,
  v4l2_ext_control,
  v4l2_ext_controls,
  v4l2_fmtdesc as FD,
  v4l2_format as FMT,
  v4l2_input,
  V4L2_MEMORY_MMAP,
  v4l2_output,
  v4l2_pix_format as PIX,
  v4l2_query_ext_ctrl as QEC,
  v4l2_querymenu as QM,
  v4l2_requestbuffers as RB,
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
} from "../../../uapi/videodev2.ts";
import {
  type vb2_buffer,
  vb2_core_dqbuf,
  vb2_core_expbuf,
  vb2_core_poll,
  vb2_core_qbuf,
  vb2_core_reqbufs,
  vb2_core_streamoff,
  vb2_core_streamon,
  type vb2_queue,
  vb2_queue_release,
} from "./videobuf2_core.ts";
import type { dma_buf } from "../../dma_buf.ts";

/** `struct v4l2_pix_format`, as the driver keeps it. */
export interface v4l2_pix_format {
  width: number;
  height: number;
  pixelformat: number;
  field: number;
  bytesperline: number;
  sizeimage: number;
  colorspace: number;
  ycbcr_enc: number;
  quantization: number;
  xfer_func: number;
}

/** One control (`struct v4l2_ctrl`). */
export interface v4l2_ctrl {
  readonly id: number;
  readonly name: string;
  readonly type: number;
  readonly minimum: number;
  readonly maximum: number;
  readonly step: number;
  readonly default_value: number;
  readonly flags: number;
  /** Menu item names by value; `null` for a skipped item. */
  readonly qmenu?: readonly (string | null)[];
  /** The current value. */
  val: number;
  /** The driver's `s_ctrl` for this control; throws to refuse. */
  s_ctrl?(val: number): void;
}

/** `struct v4l2_ctrl_handler`: the node's controls in id order. */
export class v4l2_ctrl_handler {
  readonly ctrls: v4l2_ctrl[] = [];

  /** `v4l2_ctrl_new_*`: adds a control (kept sorted by id). */
  add(c: Omit<v4l2_ctrl, "val"> & { val?: number }): v4l2_ctrl {
    const ctrl = { ...c, val: c.val ?? c.default_value } as v4l2_ctrl;
    this.ctrls.push(ctrl);
    this.ctrls.sort((a, b) => a.id - b.id);
    return ctrl;
  }

  /** `v4l2_ctrl_find(hdl, id)`. */
  find(id: number): v4l2_ctrl | undefined {
    return this.ctrls.find((c) => c.id === id);
  }
}

/** An input or output as ENUMINPUT/ENUMOUTPUT report it. */
export interface v4l2_port {
  readonly name: string;
  readonly type: number;
  readonly capabilities: number;
}

/** `struct v4l2_ioctl_ops`: the driver's format, input and output ops. */
export interface v4l2_ioctl_ops {
  /** The formats ENUM_FMT lists (fourcc, description). */
  readonly formats: readonly { fourcc: number; description: string }[];
  /** `vidioc_g_fmt_vid_*`. */
  g_fmt(): v4l2_pix_format;
  /** `vidioc_try_fmt_vid_*`: adjusts `fmt` in place. */
  try_fmt(fmt: v4l2_pix_format): void;
  /** `vidioc_s_fmt_vid_*`: EBUSY while the queue has buffers. */
  s_fmt(fmt: v4l2_pix_format): void;
  /** Inputs (capture) or outputs (output). */
  readonly ports: readonly v4l2_port[];
  /** `vidioc_g_input` / `vidioc_g_output`. */
  g_port(): number;
  /** `vidioc_s_input` / `vidioc_s_output`. */
  s_port(index: number): void;
}

/** `struct video_device`. */
export interface video_device {
  /** `name` (sysfs), e.g. `"vivid-000-vid-cap"`. */
  readonly name: string;
  /** QUERYCAP `driver`. */
  readonly driver: string;
  /** QUERYCAP `card`. */
  readonly card: string;
  /** QUERYCAP `bus_info`. */
  readonly bus_info: string;
  /** `device_caps`. */
  readonly device_caps: number;
  /** `capabilities`: the caps of every node of the physical device, plus DEVICE_CAPS. */
  readonly capabilities: number;
  /** The buffer queue. */
  readonly queue: vb2_queue;
  /** Format, input/output ops. */
  readonly ioctl_ops: v4l2_ioctl_ops;
  /** Controls. */
  readonly ctrl_handler: v4l2_ctrl_handler;
  /** The struct device (what dma-bufs are attached to). */
  readonly dev: device;
  /** MMAP memory for the queue (vb2-vmalloc's `alloc`, exported by EXPBUF). */
  alloc_mmap(size: number): dma_buf;
  /** `/dev/video<num>` once registered. */
  num?: number;
}

const KERNEL_VERSION_6_12 = (6 << 16) | (12 << 8);

function cstr(view: Uint8Array, off: number, max: number, s: string): void {
  const b = new TextEncoder().encode(s).subarray(0, max - 1);
  view.set(b, off);
}

function read_pix(v: DataView): v4l2_pix_format {
  const f = FMT.fmt;
  return {
    width: v.getUint32(f + PIX.width, true),
    height: v.getUint32(f + PIX.height, true),
    pixelformat: v.getUint32(f + PIX.pixelformat, true),
    field: v.getUint32(f + PIX.field, true),
    bytesperline: v.getUint32(f + PIX.bytesperline, true),
    sizeimage: v.getUint32(f + PIX.sizeimage, true),
    colorspace: v.getUint32(f + PIX.colorspace, true),
    ycbcr_enc: v.getUint32(f + PIX.ycbcr_enc, true),
    quantization: v.getUint32(f + PIX.quantization, true),
    xfer_func: v.getUint32(f + PIX.xfer_func, true),
  };
}

function write_pix(v: DataView, p: v4l2_pix_format): void {
  const f = FMT.fmt;
  v.setUint32(f + PIX.width, p.width, true);
  v.setUint32(f + PIX.height, p.height, true);
  v.setUint32(f + PIX.pixelformat, p.pixelformat, true);
  v.setUint32(f + PIX.field, p.field, true);
  v.setUint32(f + PIX.bytesperline, p.bytesperline, true);
  v.setUint32(f + PIX.sizeimage, p.sizeimage, true);
  v.setUint32(f + PIX.colorspace, p.colorspace, true);
  v.setUint32(f + PIX.priv, 0, true);
  v.setUint32(f + PIX.flags, 0, true);
  v.setUint32(f + PIX.ycbcr_enc, p.ycbcr_enc, true);
  v.setUint32(f + PIX.quantization, p.quantization, true);
  v.setUint32(f + PIX.xfer_func, p.xfer_func, true);
}

/** `__fill_v4l2_buffer()`: what QBUF, DQBUF and QUERYBUF write back. */
function fill_v4l2_buffer(v: DataView, vb: vb2_buffer): void {
  const q = vb.vb2_queue;
  const p = vb.planes[0];
  v.setUint32(B.index, vb.index, true);
  v.setUint32(B.type, q.type, true);
  v.setUint32(B.bytesused, p.bytesused, true);
  let flags = vb.flags & ~(V4L2_BUF_FLAG_QUEUED | V4L2_BUF_FLAG_DONE | V4L2_BUF_FLAG_ERROR);
  switch (vb.state) {
    case "QUEUED":
    case "ACTIVE":
      flags |= V4L2_BUF_FLAG_QUEUED;
      break;
    case "ERROR":
      flags |= V4L2_BUF_FLAG_ERROR | V4L2_BUF_FLAG_DONE;
      break;
    case "DONE":
      flags |= V4L2_BUF_FLAG_DONE;
      break;
  }
  if (q.memory === V4L2_MEMORY_MMAP && p.dbuf && p.dbuf.file.f_count > 1) {
    flags |= V4L2_BUF_FLAG_MAPPED;
  }
  flags |= V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
  v.setUint32(B.flags, flags, true);
  v.setUint32(B.field, vb.field, true);
  const us = Math.floor(vb.timestamp / 1000);
  v.setBigInt64(B.timestamp, BigInt(Math.floor(us / 1e6)), true);
  v.setBigInt64(B.timestamp + 8, BigInt(us % 1e6), true);
  v.setUint32(B.sequence, vb.sequence, true);
  v.setUint32(B.memory, q.memory, true);
  if (q.memory === V4L2_MEMORY_MMAP) {
    v.setUint32(B.m, vb.index * 0x100000, true); // mem_offset cookie (vb2: index << PAGE_SHIFT-ish)
  } else {
    v.setInt32(B.m, p.fd, true);
  }
  v.setUint32(B.length, p.length, true);
}

/** The ioctl dispatcher (`video_ioctl2` → `__video_do_ioctl`). */
function video_ioctl2(
  vdev: video_device,
  f: file,
  cmd: number,
  arg: number,
  current: Task,
): number {
  const q = vdev.queue, ops = vdev.ioctl_ops;
  const size = (cmd >>> 16) & 0x3fff;
  const known = [
    VIDIOC_QUERYCAP,
    VIDIOC_ENUM_FMT,
    VIDIOC_G_FMT,
    VIDIOC_S_FMT,
    VIDIOC_TRY_FMT,
    VIDIOC_REQBUFS,
    VIDIOC_QUERYBUF,
    VIDIOC_QBUF,
    VIDIOC_DQBUF,
    VIDIOC_EXPBUF,
    VIDIOC_STREAMON,
    VIDIOC_STREAMOFF,
    VIDIOC_G_CTRL,
    VIDIOC_S_CTRL,
    VIDIOC_QUERY_EXT_CTRL,
    VIDIOC_QUERYMENU,
    VIDIOC_G_EXT_CTRLS,
    VIDIOC_S_EXT_CTRLS,
    VIDIOC_ENUMINPUT,
    VIDIOC_G_INPUT,
    VIDIOC_S_INPUT,
    VIDIOC_ENUMOUTPUT,
    VIDIOC_G_OUTPUT,
    VIDIOC_S_OUTPUT,
  ];
  if (!known.includes(cmd)) fail(Errno.ENOTTY);
  // video_usercopy(): _IOC_WRITE copies in, _IOC_READ-only starts zeroed.
  const raw = (cmd >>> 30) & 1 ? copy_from_user(current, arg, size) : new Uint8Array(size);
  const v = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const type = v.getUint32(0, true);
  const checkType = (t: number) => {
    if (t !== q.type) fail(Errno.EINVAL);
  };
  const isCapture = !q.is_output;
  switch (cmd) {
    case VIDIOC_QUERYCAP:
      raw.fill(0);
      cstr(raw, CAP.driver, 16, vdev.driver);
      cstr(raw, CAP.card, 32, vdev.card);
      cstr(raw, CAP.bus_info, 32, vdev.bus_info);
      v.setUint32(CAP.version, KERNEL_VERSION_6_12, true);
      v.setUint32(CAP.capabilities, (vdev.capabilities | V4L2_CAP_DEVICE_CAPS) >>> 0, true);
      v.setUint32(CAP.device_caps, vdev.device_caps, true);
      break;
    case VIDIOC_ENUM_FMT: {
      const index = v.getUint32(FD.index, true);
      checkType(v.getUint32(FD.type, true));
      const fmt = ops.formats[index];
      if (!fmt) fail(Errno.EINVAL);
      raw.fill(0, FD.flags);
      cstr(raw, FD.description, 32, fmt.description);
      v.setUint32(FD.pixelformat, fmt.fourcc, true);
      break;
    }
    case VIDIOC_G_FMT:
      checkType(type);
      raw.fill(0, FMT.fmt);
      write_pix(v, ops.g_fmt());
      break;
    case VIDIOC_TRY_FMT:
    case VIDIOC_S_FMT: {
      checkType(type);
      const pix = read_pix(v);
      if (cmd === VIDIOC_S_FMT) ops.s_fmt(pix);
      else ops.try_fmt(pix);
      raw.fill(0, FMT.fmt);
      write_pix(v, pix);
      break;
    }
    case VIDIOC_REQBUFS: {
      checkType(v.getUint32(RB.type, true));
      const memory = v.getUint32(RB.memory, true);
      // vb2_ioctl_reqbufs(): the capabilities come back even on failure.
      v.setUint32(RB.capabilities, 0x1 | 0x2 | 0x4 | 0x10 | 0x40, true);
      copy_to_user(current, arg, raw);
      if (q.owner && q.owner !== f) fail(Errno.EBUSY);
      const n = vb2_core_reqbufs(q, memory, v.getUint32(RB.count, true), (s) => vdev.alloc_mmap(s));
      q.owner = n ? f : null;
      v.setUint32(RB.count, n, true);
      break;
    }
    case VIDIOC_QUERYBUF: {
      checkType(v.getUint32(B.type, true));
      const index = v.getUint32(B.index, true);
      if (index >= q.num_buffers) fail(Errno.EINVAL);
      fill_v4l2_buffer(v, q.bufs[index]);
      break;
    }
    case VIDIOC_QBUF: {
      checkType(v.getUint32(B.type, true));
      if (q.owner && q.owner !== f) fail(Errno.EBUSY);
      const vb = vb2_core_qbuf(
        current,
        q,
        v.getUint32(B.index, true),
        v.getUint32(B.memory, true),
        [{
          fd: v.getInt32(B.m, true),
          length: v.getUint32(B.length, true),
          bytesused: v.getUint32(B.bytesused, true),
          data_offset: 0,
        }],
        v.getUint32(B.field, true),
      );
      fill_v4l2_buffer(v, vb);
      break;
    }
    case VIDIOC_DQBUF: {
      checkType(v.getUint32(B.type, true));
      if (q.owner && q.owner !== f) fail(Errno.EBUSY);
      const memory = v.getUint32(B.memory, true);
      // 6.12 reports a dequeued buffer without QUEUED/DONE: flags 0x2000 (TIMESTAMP_MONOTONIC)
      // in the guest, so the fill sees the DEQUEUED state.
      fill_v4l2_buffer(v, vb2_core_dqbuf(q, memory));
      break;
    }
    case VIDIOC_EXPBUF: {
      checkType(v.getUint32(EXP.type, true));
      const flags = v.getUint32(EXP.flags, true);
      if (flags & ~(0o2000000 | 3)) fail(Errno.EINVAL);
      const fd = vb2_core_expbuf(
        current,
        q,
        v.getUint32(EXP.type, true),
        v.getUint32(EXP.index, true),
        v.getUint32(EXP.plane, true),
        flags,
      );
      v.setInt32(EXP.fd, fd, true);
      break;
    }
    case VIDIOC_STREAMON:
    case VIDIOC_STREAMOFF:
      if (q.owner && q.owner !== f) fail(Errno.EBUSY);
      if (cmd === VIDIOC_STREAMON) vb2_core_streamon(q, type);
      else vb2_core_streamoff(q, type);
      return 0;
    case VIDIOC_QUERY_EXT_CTRL: {
      const want = v.getUint32(QEC.id, true);
      const id = want & ~(V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND);
      const c = want & V4L2_CTRL_FLAG_NEXT_CTRL
        ? vdev.ctrl_handler.ctrls.find((x) => x.id > id)
        : vdev.ctrl_handler.find(id);
      if (!c) fail(Errno.EINVAL);
      raw.fill(0);
      v.setUint32(QEC.id, c.id, true);
      v.setUint32(QEC.type, c.type, true);
      cstr(raw, QEC.name, 32, c.name);
      v.setBigInt64(QEC.minimum, BigInt(c.minimum), true);
      v.setBigInt64(QEC.maximum, BigInt(c.maximum), true);
      v.setBigUint64(QEC.step, BigInt(c.step), true);
      v.setBigInt64(QEC.default_value, BigInt(c.default_value), true);
      v.setUint32(QEC.flags, c.flags, true);
      v.setUint32(QEC.elem_size, c.type === 5 ? 8 : 4, true);
      v.setUint32(QEC.elems, 1, true);
      break;
    }
    case VIDIOC_QUERYMENU: {
      const c = vdev.ctrl_handler.find(v.getUint32(QM.id, true));
      const index = v.getUint32(QM.index, true);
      if (!c || c.type !== V4L2_CTRL_TYPE_MENU) fail(Errno.EINVAL);
      const name = c.qmenu?.[index];
      if (index < c.minimum || index > c.maximum || !name) fail(Errno.EINVAL);
      raw.fill(0, QM.name);
      cstr(raw, QM.name, 32, name);
      break;
    }
    case VIDIOC_G_CTRL:
    case VIDIOC_S_CTRL: {
      const c = vdev.ctrl_handler.find(v.getUint32(v4l2_control.id, true));
      if (!c) fail(Errno.EINVAL);
      if (cmd === VIDIOC_S_CTRL) set_ctrl(c, v.getInt32(v4l2_control.value, true));
      v.setInt32(v4l2_control.value, c.val, true);
      break;
    }
    case VIDIOC_G_EXT_CTRLS:
    case VIDIOC_S_EXT_CTRLS: {
      const count = v.getUint32(v4l2_ext_controls.count, true);
      const ptr = Number(v.getBigUint64(v4l2_ext_controls.controls, true));
      if (count === 0) break;
      const arr = copy_from_user(current, ptr, count * v4l2_ext_control.size);
      const av = new DataView(arr.buffer, arr.byteOffset, arr.byteLength);
      for (let i = 0; i < count; i++) {
        const o = i * v4l2_ext_control.size;
        const c = vdev.ctrl_handler.find(av.getUint32(o + v4l2_ext_control.id, true));
        if (!c) {
          v.setUint32(v4l2_ext_controls.error_idx, count, true);
          copy_to_user(current, arg, raw);
          fail(Errno.EINVAL);
        }
        if (cmd === VIDIOC_S_EXT_CTRLS) {
          const val = c.type === 5
            ? Number(av.getBigInt64(o + v4l2_ext_control.value, true))
            : av.getInt32(o + v4l2_ext_control.value, true);
          set_ctrl(c, val);
        }
        if (c.type === 5) av.setBigInt64(o + v4l2_ext_control.value, BigInt(c.val), true);
        else av.setInt32(o + v4l2_ext_control.value, c.val, true);
      }
      copy_to_user(current, ptr, arr);
      break;
    }
    case VIDIOC_ENUMINPUT:
    case VIDIOC_ENUMOUTPUT: {
      if ((cmd === VIDIOC_ENUMINPUT) !== isCapture) fail(Errno.ENOTTY);
      const layout = cmd === VIDIOC_ENUMINPUT ? v4l2_input : v4l2_output;
      const index = v.getUint32(layout.index, true);
      const p = ops.ports[index];
      if (!p) fail(Errno.EINVAL);
      raw.fill(0, 4);
      cstr(raw, layout.name, 32, p.name);
      v.setUint32(layout.type, p.type, true);
      v.setUint32(layout.capabilities, p.capabilities, true);
      break;
    }
    case VIDIOC_G_INPUT:
    case VIDIOC_G_OUTPUT:
      if ((cmd === VIDIOC_G_INPUT) !== isCapture) fail(Errno.ENOTTY);
      v.setInt32(0, ops.g_port(), true);
      break;
    case VIDIOC_S_INPUT:
    case VIDIOC_S_OUTPUT:
      if ((cmd === VIDIOC_S_INPUT) !== isCapture) fail(Errno.ENOTTY);
      ops.s_port(v.getUint32(0, true));
      break;
  }
  if ((cmd >>> 31) & 1) copy_to_user(current, arg, raw);
  return 0;
}

function set_ctrl(c: v4l2_ctrl, val: number): void {
  if (c.flags & 0x0004) fail(Errno.EACCES); // read-only
  if (val < c.minimum || val > c.maximum) fail(Errno.ERANGE);
  if (c.type === V4L2_CTRL_TYPE_MENU && !c.qmenu?.[val]) fail(Errno.EINVAL);
  if (val === c.val) return;
  c.s_ctrl?.(val);
  c.val = val;
}

/**
 * `video_register_device(vdev, VFL_TYPE_VIDEO, nr)`: the first free `/dev/videoN` from `nr`.
 *
 * @returns The node number.
 */
export function video_register_device(m: MachineContext, vdev: video_device, nr = 0): number {
  const fops: file_operations = {
    open(_inode: inode, f: file) {
      f.private_data = vdev;
    },
    unlocked_ioctl(f: file, cmd: number, arg: number, current: Task): number {
      try {
        return video_ioctl2(vdev, f, cmd, arg, current);
      } catch (e) {
        if (e instanceof KernelError) throw e;
        throw e;
      }
    },
    poll(f: file, _events: number, pt?: poll_table): number {
      return vb2_core_poll(vdev.queue, f, pt);
    },
    release(_inode: inode, f: file): void {
      // vb2_fop_release(): the owner's close frees the queue.
      if (vdev.queue.owner === f) vb2_queue_release(vdev.queue);
    },
  };
  for (let n = nr;; n++) {
    try {
      m.dev.add(`video${n}`, fops, vdev);
      vdev.num = n;
      return n;
    } catch (e) {
      if (e instanceof KernelError && e.errno === Errno.EEXIST) continue;
      throw e;
    }
  }
}
