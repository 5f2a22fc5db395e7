import assert from "node:assert/strict";
import { parseFdinfo } from "../src/dmabuf/fdinfo.ts";
import { heapRole, pickHeap } from "../src/heaps/roles.ts";

Deno.test("parseFdinfo() reads every field of a named buffer", () => {
  const info = parseFdinfo(
    "pos:\t0\nflags:\t02\nmnt_id:\t16\nino:\t42\nsize:\t4096\ncount:\t3\nexp_name:\treserved\nname:\ta:b\tc\n",
  );
  assert.deepEqual(info, {
    pos: 0,
    flags: 2,
    mntId: 16,
    inode: 42,
    size: 4096,
    count: 3,
    exporter: "reserved",
    name: "a:b\tc",
  });
});

Deno.test("parseFdinfo() keeps an empty name distinct from no name", () => {
  const base =
    "pos:\t0\nflags:\t02\nmnt_id:\t1\nino:\t1\nsize:\t4096\ncount:\t1\nexp_name:\tsystem\n";
  assert.equal(parseFdinfo(base)?.name, undefined);
  assert.equal(parseFdinfo(base + "name:\t\n")?.name, "");
});

Deno.test("parseFdinfo() returns undefined for fds that are not dma-bufs", () => {
  assert.equal(parseFdinfo("pos:\t0\nflags:\t0100002\nmnt_id:\t25\nino:\t1234\n"), undefined);
  assert.equal(parseFdinfo(""), undefined);
});

Deno.test("heapRole() recognises CMA heap names across kernel versions and device trees", () => {
  for (
    const n of [
      "default_cma_region",
      "reserved",
      "linux,cma",
      "default-pool",
      "global_cma@68000000",
    ]
  ) {
    assert.equal(heapRole(n), "contiguous", n);
  }
  for (const n of ["system-uncached", "qcom,secure-cma", "mtk_svp"]) {
    assert.equal(heapRole(n), undefined, n);
  }
  assert.equal(pickHeap(["system"], "contiguous"), undefined);
  assert.equal(pickHeap(["global_cma@68000000", "system"], "contiguous"), "global_cma@68000000");
  assert.equal(pickHeap(["reserved", "linux,cma"], "contiguous"), "reserved");
});
