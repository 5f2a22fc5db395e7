/**
 * Loopback through a real video output and capture: the CPU writes a frame into a dma-buf from
 * a heap, the buffer goes out through vivid's HDMI output queue (by fd, `V4L2_MEMORY_DMABUF`),
 * vivid's HDMI input — "connected to" that output — shows it, and the capture queue writes it
 * into other heap buffers (by fd). The script checks the captured frame byte for byte. No byte
 * is copied in user space: user space writes the frame once and reads it once.
 *
 * vivid's recipe (docs: platform.md): capture input HDMI, output HDMI, capture control
 * "HDMI 000-0 Is Connected To" = the HDMI output, "OSD Text Mode" = None, the same size and
 * fourcc on both sides (vivid scales otherwise, and 6.12 crashed there), the output buffer queued
 * and streaming before the capture starts.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/loopback.ts [--heap system] [frames]
 */
import { parseArgs } from "node:util";
import { kernelSelection, openHeap } from "@dmabuf/dmabuf";
import {
  findVideoDevice,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_OUTPUT,
  type VideoDevice,
} from "@dmabuf/dmabuf/v4l2";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: { heap: { type: "string", default: "system" } },
});
const frames = Number(positionals[0] ?? 4);

function port(list: { index: number; name: string }[], prefix: string, dev: VideoDevice): number {
  const p = list.find((x) => x.name.startsWith(prefix));
  if (!p) throw new Error(`${dev.path} has no ${prefix} port: ${list.map((x) => x.name)}`);
  return p.index;
}

console.log(`kernel: ${kernelSelection().kernel.description}`);
using cap = findVideoDevice({ driver: "vivid", capabilities: V4L2_CAP_VIDEO_CAPTURE });
using out = findVideoDevice({
  driver: "vivid",
  card: cap.capability.card,
  capabilities: V4L2_CAP_VIDEO_OUTPUT,
});
cap.input = port(cap.inputs(), "HDMI", cap);
out.output = port(out.outputs(), "HDMI", out);
const link = cap.controls().find((c) => /^HDMI .* Is Connected To$/.test(c.name));
if (!link) throw new Error(`${cap.path} has no "HDMI … Is Connected To" control`);
const items = cap.menu(link);
const target = [...items].find(([, name]) => name !== "None" && !/Test Pattern/.test(name));
if (!target) throw new Error(`"${link.name}" offers no output: ${[...items.values()]}`);
cap.setControl(link, target[0]);
cap.setControl("OSD Text Mode", "None");
console.log(
  `capture ${cap.path} input ${cap.input}, output ${out.path} output ${out.output}; ` +
    `"${link.name}" = "${target[1]}", OSD text off`,
);

const cq = cap.queue("capture"), oq = out.queue("output");
const ofmt = oq.getFormat();
const cfmt = cq.setFormat({
  width: ofmt.width,
  height: ofmt.height,
  pixelformat: ofmt.pixelformat,
});
if (cfmt.width !== ofmt.width || cfmt.height !== ofmt.height || cfmt.sizeimage !== ofmt.sizeimage) {
  throw new Error(
    `formats differ: output ${JSON.stringify(ofmt)}, capture ${JSON.stringify(cfmt)}`,
  );
}
console.log(`format: ${cfmt.width}x${cfmt.height} ${cfmt.pixelformat}, ${cfmt.sizeimage} bytes`);

using heap = openHeap(values.heap!);
using frame = heap.allocate(ofmt.sizeimage, { name: "loopback-out" });
{
  // The CPU draws the frame once: horizontal YUYV bands of varying luma and chroma.
  using map = frame.map();
  map.write((bytes) => {
    for (let y = 0; y < ofmt.height; y++) {
      const row = bytes.subarray(y * ofmt.bytesperline, (y + 1) * ofmt.bytesperline);
      const luma = 16 + ((y * 7) % 220), cb = (y * 3) & 0xff, cr = 255 - cb;
      for (let x = 0; x + 3 < row.length; x += 4) {
        row[x] = luma;
        row[x + 1] = cb;
        row[x + 2] = luma;
        row[x + 3] = cr;
      }
    }
  });
}
const want = frame.map({ access: "read" });
oq.requestBuffers(1, "dmabuf");
oq.queue(0, frame, { bytesused: ofmt.sizeimage });
oq.streamOn();

const caps = [0, 1, 2].map((i) => heap.allocate(cfmt.sizeimage, { name: `loopback-in-${i}` }));
try {
  cq.requestBuffers(caps.length, "dmabuf");
  caps.forEach((b, i) => cq.queue(i, b));
  cq.streamOn();
  let matched = 0;
  for (let n = 0; n < frames; n++) {
    const b = await cq.next({ timeout: 10_000 });
    const got = caps[b.index];
    const same = got.map({ access: "read" });
    const diff = same.read((g) =>
      want.read((w) => {
        for (let i = 0; i < cfmt.sizeimage; i++) if (g[i] !== w[i]) return i;
        return -1;
      })
    );
    same.unmap();
    if (diff < 0) matched++;
    console.log(
      `capture sequence ${b.sequence}: bytesused ${b.bytesused}, buffer ${got.info().name} ` +
        `(inode ${got.info().inode}) ${
          diff < 0 ? "equals the CPU-written frame" : `differs at byte ${diff}`
        }`,
    );
    cq.queue(b.index, got);
  }
  cq.streamOff();
  oq.streamOff();
  console.log(
    `${matched}/${frames} captured frames equal the frame written by the CPU ` +
      `(out inode ${frame.info().inode}); 0 bytes copied in user space`,
  );
  if (matched === 0) throw new Error("no captured frame matched the output frame");
} finally {
  want.unmap();
  for (const b of caps) b.close();
}
