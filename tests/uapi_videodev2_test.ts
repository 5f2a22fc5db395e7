/**
 * Pins `src/uapi/videodev2.ts` — every ioctl number, struct size and field offset, and the
 * constants — against this machine's `<linux/videodev2.h>` compiled with gcc (as
 * `tests/uapi_test.ts` pins the dma-buf ones), after checking the literals the header gives.
 */
import assert from "node:assert/strict";
import * as v from "../src/uapi/videodev2.ts";
import { _IOC_SIZE } from "../src/uapi/ioctl.ts";
import { C_PROBE_MACROS, gccProbe, gccSkipReason } from "./_helpers.ts";

const LAYOUTS = {
  v4l2_capability: v.v4l2_capability,
  v4l2_fmtdesc: v.v4l2_fmtdesc,
  v4l2_format: v.v4l2_format,
  v4l2_pix_format: v.v4l2_pix_format,
  v4l2_pix_format_mplane: v.v4l2_pix_format_mplane,
  v4l2_plane_pix_format: v.v4l2_plane_pix_format,
  v4l2_requestbuffers: v.v4l2_requestbuffers,
  v4l2_buffer: v.v4l2_buffer,
  v4l2_plane: v.v4l2_plane,
  v4l2_exportbuffer: v.v4l2_exportbuffer,
  v4l2_query_ext_ctrl: v.v4l2_query_ext_ctrl,
  v4l2_querymenu: v.v4l2_querymenu,
  v4l2_control: v.v4l2_control,
  v4l2_ext_control: v.v4l2_ext_control,
  v4l2_ext_controls: v.v4l2_ext_controls,
  v4l2_input: v.v4l2_input,
  v4l2_output: v.v4l2_output,
} as const;

const IOCTLS = Object.fromEntries(
  Object.entries(v).filter(([k]) => k.startsWith("VIDIOC_") && k !== "VIDIOC_NAMES"),
) as Record<string, number>;

const CONSTANTS = Object.fromEntries(
  Object.entries(v).filter(([k, x]) =>
    typeof x === "number" && /^(V4L2_|VIDEO_MAX_PLANES)/.test(k)
  ),
) as Record<string, number>;

Deno.test("VIDIOC_* numbers from videodev2.h (x86_64 literals)", () => {
  assert.equal(v.VIDIOC_QUERYCAP, 0x80685600);
  assert.equal(v.VIDIOC_S_FMT, 0xC0D05605);
  assert.equal(v.VIDIOC_REQBUFS, 0xC0145608);
  assert.equal(v.VIDIOC_QBUF, 0xC058560F);
  assert.equal(v.VIDIOC_DQBUF, 0xC0585611);
  assert.equal(v.VIDIOC_EXPBUF, 0xC0405610);
  assert.equal(v.VIDIOC_STREAMON, 0x40045612);
  assert.equal(v.VIDIOC_QUERY_EXT_CTRL, 0xC0E85667);
  for (const [name, req] of Object.entries(IOCTLS)) {
    assert.equal(v.VIDIOC_NAMES[req], name, `${name} has its name for errors`);
  }
  assert.equal(_IOC_SIZE(v.VIDIOC_QBUF), v.v4l2_buffer.size);
  assert.equal(v.v4l2_fourcc("YUYV"), 0x56595559);
  assert.equal(v.fourccString(0x56595559), "YUYV");
});

const reason = gccSkipReason(["/usr/include/linux/videodev2.h"]);
if (reason) console.log(`uapi_videodev2_test: skipping the C header comparison: ${reason}`);

Deno.test({
  name: "videodev2 numbers, sizes and offsets equal the system header compiled with gcc",
  ignore: reason !== undefined,
  fn() {
    const lines: string[] = [];
    const ts: Record<string, number> = {};
    for (const [name, value] of Object.entries(IOCTLS)) {
      lines.push(`N(${name});`);
      ts[name] = value;
    }
    for (const [name, value] of Object.entries(CONSTANTS)) {
      lines.push(`N(${name});`);
      ts[name] = value;
    }
    for (const [struct, layout] of Object.entries(LAYOUTS)) {
      for (const [field, value] of Object.entries(layout)) {
        if (field === "size") {
          lines.push(`S(${struct});`);
          ts[`sizeof ${struct}`] = value;
        } else {
          // `size_` is the TS spelling of a C field named `size`.
          const f = field.replace(/_$/, "");
          lines.push(`O(${struct}, ${f});`);
          ts[`${struct}.${f}`] = value;
        }
      }
    }
    const c = gccProbe(`${C_PROBE_MACROS}
#include <linux/videodev2.h>
int main(void) { ${lines.join(" ")} printf("}\\n"); return 0; }
`);
    assert.equal(Object.keys(c).length, Object.keys(ts).length, "every TS value has a C twin");
    assert.deepEqual(ts, c);
  },
});
