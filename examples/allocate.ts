/**
 * Allocate a buffer from the system heap, name it, fill it with CPU cache maintenance, read it
 * back and show what the kernel reports about it.
 *
 *   deno run --allow-ffi --allow-read --allow-env examples/allocate.ts [heap] [size]
 *
 * On a machine without /dev/dma_heap it runs on the simulated kernel.
 */
import { kernelSelection, listHeaps, openHeap } from "@dmabuf/dmabuf";

const heapName = Deno.args[0] ?? "system";
const size = Number(Deno.args[1] ?? 1 << 20);

const { kernel, reason } = kernelSelection();
console.log(`kernel: ${kernel.kind} — ${kernel.description} (${reason})`);
for (const h of listHeaps()) {
  console.log(
    `heap ${h.name.padEnd(24)} role=${h.role ?? "-"} ${h.accessible ? "ok" : h.error}`,
  );
}

using heap = openHeap(heapName);
using buf = heap.allocate(size, { name: "frame-0" });
using map = buf.map();
map.write((bytes) => bytes.fill(0x42));
const sum = map.read((bytes) => bytes.reduce((a, b) => a + b, 0));
console.log(
  `allocated ${buf.size} bytes from ${heap.path}, fd ${buf.fd}, mapped at 0x${
    map.address.toString(16)
  }`,
);
console.log(`byte sum after fill(0x42): ${sum} (expected ${0x42 * buf.size})`);
console.log("fdinfo:", buf.info());
