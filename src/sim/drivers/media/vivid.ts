/**
 * `drivers/media/test-drivers/vivid`: the Virtual Video Test Driver, instance 0, as far as its
 * video capture and video output nodes go — `vivid-core.c` (the nodes, inputs, outputs),
 * `vivid-vid-cap.c`/`vivid-vid-out.c` (formats, vb2 ops), `vivid-kthread-cap.c`/`-out.c` (one
 * frame per period), `vivid-ctrls.c` (the controls a script uses: "Test Pattern", "OSD Text
 * Mode", "HDMI 000-0 Is Connected To") and the loopback: when the capture input is HDMI and the
 * HDMI input "is connected to" the HDMI output, and that output streams with the same format,
 * each captured frame is the output's current buffer (a kernel copy between the two buffers'
 * vmaps, as `vivid_copy_buffer()`; user space copies nothing).
 *
 * Buffers come in through vb2 (`videobuf2_core.ts`): a DMABUF plane is imported with
 * `dma_buf_attach` + `dma_buf_vmap`, exactly the calls vb2-vmalloc makes.
 *
 * What the model leaves out, so a test must not rely on it: the test pattern generator draws
 * the solid patterns ("100% Black/White/Red/Green/Blue") byte-exactly; every other pattern is a
 * plain stand-in (vertical bars), and no OSD text is ever drawn (set "OSD Text Mode" to "None"
 * on the real driver to compare). Only the packed 4:2:2 formats are offered. Inputs other than
 * Webcam and HDMI keep a fixed 720x576. No scaling, cropping or composing: an HDMI capture
 * keeps the DV timings' size (the real driver scales, and 6.12 crashed there).
 *
 * @module
 */
import { Errno, fail } from "../../errno.ts";
import type { DriverContext } from "../../driver_context.ts";
import type { device } from "../../dma_buf.ts";
import { DMA_BIT_MASK, dma_set_mask_and_coherent } from "../../dma_mapping.ts";
import { system_heap_allocate } from "../../heaps/system_heap.ts";
import {
  v4l2_ctrl_handler,
  type v4l2_pix_format,
  type video_device,
  video_register_device,
} from "./v4l2_ioctl.ts";
import {
  type vb2_buffer,
  vb2_buffer_done,
  vb2_get_plane_payload,
  vb2_is_busy,
  vb2_plane_cpu_wrote,
  vb2_plane_size,
  vb2_plane_vaddr,
  vb2_queue,
  vb2_set_plane_payload,
} from "./videobuf2_core.ts";
import {
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_CAP_READWRITE,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_OUTPUT,
  V4L2_CTRL_TYPE_CTRL_CLASS,
  V4L2_CTRL_TYPE_MENU,
  V4L2_FIELD_NONE,
  v4l2_fourcc,
} from "../../../uapi/videodev2.ts";

/** `ktime_get_ns()`: the monotonic clock in ns (what vb2 timestamps with). */
function ktime_get_ns(): number {
  return Math.round(performance.now() * 1e6);
}

/** `tpg_pattern_strings[]` (v4l2-tpg-core.c): the "Test Pattern" menu. */
export const tpg_pattern_strings = [
  "75% Colorbar",
  "100% Colorbar",
  "CSC Colorbar",
  "Horizontal 100% Colorbar",
  "100% Color Squares",
  "100% Black",
  "100% White",
  "100% Red",
  "100% Green",
  "100% Blue",
  "16x16 Checkers",
  "2x2 Checkers",
  "1x1 Checkers",
  "2x2 Red/Green Checkers",
  "1x1 Red/Green Checkers",
  "Alternating Hor Lines",
  "Alternating Vert Lines",
  "One Pixel Wide Cross",
  "Two Pixels Wide Cross",
  "Ten Pixels Wide Cross",
  "Gray Ramp",
  "Noise",
] as const;

/** Control ids (vivid-ctrls.c). */
export const VIVID_CID_VIVID_CLASS = 0x00f00001;
/** `VIVID_CID_TEST_PATTERN`. */
export const VIVID_CID_TEST_PATTERN = 0x00f0f000;
/** `VIVID_CID_OSD_TEXT_MODE`. */
export const VIVID_CID_OSD_TEXT_MODE = 0x00f0f001;
/** `VIVID_CID_HDMI_IS_CONNECTED_TO_OUTPUT(0)`. */
export const VIVID_CID_HDMI_IS_CONNECTED_TO_OUTPUT = 0x00f0f071;
/** `VIVID_CID_SVID_IS_CONNECTED_TO_OUTPUT(0)`. */
export const VIVID_CID_SVID_IS_CONNECTED_TO_OUTPUT = 0x00f0f080;

/** The "HDMI 000-0 Is Connected To" menu: the TPG, nothing, or the HDMI output. */
const HDMI_TO_OUTPUT_MENU = ["Test Pattern Generator", "None", "Output HDMI 000-0"];
/** The "S-Video 000-0 Is Connected To" menu (the model loops HDMI only). */
const SVID_TO_OUTPUT_MENU = ["Test Pattern Generator", "None", "Output S-Video 000-0"];

const V4L2_INPUT_TYPE_CAMERA = 2, V4L2_OUTPUT_TYPE_ANALOG = 2;
const V4L2_COLORSPACE_SRGB = 8, V4L2_COLORSPACE_REC709 = 3, V4L2_COLORSPACE_SMPTE170M = 1;

/** Inputs of vivid instance 0 with the default `input_types` (webcam, TV, S-Video, HDMI). */
const INPUTS = [
  { name: "Webcam 000-0", type: V4L2_INPUT_TYPE_CAMERA, capabilities: 0 },
  { name: "TV 000-0", type: 1, capabilities: 0x4 },
  { name: "S-Video 000-0", type: V4L2_INPUT_TYPE_CAMERA, capabilities: 0x4 },
  { name: "HDMI 000-0", type: V4L2_INPUT_TYPE_CAMERA, capabilities: 0x2 },
];
/** Outputs of instance 0 (S-Video, HDMI). */
const OUTPUTS = [
  { name: "S-Video 000-0", type: V4L2_OUTPUT_TYPE_ANALOG, capabilities: 0x4 },
  { name: "HDMI 000-0", type: V4L2_OUTPUT_TYPE_ANALOG, capabilities: 0x2 },
];
const HDMI_INPUT = 3, HDMI_OUTPUT = 1;
const V4L2_FIELD_INTERLACED = 4;
/** `V4L2_CAP_EXT_PIX_FORMAT | V4L2_CAP_AUDIO`, on both video nodes. */
const EXT_AUDIO = 0x00200000 | 0x00020000;
/** vid-cap `device_caps` (0x05230001 in the guest: + TUNER for the TV input). */
const VIVID_VID_CAP_CAPS = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING | V4L2_CAP_READWRITE |
  EXT_AUDIO | 0x00010000;
/** vid-out `device_caps` (0x05220002 in the guest). */
const VIVID_VID_OUT_CAPS = V4L2_CAP_VIDEO_OUTPUT | V4L2_CAP_STREAMING | V4L2_CAP_READWRITE |
  EXT_AUDIO;
/** `capabilities`: every node of the instance (0x9dbf0df3 in the guest, DEVICE_CAPS included). */
const VIVID_CAPS = 0x1dbf0df3;

/** `webcam_sizes[]` (vivid-vid-cap.c). */
const WEBCAM_SIZES = [[320, 180], [640, 360], [640, 480], [1280, 720], [1920, 1080], [3840, 2160]];

/** The packed 4:2:2 formats the model renders: fourcc and the byte order of Y0 Cb Y1 Cr. */
const FORMATS = [
  { fourcc: v4l2_fourcc("YUYV"), description: "YUYV 4:2:2", order: [0, 1, 2, 3] },
  { fourcc: v4l2_fourcc("UYVY"), description: "UYVY 4:2:2", order: [1, 0, 3, 2] },
  { fourcc: v4l2_fourcc("YVYU"), description: "YVYU 4:2:2", order: [0, 3, 2, 1] },
  { fourcc: v4l2_fourcc("VYUY"), description: "VYUY 4:2:2", order: [3, 0, 1, 2] },
];

/** A frame period of the model's generator (ms): 30 frames per second. */
export const VIVID_FRAME_PERIOD_MS = 1000 / 30;

/**
 * Y, Cb, Cr of the solid patterns as vivid 6.12's TPG writes them (webcam input, sRGB,
 * limited range; read from the Debian guest with `examples/v4l2_info.ts --patterns`).
 */
const SOLID: Record<string, [number, number, number]> = {
  "100% Black": [16, 128, 128],
  "100% White": [234, 128, 128],
  "100% Red": [81, 90, 239],
  "100% Green": [144, 54, 34],
  "100% Blue": [40, 239, 109],
};
/** The stand-in for every other pattern: the 75% bars (white, yellow, cyan, green, magenta,
 * red, blue, black). */
const BARS: [number, number, number][] = [
  [180, 128, 128],
  [162, 44, 142],
  [131, 156, 44],
  [112, 72, 58],
  [84, 184, 198],
  [65, 100, 212],
  [35, 212, 114],
  [16, 128, 128],
];

function pix(
  width: number,
  height: number,
  fourcc: number,
  colorspace: number,
  field = V4L2_FIELD_NONE,
): v4l2_pix_format {
  return {
    width,
    height,
    pixelformat: fourcc,
    field,
    bytesperline: width * 2,
    sizeimage: width * height * 2,
    colorspace,
    ycbcr_enc: 0,
    quantization: 0,
    xfer_func: 0,
  };
}

/** vivid instance 0: `/dev/video0` (vid-cap) and `/dev/video1` (vid-out). */
export class VividDev {
  /** The machine. */
  readonly machine: DriverContext;
  /** The capture node. */
  readonly vid_cap_dev: video_device;
  /** The output node. */
  readonly vid_out_dev: video_device;
  /** The platform device both queues attach buffers to (`vivid.0`). */
  readonly dev: device;
  /** Current input (`dev->input`). */
  input = 0;
  /** Current output (`dev->output`). */
  output = 0;
  /** Capture format per input. */
  readonly fmt_cap: v4l2_pix_format[];
  /** Output format per output. */
  readonly fmt_out: v4l2_pix_format[];
  /** Buffers the capture thread fills next (`vid_cap_active`). */
  vid_cap_active: vb2_buffer[] = [];
  /** Buffers the output shows, oldest first (`vid_out_active`). */
  vid_out_active: vb2_buffer[] = [];
  /** Frames generated since capture STREAMON (`vid_cap_seq_count`). */
  vid_cap_seq_count = 0;
  /** Frames shown since output STREAMON. */
  vid_out_seq_count = 0;
  #cap_timer: ReturnType<typeof setInterval> | undefined;
  #out_timer: ReturnType<typeof setInterval> | undefined;
  readonly #cap_ctrls: v4l2_ctrl_handler;

  /**
   * `vivid_create_instance(pdev, 0)`.
   *
   * @param m The machine.
   */
  constructor(m: DriverContext) {
    this.machine = m;
    this.dev = { name: "vivid.0", dma_mask: null };
    dma_set_mask_and_coherent(this.dev, DMA_BIT_MASK(32));
    const yuyv = FORMATS[0].fourcc;
    this.fmt_cap = INPUTS.map((_, i) =>
      i === 0
        ? pix(640, 360, yuyv, V4L2_COLORSPACE_SRGB)
        : i === HDMI_INPUT
        ? pix(1280, 720, yuyv, V4L2_COLORSPACE_REC709)
        : pix(720, 576, yuyv, V4L2_COLORSPACE_SMPTE170M)
    );
    this.fmt_out = OUTPUTS.map((_, i) =>
      i === HDMI_OUTPUT
        ? pix(1280, 720, yuyv, V4L2_COLORSPACE_REC709)
        : pix(720, 576, yuyv, V4L2_COLORSPACE_SMPTE170M, V4L2_FIELD_INTERLACED)
    );

    const cap = new v4l2_ctrl_handler();
    cap.add({
      id: VIVID_CID_VIVID_CLASS,
      name: "Vivid Controls",
      type: V4L2_CTRL_TYPE_CTRL_CLASS,
      minimum: 0,
      maximum: 0,
      step: 0,
      default_value: 0,
      flags: 0x0044, // READ_ONLY | WRITE_ONLY
    });
    cap.add({
      id: VIVID_CID_TEST_PATTERN,
      name: "Test Pattern",
      type: V4L2_CTRL_TYPE_MENU,
      minimum: 0,
      maximum: tpg_pattern_strings.length - 1,
      step: 1,
      default_value: 0,
      flags: 0,
      qmenu: tpg_pattern_strings,
    });
    cap.add({
      id: VIVID_CID_OSD_TEXT_MODE,
      name: "OSD Text Mode",
      type: V4L2_CTRL_TYPE_MENU,
      minimum: 0,
      maximum: 2,
      step: 1,
      default_value: 0,
      flags: 0,
      qmenu: ["All", "Counters Only", "None"],
    });
    cap.add({
      id: VIVID_CID_HDMI_IS_CONNECTED_TO_OUTPUT,
      name: "HDMI 000-0 Is Connected To",
      type: V4L2_CTRL_TYPE_MENU,
      minimum: 0,
      maximum: HDMI_TO_OUTPUT_MENU.length - 1,
      step: 1,
      default_value: 0,
      flags: 0,
      qmenu: HDMI_TO_OUTPUT_MENU,
    });
    cap.add({
      id: VIVID_CID_SVID_IS_CONNECTED_TO_OUTPUT,
      name: "S-Video 000-0 Is Connected To",
      type: V4L2_CTRL_TYPE_MENU,
      minimum: 0,
      maximum: SVID_TO_OUTPUT_MENU.length - 1,
      step: 1,
      default_value: 0,
      flags: 0,
      qmenu: SVID_TO_OUTPUT_MENU,
    });
    this.#cap_ctrls = cap;

    const capq = new vb2_queue(
      V4L2_BUF_TYPE_VIDEO_CAPTURE,
      {
        queue_setup: () => [this.fmt_cap[this.input].sizeimage],
        buf_prepare: (vb) => {
          const size = this.fmt_cap[this.input].sizeimage;
          if (vb2_plane_size(vb, 0) < size) fail(Errno.EINVAL, "data will not fit into plane");
          vb2_set_plane_payload(vb, 0, size);
        },
        buf_queue: (vb) => {
          this.vid_cap_active.push(vb);
        },
        start_streaming: () => this.#start_cap(),
        stop_streaming: () => this.#stop_cap(),
      },
      this.dev,
      0,
      this,
    );
    const outq = new vb2_queue(
      V4L2_BUF_TYPE_VIDEO_OUTPUT,
      {
        queue_setup: () => [this.fmt_out[this.output].sizeimage],
        buf_prepare: (vb) => {
          const size = this.fmt_out[this.output].sizeimage;
          if (vb2_get_plane_payload(vb, 0) < size) fail(Errno.EINVAL, "payload too small");
          if (vb2_plane_size(vb, 0) < size) fail(Errno.EINVAL, "data will not fit into plane");
        },
        buf_queue: (vb) => {
          this.vid_out_active.push(vb);
        },
        start_streaming: () => this.#start_out(),
        stop_streaming: () => this.#stop_out(),
      },
      this.dev,
      0,
      this,
    );

    const alloc_mmap = (size: number) =>
      // vb2-vmalloc's memory, from the machine's pages (exported as "videobuf2_vmalloc").
      // vmalloc_user(PAGE_ALIGN(size)).
      system_heap_allocate(
        { name: "videobuf2_vmalloc", priv: m } as never,
        Math.ceil(size / 4096) * 4096,
        2,
        0,
      );

    this.vid_cap_dev = {
      name: "vivid-000-vid-cap",
      driver: "vivid",
      card: "vivid",
      bus_info: "platform:vivid-000",
      device_caps: VIVID_VID_CAP_CAPS,
      capabilities: VIVID_CAPS,
      queue: capq,
      ctrl_handler: cap,
      dev: this.dev,
      alloc_mmap,
      ioctl_ops: {
        formats: FORMATS,
        g_fmt: () => ({ ...this.fmt_cap[this.input] }),
        try_fmt: (f) => this.#try_fmt_cap(f),
        s_fmt: (f) => {
          this.#try_fmt_cap(f);
          if (vb2_is_busy(capq)) fail(Errno.EBUSY);
          this.fmt_cap[this.input] = { ...f };
        },
        ports: INPUTS,
        g_port: () => this.input,
        s_port: (i) => {
          if (i >= INPUTS.length) fail(Errno.EINVAL);
          if (i === this.input) return;
          if (vb2_is_busy(capq)) fail(Errno.EBUSY);
          this.input = i;
        },
      },
    };
    this.vid_out_dev = {
      name: "vivid-000-vid-out",
      driver: "vivid",
      card: "vivid",
      bus_info: "platform:vivid-000",
      device_caps: VIVID_VID_OUT_CAPS,
      capabilities: VIVID_CAPS,
      queue: outq,
      ctrl_handler: new v4l2_ctrl_handler(),
      dev: this.dev,
      alloc_mmap,
      ioctl_ops: {
        formats: FORMATS,
        g_fmt: () => ({ ...this.fmt_out[this.output] }),
        try_fmt: (f) => this.#try_fmt_out(f),
        s_fmt: (f) => {
          this.#try_fmt_out(f);
          if (vb2_is_busy(outq)) fail(Errno.EBUSY);
          this.fmt_out[this.output] = { ...f };
        },
        ports: OUTPUTS,
        g_port: () => this.output,
        s_port: (i) => {
          if (i >= OUTPUTS.length) fail(Errno.EINVAL);
          if (i === this.output) return;
          if (vb2_is_busy(outq)) fail(Errno.EBUSY);
          this.output = i;
        },
      },
    };
    video_register_device(m, this.vid_cap_dev, 0);
    video_register_device(m, this.vid_out_dev, 0);
  }

  #format_of(fourcc: number) {
    return FORMATS.find((f) => f.fourcc === fourcc) ?? FORMATS[0];
  }

  /** `vivid_try_fmt_vid_cap()`: the nearest webcam size; fixed sizes on other inputs. */
  #try_fmt_cap(f: v4l2_pix_format): void {
    const cur = this.fmt_cap[this.input];
    let w = cur.width, h = cur.height;
    if (this.input === 0) {
      // v4l2_find_nearest_size(): least |dw| + |dh|.
      let best = WEBCAM_SIZES[0], err = Infinity;
      for (const s of WEBCAM_SIZES) {
        const e = Math.abs(s[0] - f.width) + Math.abs(s[1] - f.height);
        if (e < err) [best, err] = [s, e];
      }
      [w, h] = best;
    }
    Object.assign(f, pix(w, h, this.#format_of(f.pixelformat).fourcc, cur.colorspace));
  }

  /** `vivid_try_fmt_vid_out()`: the output's timings keep their size. */
  #try_fmt_out(f: v4l2_pix_format): void {
    const cur = this.fmt_out[this.output];
    Object.assign(
      f,
      pix(cur.width, cur.height, this.#format_of(f.pixelformat).fourcc, cur.colorspace),
    );
  }

  /** Sets a capture control (tests and the model's own use). */
  get capControls(): v4l2_ctrl_handler {
    return this.#cap_ctrls;
  }

  #start_cap(): void {
    this.vid_cap_seq_count = 0;
    this.#cap_timer = setInterval(() => this.#cap_tick(), VIVID_FRAME_PERIOD_MS);
  }

  #stop_cap(): void {
    clearInterval(this.#cap_timer);
    this.#cap_timer = undefined;
    for (const vb of this.vid_cap_active.splice(0)) vb2_buffer_done(vb, "ERROR");
  }

  #start_out(): void {
    this.vid_out_seq_count = 0;
    this.#out_timer = setInterval(() => this.#out_tick(), VIVID_FRAME_PERIOD_MS);
  }

  #stop_out(): void {
    clearInterval(this.#out_timer);
    this.#out_timer = undefined;
    for (const vb of this.vid_out_active.splice(0)) vb2_buffer_done(vb, "ERROR");
  }

  /** `vivid_vid_can_loop()`: HDMI in connected to the streaming HDMI out, same format. */
  #loop_source(): vb2_buffer | undefined {
    if (this.input !== HDMI_INPUT || this.output !== HDMI_OUTPUT) return undefined;
    const link = this.#cap_ctrls.find(VIVID_CID_HDMI_IS_CONNECTED_TO_OUTPUT)!;
    if (HDMI_TO_OUTPUT_MENU[link.val] !== "Output HDMI 000-0") return undefined;
    const a = this.fmt_cap[this.input], b = this.fmt_out[this.output];
    if (a.width !== b.width || a.height !== b.height || a.pixelformat !== b.pixelformat) {
      return undefined;
    }
    return this.vid_out_active[0];
  }

  /** `vivid_thread_vid_cap_tick()`: one frame period of the capture thread. */
  #cap_tick(): void {
    const seq = this.vid_cap_seq_count++;
    const vb = this.vid_cap_active.shift();
    if (!vb) return; // no buffer: the frame is dropped, the sequence still counts
    const fmt = this.fmt_cap[this.input];
    const dst = vb2_plane_vaddr(vb, 0);
    if (dst) {
      const src = this.#loop_source();
      if (src) {
        // vivid_copy_buffer(): the kernel copies the output buffer into the capture buffer.
        const from = vb2_plane_vaddr(src, 0)!;
        dst.set(from.subarray(0, Math.min(fmt.sizeimage, from.length)));
      } else {
        this.#tpg_fill(dst, fmt);
      }
      vb2_plane_cpu_wrote(vb, 0, Math.min(fmt.sizeimage, dst.length), "vivid (vb2-vmalloc)");
    }
    vb.sequence = seq;
    vb.field = V4L2_FIELD_NONE;
    vb.timestamp = ktime_get_ns();
    vb2_set_plane_payload(vb, 0, fmt.sizeimage);
    vb2_buffer_done(vb, "DONE");
  }

  /** `vivid_thread_vid_out_tick()`: only dequeues when another buffer is pending. */
  #out_tick(): void {
    const seq = this.vid_out_seq_count++;
    if (this.vid_out_active.length < 2) return;
    const vb = this.vid_out_active.shift()!;
    vb.sequence = seq;
    vb.timestamp = ktime_get_ns();
    vb2_buffer_done(vb, "DONE");
  }

  /** The test pattern generator for the patterns the model draws (see the module doc). */
  #tpg_fill(dst: Uint8Array, fmt: v4l2_pix_format): void {
    const pattern = tpg_pattern_strings[this.#cap_ctrls.find(VIVID_CID_TEST_PATTERN)!.val];
    const order = this.#format_of(fmt.pixelformat).order;
    const solid = SOLID[pattern];
    const row = new Uint8Array(fmt.bytesperline);
    for (let x = 0; x + 3 < fmt.width * 2; x += 4) {
      const [y, cb, cr] = solid ?? BARS[Math.floor(((x >> 1) * 8) / fmt.width)];
      const px = [y, cb, y, cr];
      for (let i = 0; i < 4; i++) row[x + order[i]] = px[i];
    }
    for (let line = 0; line < fmt.height; line++) dst.set(row, line * fmt.bytesperline);
  }

  /** Stops both threads (module unload). */
  remove(): void {
    this.#stop_cap();
    this.#stop_out();
  }
}

/** `vivid_init()`: one instance on the machine. */
export function vivid_init(m: DriverContext): VividDev {
  return new VividDev(m);
}
