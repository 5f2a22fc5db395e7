/**
 * Lists the V4L2 video nodes: QUERYCAP, the capture/output formats, inputs, outputs and every
 * control (menus with their items). With `--patterns`, captures one frame per solid test
 * pattern ("100% Black/White/Red/Green/Blue") from the first capture node and prints its first
 * pixels and whether the whole frame is that one colour.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/v4l2_info.ts [--patterns]
 */
import { parseArgs } from "node:util";
import { kernelSelection, openHeap } from "@dmabuf/dmabuf";
import {
  findVideoDevice,
  openVideoDevice,
  V4L2_CAP_STREAMING,
  V4L2_CAP_VIDEO_CAPTURE,
} from "@dmabuf/dmabuf/v4l2";

const { values } = parseArgs({ args: Deno.args, options: { patterns: { type: "boolean" } } });
const k = kernelSelection().kernel;
console.log(`kernel: ${k.description}`);
const nodes = k.readDir("/dev").filter((n) => /^video\d+$/.test(n));
for (const n of nodes) {
  using dev = openVideoDevice(`/dev/${n}`);
  const c = dev.capability;
  console.log(
    `/dev/${n}: ${c.driver} "${c.card}" ${c.busInfo} caps 0x${c.capabilities.toString(16)} ` +
      `device_caps 0x${c.deviceCaps.toString(16)}`,
  );
  for (const dir of ["capture", "output"] as const) {
    let q;
    try {
      q = dev.queue(dir);
    } catch {
      continue;
    }
    const f = q.getFormat();
    console.log(
      `  ${dir}: ${f.width}x${f.height} ${f.pixelformat} field ${f.field} colorspace ` +
        `${f.colorspace} bytesperline ${f.bytesperline} sizeimage ${f.sizeimage}`,
    );
    console.log(`  ${dir} formats: ${q.formats().map((x) => x.pixelformat).join(" ")}`);
  }
  const ins = dev.inputs(), outs = dev.outputs();
  if (ins.length) console.log(`  inputs: ${ins.map((p) => `${p.index}:${p.name}`).join(", ")}`);
  if (outs.length) console.log(`  outputs: ${outs.map((p) => `${p.index}:${p.name}`).join(", ")}`);
  for (const ctl of dev.controls()) {
    let line = `  control 0x${ctl.id.toString(16)} "${ctl.name}" type ${ctl.type} ` +
      `[${ctl.minimum}..${ctl.maximum}/${ctl.step}] default ${ctl.defaultValue} flags 0x${
        ctl.flags.toString(16)
      }`;
    if (ctl.type === 3) {
      line += ` menu {${[...dev.menu(ctl)].map(([i, s]) => `${i}:${s}`).join(", ")}}`;
    }
    console.log(line);
  }
}

if (values.patterns) {
  using dev = findVideoDevice({ capabilities: V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING });
  dev.setControl("OSD Text Mode", "None");
  const q = dev.queue("capture");
  const fmt = q.setFormat({ width: 640, height: 360, pixelformat: "YUYV" });
  using heap = openHeap("system");
  using buf = heap.allocate(fmt.sizeimage);
  q.requestBuffers(1, "dmabuf");
  for (const p of ["100% Black", "100% White", "100% Red", "100% Green", "100% Blue"]) {
    dev.setControl("Test Pattern", p);
    q.queue(0, buf);
    q.streamOn();
    const b = await q.next({ timeout: 10_000 });
    using map = buf.map({ access: "read" });
    const [head, uniform] = map.read((bytes) => {
      let same = true;
      for (let i = 4; i < fmt.sizeimage; i++) if (bytes[i] !== bytes[i & 3]) same = false;
      return [Array.from(bytes.subarray(0, 8)), same] as const;
    });
    console.log(
      `pattern "${p}": sequence ${b.sequence} flags 0x${b.flags.toString(16)} bytesused ` +
        `${b.bytesused} first bytes ${head.join(",")} uniform ${uniform}`,
    );
    q.streamOff();
  }
  q.requestBuffers(0, "dmabuf");
}
