/**
 * Captures N frames from the first V4L2 capture device straight into named dma-bufs from a heap
 * of your choice: the buffers are queued on the camera's capture queue by fd
 * (`V4L2_MEMORY_DMABUF`), the driver writes the frame into their pages, and the CPU only reads
 * them afterwards for a checksum — no byte is copied in user space. Prints per frame the V4L2
 * sequence number, `bytesused`, the buffer's inode and name, and a checksum; then the fps.
 *
 * On the Debian guest the camera is vivid (`modprobe vivid`); on the simulated kernel it is the
 * simulated vivid. The same script runs on both.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/camera.ts [frames] [--heap system]
 *     [--device /dev/video0] [--buffers 4] [--pattern "100% Red"]
 */
import { parseArgs } from "node:util";
import { createBufferPool, Pipeline } from "@dmabuf/dmabuf/pipeline";
import { kernelSelection, openHeap } from "@dmabuf/dmabuf";
import {
  findVideoDevice,
  openVideoDevice,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  VideoStage,
} from "@dmabuf/dmabuf/v4l2";

const { values, positionals } = parseArgs({
  args: Deno.args,
  allowPositionals: true,
  options: {
    heap: { type: "string", default: "system" },
    device: { type: "string" },
    buffers: { type: "string", default: "4" },
    pattern: { type: "string" },
  },
});
const frames = Number(positionals[0] ?? 10);

const sel = kernelSelection();
console.log(`kernel: ${sel.kernel.description} (${sel.reason})`);
using dev = values.device
  ? openVideoDevice(values.device)
  : findVideoDevice({ capabilities: V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING });
const cap = dev.capability;
console.log(`camera: ${dev.path}: ${cap.driver} "${cap.card}" (${cap.busInfo})`);
if (values.pattern !== undefined) dev.setControl("Test Pattern", values.pattern);
const q = dev.queue("capture");
const fmt = q.getFormat();
console.log(
  `format: ${fmt.width}x${fmt.height} ${fmt.pixelformat}, ${fmt.bytesperline} bytes/line, ` +
    `sizeimage ${fmt.sizeimage}`,
);

using heap = openHeap(values.heap!);
using pool = createBufferPool(heap, {
  count: Number(values.buffers),
  size: fmt.sizeimage,
  name: "camera",
});
using stage = new VideoStage(q, { count: pool.count });
console.log(`pool: ${pool.count} × ${pool.size} bytes from heap "${heap.name}", queued by fd`);

const inodes = new Set<number>();
const stats = await new Pipeline([stage], pool).run({
  frames,
  consume(f) {
    const r = f.results[0];
    const info = f.buffer.buffer.info();
    inodes.add(info.inode);
    const sum = f.buffer.mapping.read((bytes) => {
      let s = 0;
      const n = Math.min(r.bytesused, bytes.length);
      for (let i = 0; i < n; i++) s = (s + bytes[i]) >>> 0;
      return s;
    });
    console.log(
      `frame ${f.frame}: sequence ${r.sequence}, bytesused ${r.bytesused}, index ${r.index}, ` +
        `buffer ${info.name} (inode ${info.inode}), checksum 0x${
          sum.toString(16).padStart(8, "0")
        }`,
    );
  },
});
console.log(
  `${stats.frames} frames in ${stats.elapsedMs.toFixed(0)} ms: ${stats.fps.toFixed(1)} fps ` +
    `(latency min ${stats.latencyMs.min.toFixed(1)} / mean ${stats.latencyMs.mean.toFixed(1)} ` +
    `/ max ${stats.latencyMs.max.toFixed(1)} ms); ${inodes.size} distinct buffer inodes, ` +
    `0 bytes copied in user space`,
);
