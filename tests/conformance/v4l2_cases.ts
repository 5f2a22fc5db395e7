/**
 * Conformance cases for V4L2 with dma-buf memory against vivid: the real module in the Debian
 * guest (`modprobe vivid`), the simulated one (`src/sim/drivers/media/vivid.ts`) on the host.
 * Each case sets the driver state it needs first (input, format, controls: vivid keeps them
 * across opens) and records ioctl results, errno, buffer flags, sequence numbers, bytesused and
 * frame bytes for the solid test patterns.
 */
import assert from "node:assert/strict";
import { type ConformanceCase, errnoOf, type Observations } from "./harness.ts";
import type { Kernel } from "../../src/kernel/types.ts";
import { openHeap } from "../../mod.ts";
import {
  findVideoDevice,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
  V4L2_CAP_VIDEO_OUTPUT,
  type VideoDevice,
  type VideoQueue,
} from "../../src/v4l2/mod.ts";

function capture(k: Kernel): VideoDevice {
  const dev = findVideoDevice({
    driver: "vivid",
    capabilities: V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING,
    kernel: k,
  });
  try {
    dev.input = 0;
    dev.setControl("Test Pattern", "75% Colorbar");
    dev.setControl("OSD Text Mode", "None");
  } catch (e) {
    dev.close();
    throw e;
  }
  return dev;
}

function output(k: Kernel): VideoDevice {
  return findVideoDevice({ driver: "vivid", capabilities: V4L2_CAP_VIDEO_OUTPUT, kernel: k });
}

/** STREAMOFF (when streaming) and REQBUFS 0, whatever failed before. */
function release(q: VideoQueue): void {
  if (q.streaming) q.streamOff();
  if (q.count > 0) q.requestBuffers(0, q.memory === 1 ? "mmap" : "dmabuf");
}

function vividCase(name: string, run: ConformanceCase["run"]): ConformanceCase {
  return { name, needs: "vivid", run };
}

export const v4l2Cases: ConformanceCase[] = [
  vividCase(
    "vivid: QUERYCAP, inputs, outputs, formats and the controls a script uses",
    (k, obs) => {
      using cap = capture(k);
      using out = output(k);
      out.output = 0;
      for (const [label, dev] of [["cap", cap], ["out", out]] as const) {
        const c = dev.capability;
        obs[`${label}.querycap`] = [c.driver, c.card, c.busInfo, c.capabilities, c.deviceCaps];
      }
      obs.inputs = cap.inputs().map((p) => p.name);
      obs.outputs = out.outputs().map((p) => p.name);
      obs.capOutputs = cap.outputs(); // ENUMOUTPUT on a capture node: ENOTTY → none
      const cq = cap.queue("capture"), oq = out.queue("output");
      obs.capFirstFormats = cq.formats().slice(0, 4).map((f) => f.pixelformat);
      obs.outFirstFormats = oq.formats().slice(0, 4).map((f) => f.pixelformat);
      const f = cq.setFormat({ width: 640, height: 360, pixelformat: "YUYV" });
      obs.capFormat = [f.width, f.height, f.pixelformat, f.field, f.bytesperline, f.sizeimage];
      const t = cq.tryFormat({ width: 320, height: 240, pixelformat: "YUYV" });
      obs.capTry320x240 = [t.width, t.height, t.sizeimage];
      const o = oq.getFormat();
      obs.outFormat = [o.width, o.height, o.pixelformat, o.field, o.bytesperline, o.sizeimage];
      for (const name of ["Test Pattern", "OSD Text Mode", "HDMI 000-0 Is Connected To"]) {
        const c = cap.findControl(name);
        obs[`control ${name}`] = [c.id, c.type, c.minimum, c.maximum, c.defaultValue];
        obs[`menu ${name}`] = [...cap.menu(c).values()];
      }
      obs.unknownControl = errnoOf(() => cap.getControl(0x00f0ffff));
      obs.outOfRange = errnoOf(() => cap.setControl("OSD Text Mode", 7));
      assert.deepEqual(obs.capFormat, [640, 360, "YUYV", 1, 1280, 460800]);
      assert.equal((obs.inputs as string[]).length, 4);
    },
  ),

  vividCase("vivid: REQBUFS/QBUF/DQBUF/STREAMON refusals and their errno", (k, obs) => {
    using cap = capture(k);
    const q = cap.queue("capture");
    const fmt = q.setFormat({ width: 640, height: 360, pixelformat: "YUYV" });
    using heap = openHeap("system", { kernel: k });
    using buf = heap.allocate(fmt.sizeimage);
    using small = heap.allocate(4096);
    try {
      obs.streamonNoBuffers = errnoOf(() => q.streamOn());
      obs.dqbufNoBuffers = errnoOf(() => q.dequeue());
      obs.qbufNoBuffers = errnoOf(() => q.queue(0, buf));
      obs.granted = q.requestBuffers(2, "dmabuf");
      obs.expbufOnDmabuf = errnoOf(() => q.exportBuffer(0).close());
      obs.qbufSmall = errnoOf(() => q.queue(0, small));
      obs.qbufIndex = errnoOf(() => q.queue(2, buf));
      obs.sfmtBusy = errnoOf(() => q.setFormat({ width: 1280, height: 720 }));
      obs.sinputBusy = errnoOf(() => (cap.input = 3));
      obs.sinputRange = errnoOf(() => (cap.input = 9));
      {
        using other = capture(k);
        obs.reqbufsOtherFile = errnoOf(() => other.queue("capture").requestBuffers(1, "dmabuf"));
      }
      obs.qbuf = errnoOf(() => q.queue(0, buf));
      obs.flagsQueued = q.query(0).flags;
      obs.flagsIdle = q.query(1).flags;
      obs.qbufAgain = errnoOf(() => q.queue(0, buf));
      obs.dqbufNotStreaming = errnoOf(() => q.dequeue());
    } finally {
      release(q);
    }
    assert.equal(obs.qbufSmall, "EINVAL");
    assert.equal(obs.qbuf, "ok");
  }),

  vividCase("vivid: solid test patterns land byte-exact in system-heap buffers", async (k, obs) => {
    using cap = capture(k);
    const q = cap.queue("capture");
    const fmt = q.setFormat({ width: 640, height: 360, pixelformat: "YUYV" });
    using heap = openHeap("system", { kernel: k });
    using buf = heap.allocate(fmt.sizeimage, { name: "pattern" });
    q.requestBuffers(1, "dmabuf");
    try {
      for (const p of ["100% Black", "100% White", "100% Red", "100% Green", "100% Blue"]) {
        cap.setControl("Test Pattern", p);
        q.queue(0, buf);
        q.streamOn();
        const b = await q.next({ timeout: 20_000 });
        q.streamOff();
        using map = buf.map({ access: "read" });
        const [pixel, uniform] = map.read((bytes) => {
          for (let i = 4; i < fmt.sizeimage; i++) if (bytes[i] !== bytes[i & 3]) return [[], i];
          return [Array.from(bytes.subarray(0, 4)), true];
        });
        obs[p] = { pixel, uniform, bytesused: b.bytesused, flags: b.flags, index: b.index };
      }
    } finally {
      release(q);
    }
    assert.equal((obs["100% White"] as Observations).uniform, true);
  }),

  vividCase(
    "vivid: sequence numbers count up and every frame is sizeimage bytes",
    async (k, obs) => {
      using cap = capture(k);
      cap.setControl("Test Pattern", "100% Blue");
      const q = cap.queue("capture");
      const fmt = q.setFormat({ width: 640, height: 360, pixelformat: "YUYV" });
      using heap = openHeap("system", { kernel: k });
      const bufs = [0, 1, 2].map(() => heap.allocate(fmt.sizeimage));
      try {
        obs.granted = q.requestBuffers(3, "dmabuf");
        bufs.forEach((b, i) => q.queue(i, b));
        q.streamOn();
        const seqs: number[] = [], used = new Set<number>(), flags = new Set<number>();
        for (let n = 0; n < 6; n++) {
          const b = await q.next({ timeout: 20_000 });
          seqs.push(b.sequence);
          used.add(b.bytesused);
          flags.add(b.flags);
          q.queue(b.index, bufs[b.index]);
        }
        obs.increasing = seqs.every((s, i) => i === 0 || s > seqs[i - 1]);
        obs.bytesused = [...used];
        obs.flags = [...flags];
        obs.streamoffThenDqbuf = errnoOf(() => {
          q.streamOff();
          q.dequeue();
        });
      } finally {
        release(q);
        for (const b of bufs) b.close();
      }
      assert.equal(obs.increasing, true);
    },
  ),

  vividCase("vivid: HDMI loopback returns the CPU-written frame byte for byte", async (k, obs) => {
    using cap = capture(k);
    using out = output(k);
    cap.input = 3;
    out.output = 1;
    cap.setControl("HDMI 000-0 Is Connected To", "Output HDMI 000-0");
    const cq = cap.queue("capture"), oq = out.queue("output");
    const of = oq.getFormat();
    const cf = cq.setFormat({ width: of.width, height: of.height, pixelformat: of.pixelformat });
    obs.formats = [of.width, of.height, of.pixelformat, cf.width, cf.height, cf.sizeimage];
    using heap = openHeap("system", { kernel: k });
    using frame = heap.allocate(of.sizeimage, { name: "loop-out" });
    using inBuf = heap.allocate(cf.sizeimage, { name: "loop-in" });
    {
      using map = frame.map();
      map.write((b) => {
        for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 11)) & 0xff;
      });
    }
    try {
      oq.requestBuffers(1, "dmabuf");
      oq.queue(0, frame, { bytesused: of.sizeimage });
      oq.streamOn();
      cq.requestBuffers(1, "dmabuf");
      let matched = 0;
      for (let n = 0; n < 2; n++) {
        cq.queue(0, inBuf);
        if (!cq.streaming) cq.streamOn();
        const b = await cq.next({ timeout: 20_000 });
        using a = inBuf.map({ access: "read" });
        using w = frame.map({ access: "read" });
        const same = a.read((x) =>
          w.read((y) => x.subarray(0, cf.sizeimage).every((v, i) => v === y[i]))
        );
        if (same) matched++;
        obs.bytesused = b.bytesused;
      }
      obs.matched = matched;
      obs.outDqbufWithOneQueued = oq.dequeue() === null; // vivid keeps the last output buffer
    } finally {
      release(cq);
      release(oq);
      cap.input = 0;
      out.output = 0;
      cap.setControl("HDMI 000-0 Is Connected To", "Test Pattern Generator");
    }
    assert.equal(obs.matched, 2);
  }),

  vividCase(
    "vivid: MMAP buffers exported with EXPBUF are DmaBufs holding the frame",
    async (k, obs) => {
      using cap = capture(k);
      cap.setControl("Test Pattern", "100% White");
      const q = cap.queue("capture");
      const fmt = q.setFormat({ width: 640, height: 360, pixelformat: "YUYV" });
      obs.granted = q.requestBuffers(2, "mmap");
      const exported = [q.exportBuffer(0), q.exportBuffer(1)];
      try {
        obs.sizeAtLeastSizeimage = exported.map((b) => b.size >= fmt.sizeimage);
        obs.exporter = exported[0].exporter;
        obs.distinctInodes = exported[0].info().inode !== exported[1].info().inode;
        q.queueMmap(0);
        q.queueMmap(1);
        q.streamOn();
        const b = await q.next({ timeout: 20_000 });
        using map = exported[b.index].map({ access: "read" });
        obs.firstPixel = map.read((bytes) => Array.from(bytes.subarray(0, 4)));
        obs.bytesused = b.bytesused;
      } finally {
        for (const e of exported) e.close();
        release(q);
      }
      assert.deepEqual(obs.firstPixel, [234, 128, 234, 128]);
    },
  ),
];
