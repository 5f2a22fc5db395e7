/**
 * The simulated kernel revokes views on munmap by moving a buffer's memory to a new ArrayBuffer
 * (`transfer()`). If that move copied, munmap would cost time proportional to the size; the
 * two groups below should be flat across sizes.
 */
import { createSimMachine } from "../src/sim/mod.ts";
import { MAP_SHARED, O_RDWR, PROT_READ, PROT_WRITE } from "../src/uapi/constants.ts";
import { dma_heap_allocation_data as D, DMA_HEAP_IOCTL_ALLOC } from "../src/uapi/dma_heap.ts";

const MiB = 1 << 20;
const machine = createSimMachine({ memorySize: 1024 * MiB });
const k = machine.process();
const heap = k.open("/dev/dma_heap/system", O_RDWR);

for (const size of [4096, MiB, 256 * MiB]) {
  const arg = k.userBuffer(D.size);
  arg.view.setUint32(D.len, size % 2 ** 32, true);
  arg.view.setUint32(D.fd_flags, O_RDWR, true);
  k.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, arg);
  const fd = arg.view.getInt32(D.fd, true);
  Deno.bench({
    name: `mmap+munmap ${size / 1024} KiB`,
    group: "sim munmap is a move, not a copy",
    baseline: size === 4096,
    fn() {
      k.munmap(k.mmap(fd, size, PROT_READ | PROT_WRITE, MAP_SHARED, 0));
    },
  });
}
