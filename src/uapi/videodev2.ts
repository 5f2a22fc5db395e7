/**
 * The part of `include/uapi/linux/videodev2.h` (and `v4l2-controls.h`) the `./v4l2` sub-export
 * speaks: the ioctls of a video queue with DMABUF and MMAP memory, formats, controls, inputs
 * and outputs. Layouts are the x86_64/arm64 (LP64) ones; `tests/uapi_videodev2_test.ts` pins
 * every number against the system's header compiled with gcc.
 *
 * @module
 */
import { _IOR, _IOW, _IOWR } from "./ioctl.ts";

/** `v4l2_fourcc(a, b, c, d)`: four ASCII characters, little-endian, as one u32. */
export function v4l2_fourcc(code: string): number {
  if (code.length !== 4) throw new RangeError(`A fourcc has 4 characters, got "${code}"`);
  return (code.charCodeAt(0) | code.charCodeAt(1) << 8 | code.charCodeAt(2) << 16 |
    code.charCodeAt(3) << 24) >>> 0;
}

/** The four characters of a fourcc (`0x56595559` → `"YUYV"`). */
export function fourccString(fourcc: number): string {
  let s = "";
  for (let i = 0; i < 4; i++) s += String.fromCharCode((fourcc >>> (8 * i)) & 0xff);
  return s;
}

// --- enum v4l2_buf_type ----------------------------------------------------------------------
/** `V4L2_BUF_TYPE_VIDEO_CAPTURE`. */
export const V4L2_BUF_TYPE_VIDEO_CAPTURE = 1;
/** `V4L2_BUF_TYPE_VIDEO_OUTPUT`. */
export const V4L2_BUF_TYPE_VIDEO_OUTPUT = 2;
/** `V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE`. */
export const V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE = 9;
/** `V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE`. */
export const V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE = 10;

/** `V4L2_TYPE_IS_MULTIPLANAR(type)`. */
export function V4L2_TYPE_IS_MULTIPLANAR(type: number): boolean {
  return type === V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE || type === V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
}

/** `V4L2_TYPE_IS_OUTPUT(type)` for the video types above. */
export function V4L2_TYPE_IS_OUTPUT(type: number): boolean {
  return type === V4L2_BUF_TYPE_VIDEO_OUTPUT || type === V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE;
}

// --- enum v4l2_memory ------------------------------------------------------------------------
/** `V4L2_MEMORY_MMAP`: the driver allocates, user space maps (or exports with EXPBUF). */
export const V4L2_MEMORY_MMAP = 1;
/** `V4L2_MEMORY_USERPTR`. */
export const V4L2_MEMORY_USERPTR = 2;
/** `V4L2_MEMORY_DMABUF`: user space queues dma-buf fds, the driver imports them. */
export const V4L2_MEMORY_DMABUF = 4;

// --- enum v4l2_field -------------------------------------------------------------------------
/** `V4L2_FIELD_ANY`: the driver chooses. */
export const V4L2_FIELD_ANY = 0;
/** `V4L2_FIELD_NONE`: progressive. */
export const V4L2_FIELD_NONE = 1;

// --- capabilities ----------------------------------------------------------------------------
/** `V4L2_CAP_VIDEO_CAPTURE`. */
export const V4L2_CAP_VIDEO_CAPTURE = 0x00000001;
/** `V4L2_CAP_VIDEO_OUTPUT`. */
export const V4L2_CAP_VIDEO_OUTPUT = 0x00000002;
/** `V4L2_CAP_VIDEO_CAPTURE_MPLANE`. */
export const V4L2_CAP_VIDEO_CAPTURE_MPLANE = 0x00001000;
/** `V4L2_CAP_VIDEO_OUTPUT_MPLANE`. */
export const V4L2_CAP_VIDEO_OUTPUT_MPLANE = 0x00002000;
/** `V4L2_CAP_VIDEO_M2M_MPLANE`. */
export const V4L2_CAP_VIDEO_M2M_MPLANE = 0x00004000;
/** `V4L2_CAP_VIDEO_M2M`. */
export const V4L2_CAP_VIDEO_M2M = 0x00008000;
/** `V4L2_CAP_READWRITE`. */
export const V4L2_CAP_READWRITE = 0x01000000;
/** `V4L2_CAP_STREAMING`. */
export const V4L2_CAP_STREAMING = 0x04000000;
/** `V4L2_CAP_DEVICE_CAPS`: `device_caps` is valid. */
export const V4L2_CAP_DEVICE_CAPS = 0x80000000;

// --- buffer flags ----------------------------------------------------------------------------
/** `V4L2_BUF_FLAG_MAPPED`. */
export const V4L2_BUF_FLAG_MAPPED = 0x00000001;
/** `V4L2_BUF_FLAG_QUEUED`. */
export const V4L2_BUF_FLAG_QUEUED = 0x00000002;
/** `V4L2_BUF_FLAG_DONE`. */
export const V4L2_BUF_FLAG_DONE = 0x00000004;
/** `V4L2_BUF_FLAG_KEYFRAME`. */
export const V4L2_BUF_FLAG_KEYFRAME = 0x00000008;
/** `V4L2_BUF_FLAG_ERROR`: the frame is corrupt or incomplete. */
export const V4L2_BUF_FLAG_ERROR = 0x00000040;
/** `V4L2_BUF_FLAG_TIMESTAMP_MASK`. */
export const V4L2_BUF_FLAG_TIMESTAMP_MASK = 0x0000e000;
/** `V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC`. */
export const V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC = 0x00002000;
/** `V4L2_BUF_FLAG_TIMESTAMP_COPY`: output timestamps are copied to the capture side. */
export const V4L2_BUF_FLAG_TIMESTAMP_COPY = 0x00004000;
/** `V4L2_BUF_FLAG_TSTAMP_SRC_MASK`. */
export const V4L2_BUF_FLAG_TSTAMP_SRC_MASK = 0x00070000;
/** `V4L2_BUF_FLAG_LAST`. */
export const V4L2_BUF_FLAG_LAST = 0x00100000;

// --- REQBUFS capabilities (6.12) -------------------------------------------------------------
/** `V4L2_BUF_CAP_SUPPORTS_MMAP`. */
export const V4L2_BUF_CAP_SUPPORTS_MMAP = 1 << 0;
/** `V4L2_BUF_CAP_SUPPORTS_USERPTR`. */
export const V4L2_BUF_CAP_SUPPORTS_USERPTR = 1 << 1;
/** `V4L2_BUF_CAP_SUPPORTS_DMABUF`. */
export const V4L2_BUF_CAP_SUPPORTS_DMABUF = 1 << 2;

// --- controls --------------------------------------------------------------------------------
/** `V4L2_CTRL_FLAG_NEXT_CTRL`: QUERY(_EXT)CTRL returns the next control after `id`. */
export const V4L2_CTRL_FLAG_NEXT_CTRL = 0x80000000;
/** `V4L2_CTRL_FLAG_NEXT_COMPOUND`: include compound controls in the enumeration. */
export const V4L2_CTRL_FLAG_NEXT_COMPOUND = 0x40000000;
/** `V4L2_CTRL_FLAG_DISABLED`. */
export const V4L2_CTRL_FLAG_DISABLED = 0x0001;
/** `V4L2_CTRL_FLAG_READ_ONLY`. */
export const V4L2_CTRL_FLAG_READ_ONLY = 0x0004;
/** `V4L2_CTRL_FLAG_WRITE_ONLY`. */
export const V4L2_CTRL_FLAG_WRITE_ONLY = 0x0040;
/** `V4L2_CTRL_CLASS_USER`. */
export const V4L2_CTRL_CLASS_USER = 0x00980000;
/** `V4L2_CTRL_WHICH_CUR_VAL`. */
export const V4L2_CTRL_WHICH_CUR_VAL = 0;
/** `V4L2_CTRL_ID2WHICH(id)`: the class of a control id (`id & 0x0fff0000`). */
export function V4L2_CTRL_ID2WHICH(id: number): number {
  return id & 0x0fff0000;
}
/** `enum v4l2_ctrl_type`: `V4L2_CTRL_TYPE_INTEGER`. */
export const V4L2_CTRL_TYPE_INTEGER = 1;
/** `V4L2_CTRL_TYPE_BOOLEAN`. */
export const V4L2_CTRL_TYPE_BOOLEAN = 2;
/** `V4L2_CTRL_TYPE_MENU`. */
export const V4L2_CTRL_TYPE_MENU = 3;
/** `V4L2_CTRL_TYPE_BUTTON`. */
export const V4L2_CTRL_TYPE_BUTTON = 4;
/** `V4L2_CTRL_TYPE_INTEGER64`. */
export const V4L2_CTRL_TYPE_INTEGER64 = 5;
/** `V4L2_CTRL_TYPE_CTRL_CLASS`. */
export const V4L2_CTRL_TYPE_CTRL_CLASS = 6;
/** `V4L2_CTRL_TYPE_STRING`. */
export const V4L2_CTRL_TYPE_STRING = 7;
/** `V4L2_CTRL_TYPE_BITMASK`. */
export const V4L2_CTRL_TYPE_BITMASK = 8;
/** `V4L2_CTRL_TYPE_INTEGER_MENU`. */
export const V4L2_CTRL_TYPE_INTEGER_MENU = 9;

// --- struct layouts (byte offsets; `size` is sizeof) -----------------------------------------
/** `struct v4l2_capability` (104 bytes). */
export const v4l2_capability = {
  size: 104,
  driver: 0,
  card: 16,
  bus_info: 48,
  version: 80,
  capabilities: 84,
  device_caps: 88,
} as const;
/** `struct v4l2_fmtdesc` (64 bytes). */
export const v4l2_fmtdesc = {
  size: 64,
  index: 0,
  type: 4,
  flags: 8,
  description: 12,
  pixelformat: 44,
  mbus_code: 48,
} as const;
/** `struct v4l2_format` (208 bytes): `type`, then the `fmt` union at 8. */
export const v4l2_format = { size: 208, type: 0, fmt: 8 } as const;
/** `struct v4l2_pix_format` (48 bytes), inside `v4l2_format.fmt`. */
export const v4l2_pix_format = {
  size: 48,
  width: 0,
  height: 4,
  pixelformat: 8,
  field: 12,
  bytesperline: 16,
  sizeimage: 20,
  colorspace: 24,
  priv: 28,
  flags: 32,
  ycbcr_enc: 36,
  quantization: 40,
  xfer_func: 44,
} as const;
/** `struct v4l2_pix_format_mplane` (192 bytes, packed), inside `v4l2_format.fmt`. */
export const v4l2_pix_format_mplane = {
  size: 192,
  width: 0,
  height: 4,
  pixelformat: 8,
  field: 12,
  colorspace: 16,
  plane_fmt: 20,
  num_planes: 180,
  flags: 181,
} as const;
/** `struct v4l2_plane_pix_format` (20 bytes, packed); 8 of them in `plane_fmt`. */
export const v4l2_plane_pix_format = { size: 20, sizeimage: 0, bytesperline: 4 } as const;
/** `VIDEO_MAX_PLANES`. */
export const VIDEO_MAX_PLANES = 8;
/** `struct v4l2_requestbuffers` (20 bytes). */
export const v4l2_requestbuffers = {
  size: 20,
  count: 0,
  type: 4,
  memory: 8,
  capabilities: 12,
  flags: 16,
} as const;
/** `struct v4l2_buffer` (88 bytes on LP64). `m` is the union of offset/userptr/planes/fd. */
export const v4l2_buffer = {
  size: 88,
  index: 0,
  type: 4,
  bytesused: 8,
  flags: 12,
  field: 16,
  timestamp: 24,
  timecode: 40,
  sequence: 56,
  memory: 60,
  m: 64,
  length: 72,
  reserved2: 76,
  request_fd: 80,
} as const;
/** `struct v4l2_plane` (64 bytes). `m` is the union of mem_offset/userptr/fd. */
export const v4l2_plane = {
  size: 64,
  bytesused: 0,
  length: 4,
  m: 8,
  data_offset: 16,
  reserved: 20,
} as const;
/** `struct v4l2_exportbuffer` (64 bytes). */
export const v4l2_exportbuffer = {
  size: 64,
  type: 0,
  index: 4,
  plane: 8,
  flags: 12,
  fd: 16,
} as const;
/** `struct v4l2_query_ext_ctrl` (232 bytes). */
export const v4l2_query_ext_ctrl = {
  size: 232,
  id: 0,
  type: 4,
  name: 8,
  minimum: 40,
  maximum: 48,
  step: 56,
  default_value: 64,
  flags: 72,
  elem_size: 76,
  elems: 80,
  nr_of_dims: 84,
  dims: 88,
} as const;
/** `struct v4l2_querymenu` (44 bytes, packed): `name` and `value` share offset 8. */
export const v4l2_querymenu = { size: 44, id: 0, index: 4, name: 8, value: 8 } as const;
/** `struct v4l2_control` (8 bytes). */
export const v4l2_control = { size: 8, id: 0, value: 4 } as const;
/** `struct v4l2_ext_control` (20 bytes, packed): `value`/`value64`/pointer union at 12. */
export const v4l2_ext_control = { size: 20, id: 0, size_: 4, value: 12 } as const;
/** `struct v4l2_ext_controls` (32 bytes). */
export const v4l2_ext_controls = {
  size: 32,
  which: 0,
  count: 4,
  error_idx: 8,
  request_fd: 12,
  controls: 24,
} as const;
/** `struct v4l2_input` (80 bytes). */
export const v4l2_input = { size: 80, index: 0, name: 4, type: 36, capabilities: 60 } as const;
/** `struct v4l2_output` (72 bytes). */
export const v4l2_output = { size: 72, index: 0, name: 4, type: 36, capabilities: 56 } as const;

// --- ioctls ----------------------------------------------------------------------------------
/** `VIDIOC_QUERYCAP = _IOR('V', 0, struct v4l2_capability)` = 0x80685600. */
export const VIDIOC_QUERYCAP: number = _IOR("V", 0, v4l2_capability.size);
/** `VIDIOC_ENUM_FMT = _IOWR('V', 2, struct v4l2_fmtdesc)` = 0xC0405602. */
export const VIDIOC_ENUM_FMT: number = _IOWR("V", 2, v4l2_fmtdesc.size);
/** `VIDIOC_G_FMT = _IOWR('V', 4, struct v4l2_format)` = 0xC0D05604. */
export const VIDIOC_G_FMT: number = _IOWR("V", 4, v4l2_format.size);
/** `VIDIOC_S_FMT = _IOWR('V', 5, struct v4l2_format)` = 0xC0D05605. */
export const VIDIOC_S_FMT: number = _IOWR("V", 5, v4l2_format.size);
/** `VIDIOC_REQBUFS = _IOWR('V', 8, struct v4l2_requestbuffers)` = 0xC0145608. */
export const VIDIOC_REQBUFS: number = _IOWR("V", 8, v4l2_requestbuffers.size);
/** `VIDIOC_QUERYBUF = _IOWR('V', 9, struct v4l2_buffer)` = 0xC0585609. */
export const VIDIOC_QUERYBUF: number = _IOWR("V", 9, v4l2_buffer.size);
/** `VIDIOC_QBUF = _IOWR('V', 15, struct v4l2_buffer)` = 0xC058560F. */
export const VIDIOC_QBUF: number = _IOWR("V", 15, v4l2_buffer.size);
/** `VIDIOC_EXPBUF = _IOWR('V', 16, struct v4l2_exportbuffer)` = 0xC0405610. */
export const VIDIOC_EXPBUF: number = _IOWR("V", 16, v4l2_exportbuffer.size);
/** `VIDIOC_DQBUF = _IOWR('V', 17, struct v4l2_buffer)` = 0xC0585611. */
export const VIDIOC_DQBUF: number = _IOWR("V", 17, v4l2_buffer.size);
/** `VIDIOC_STREAMON = _IOW('V', 18, int)` = 0x40045612. */
export const VIDIOC_STREAMON: number = _IOW("V", 18, 4);
/** `VIDIOC_STREAMOFF = _IOW('V', 19, int)` = 0x40045613. */
export const VIDIOC_STREAMOFF: number = _IOW("V", 19, 4);
/** `VIDIOC_ENUMINPUT = _IOWR('V', 26, struct v4l2_input)` = 0xC050561A. */
export const VIDIOC_ENUMINPUT: number = _IOWR("V", 26, v4l2_input.size);
/** `VIDIOC_G_CTRL = _IOWR('V', 27, struct v4l2_control)` = 0xC008561B. */
export const VIDIOC_G_CTRL: number = _IOWR("V", 27, v4l2_control.size);
/** `VIDIOC_S_CTRL = _IOWR('V', 28, struct v4l2_control)` = 0xC008561C. */
export const VIDIOC_S_CTRL: number = _IOWR("V", 28, v4l2_control.size);
/** `VIDIOC_QUERYMENU = _IOWR('V', 37, struct v4l2_querymenu)` = 0xC02C5625. */
export const VIDIOC_QUERYMENU: number = _IOWR("V", 37, v4l2_querymenu.size);
/** `VIDIOC_G_INPUT = _IOR('V', 38, int)` = 0x80045626. */
export const VIDIOC_G_INPUT: number = _IOR("V", 38, 4);
/** `VIDIOC_S_INPUT = _IOWR('V', 39, int)` = 0xC0045627. */
export const VIDIOC_S_INPUT: number = _IOWR("V", 39, 4);
/** `VIDIOC_G_OUTPUT = _IOR('V', 46, int)` = 0x8004562E. */
export const VIDIOC_G_OUTPUT: number = _IOR("V", 46, 4);
/** `VIDIOC_S_OUTPUT = _IOWR('V', 47, int)` = 0xC004562F. */
export const VIDIOC_S_OUTPUT: number = _IOWR("V", 47, 4);
/** `VIDIOC_ENUMOUTPUT = _IOWR('V', 48, struct v4l2_output)` = 0xC0485630. */
export const VIDIOC_ENUMOUTPUT: number = _IOWR("V", 48, v4l2_output.size);
/** `VIDIOC_TRY_FMT = _IOWR('V', 64, struct v4l2_format)` = 0xC0D05640. */
export const VIDIOC_TRY_FMT: number = _IOWR("V", 64, v4l2_format.size);
/** `VIDIOC_G_EXT_CTRLS = _IOWR('V', 71, struct v4l2_ext_controls)` = 0xC0205647. */
export const VIDIOC_G_EXT_CTRLS: number = _IOWR("V", 71, v4l2_ext_controls.size);
/** `VIDIOC_S_EXT_CTRLS = _IOWR('V', 72, struct v4l2_ext_controls)` = 0xC0205648. */
export const VIDIOC_S_EXT_CTRLS: number = _IOWR("V", 72, v4l2_ext_controls.size);
/** `VIDIOC_QUERY_EXT_CTRL = _IOWR('V', 103, struct v4l2_query_ext_ctrl)` = 0xC0E85667. */
export const VIDIOC_QUERY_EXT_CTRL: number = _IOWR("V", 103, v4l2_query_ext_ctrl.size);

/** Names of the requests above, for error messages (`ioctl(VIDIOC_QBUF)`). */
export const VIDIOC_NAMES: Readonly<Record<number, string>> = {
  [VIDIOC_QUERYCAP]: "VIDIOC_QUERYCAP",
  [VIDIOC_ENUM_FMT]: "VIDIOC_ENUM_FMT",
  [VIDIOC_G_FMT]: "VIDIOC_G_FMT",
  [VIDIOC_S_FMT]: "VIDIOC_S_FMT",
  [VIDIOC_TRY_FMT]: "VIDIOC_TRY_FMT",
  [VIDIOC_REQBUFS]: "VIDIOC_REQBUFS",
  [VIDIOC_QUERYBUF]: "VIDIOC_QUERYBUF",
  [VIDIOC_QBUF]: "VIDIOC_QBUF",
  [VIDIOC_EXPBUF]: "VIDIOC_EXPBUF",
  [VIDIOC_DQBUF]: "VIDIOC_DQBUF",
  [VIDIOC_STREAMON]: "VIDIOC_STREAMON",
  [VIDIOC_STREAMOFF]: "VIDIOC_STREAMOFF",
  [VIDIOC_ENUMINPUT]: "VIDIOC_ENUMINPUT",
  [VIDIOC_G_CTRL]: "VIDIOC_G_CTRL",
  [VIDIOC_S_CTRL]: "VIDIOC_S_CTRL",
  [VIDIOC_QUERYMENU]: "VIDIOC_QUERYMENU",
  [VIDIOC_G_INPUT]: "VIDIOC_G_INPUT",
  [VIDIOC_S_INPUT]: "VIDIOC_S_INPUT",
  [VIDIOC_G_OUTPUT]: "VIDIOC_G_OUTPUT",
  [VIDIOC_S_OUTPUT]: "VIDIOC_S_OUTPUT",
  [VIDIOC_ENUMOUTPUT]: "VIDIOC_ENUMOUTPUT",
  [VIDIOC_G_EXT_CTRLS]: "VIDIOC_G_EXT_CTRLS",
  [VIDIOC_S_EXT_CTRLS]: "VIDIOC_S_EXT_CTRLS",
  [VIDIOC_QUERY_EXT_CTRL]: "VIDIOC_QUERY_EXT_CTRL",
};
