/**
 * V4L2 video devices with dma-buf memory (`./v4l2`): open a video node or find one by
 * `VIDIOC_QUERYCAP`, pick a format, queue dma-bufs from any heap into the capture or output
 * queue (`V4L2_MEMORY_DMABUF`), or export the driver's own buffers (`MMAP` + `VIDIOC_EXPBUF`) as
 * `DmaBuf`s; controls by name; a queue as a pipeline stage. Names follow
 * `include/uapi/linux/videodev2.h`; behaviour is videobuf2's (`drivers/media/common/videobuf2`).
 *
 * @example Capture one frame from vivid into a system-heap buffer
 * ```ts ignore
 * import { openHeap } from "@dmabuf/dmabuf";
 * import { findVideoDevice, V4L2_CAP_VIDEO_CAPTURE } from "@dmabuf/dmabuf/v4l2";
 *
 * using dev = findVideoDevice({ driver: "vivid", capabilities: V4L2_CAP_VIDEO_CAPTURE });
 * const q = dev.queue("capture");
 * const fmt = q.getFormat();
 * using heap = openHeap("system");
 * using buf = heap.allocate(fmt.sizeimage, { name: "frame-0" });
 * q.requestBuffers(1, "dmabuf");
 * q.queue(0, buf);
 * q.streamOn();
 * const frame = await q.next({ timeout: 5000 });
 * console.log(frame.sequence, frame.bytesused);
 * q.streamOff();
 * ```
 *
 * @module
 */
export type * from "../kernel/types.ts";
export type { DmaBuf, MapOptions } from "../dmabuf/buffer.ts";
export type { DmaBufInfo } from "../dmabuf/fdinfo.ts";
export type { CpuAccess, DmaBufMapping } from "../dmabuf/mapping.ts";
export type { FenceAccess, SyncFile } from "../dmabuf/fence.ts";
export type { WaitOptions } from "../dmabuf/wait.ts";
export type { PipelineStage, PipelineStageResult } from "../pipeline/stage.ts";
export {
  type ControlInfo,
  type DequeuedBuffer,
  findVideoDevice,
  type FormatDescription,
  openVideoDevice,
  type PlaneFormat,
  type QueueDirection,
  type QueueOptions,
  type QueuePlane,
  type VideoCapability,
  VideoDevice,
  type VideoDeviceOptions,
  type VideoDeviceQuery,
  type VideoFormat,
  type VideoFormatRequest,
  type VideoPort,
  VideoQueue,
} from "./device.ts";
export { VideoStage, type VideoStageOptions, type VideoStageResult } from "./stage.ts";
export {
  fourccString,
  V4L2_BUF_FLAG_DONE,
  V4L2_BUF_FLAG_ERROR,
  V4L2_BUF_FLAG_LAST,
  V4L2_BUF_FLAG_MAPPED,
  V4L2_BUF_FLAG_QUEUED,
  V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC,
  V4L2_BUF_TYPE_VIDEO_CAPTURE,
  V4L2_BUF_TYPE_VIDEO_CAPTURE_MPLANE,
  V4L2_BUF_TYPE_VIDEO_OUTPUT,
  V4L2_BUF_TYPE_VIDEO_OUTPUT_MPLANE,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_CAPTURE_MPLANE,
  V4L2_CAP_VIDEO_OUTPUT,
  V4L2_CAP_VIDEO_OUTPUT_MPLANE,
  v4l2_fourcc,
} from "../uapi/videodev2.ts";
