/**
 * A buffer or fence of one kernel handed to an object of another (two simulated machines, or a
 * simulated process and Linux) is refused with EXDEV before any system call: its fd number means
 * nothing there, or — worse — names another buffer of that process.
 */
import assert from "node:assert/strict";
import { openHeap } from "../mod.ts";
import { createSimMachine } from "../src/sim/mod.ts";
import { createBufferPool, openStage, Pipeline } from "../src/pipeline/mod.ts";
import { sendDmaBuf, UnixSocket } from "../src/share/mod.ts";
import { openVideoDevice } from "../src/v4l2/mod.ts";

/** Two machines whose first buffers have the same fd number. */
function twoMachines() {
  const a = createSimMachine().process(), b = createSimMachine().process();
  const heapA = openHeap("system", { kernel: a }), heapB = openHeap("system", { kernel: b });
  const bufA = heapA.allocate(4096, { name: "a" }), bufB = heapB.allocate(4096, { name: "b" });
  assert.equal(bufA.fd, bufB.fd);
  const close = () => [bufA, bufB, heapA, heapB].forEach((o) => o.close());
  return { a, b, heapA, bufA, bufB, close };
}

Deno.test("[simulated] Stage.queue of another kernel's buffer is EXDEV and leaves that fd's buffer alone", async () => {
  const { b, bufA, bufB, close } = twoMachines();
  using stage = openStage("/dev/driverA", { op: "invert", kernel: b });
  assert.throws(() => stage.queue(bufA, 1), { code: "EXDEV", syscall: "ioctl(TEST_QUEUE)" });
  assert.throws(() => stage.tryQueue(bufA, 1), { code: "EXDEV" });
  assert.throws(() => stage.queue({} as never, 1), { name: "TypeError", code: "EINVAL" });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(stage.dequeue(), null);
  assert.equal(bufB.map().read((x) => x[0]), 0, "the other machine's buffer was not inverted");
  close();
});

Deno.test("[simulated] a Pipeline whose pool is on another kernel than its stages is refused", () => {
  const { b, heapA, close } = twoMachines();
  using stage = openStage("/dev/driverA", { op: "invert", kernel: b });
  using pool = createBufferPool(heapA, { count: 1, size: 4096 });
  assert.throws(() => new Pipeline([stage], pool), { name: "TypeError", code: "EINVAL" });
  close();
});

Deno.test("[simulated] sendDmaBuf of another kernel's buffer is EXDEV", () => {
  const { b, bufA, close } = twoMachines();
  const [s, r] = UnixSocket.pair({ kernel: b });
  assert.throws(() => sendDmaBuf(s, bufA), { code: "EXDEV", syscall: "sendmsg" });
  s.close();
  r.close();
  close();
});

Deno.test("[simulated] importSyncFile of another kernel's sync file is EXDEV", () => {
  const { bufA, bufB, close } = twoMachines();
  using fence = bufB.exportSyncFile("read");
  assert.throws(() => bufA.importSyncFile(fence, "write"), {
    code: "EXDEV",
    syscall: "ioctl(DMA_BUF_IOCTL_IMPORT_SYNC_FILE)",
  });
  close();
});

Deno.test("[simulated] VIDIOC_QBUF of another kernel's buffer is EXDEV", () => {
  const { b, bufA, close } = twoMachines();
  using dev = openVideoDevice("/dev/video0", { kernel: b });
  const q = dev.queue("capture");
  q.requestBuffers(1, "dmabuf");
  assert.throws(() => q.queue(0, bufA), { code: "EXDEV", syscall: "ioctl(VIDIOC_QBUF)" });
  q.requestBuffers(0);
  close();
});
