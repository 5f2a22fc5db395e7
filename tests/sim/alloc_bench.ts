/**
 * The simulated kernel's allocate+close cost through the raw syscall boundary:
 * `deno bench tests/sim/alloc_bench.ts` (no permissions). Flat with 100 000 live buffers.
 */
import { SimMachine } from "../../src/sim/mod.ts";
import { dma_heap_allocation_data as A, DMA_HEAP_IOCTL_ALLOC } from "../../src/uapi/dma_heap.ts";
import { O_CLOEXEC, O_RDWR } from "../../src/uapi/constants.ts";

function setup(live: number) {
  const k = new SimMachine({ memorySize: 2 * 1024 ** 3 }).process();
  const heap = k.open("/dev/dma_heap/system", O_RDWR);
  const ub = k.userBuffer(A.size);
  const alloc = (len: number) => {
    ub.view.setUint32(A.len, len, true);
    ub.view.setUint32(A.fd, 0, true);
    ub.view.setUint32(A.fd_flags, O_RDWR | O_CLOEXEC, true);
    k.ioctl(heap, DMA_HEAP_IOCTL_ALLOC, ub, "DMA_HEAP_IOCTL_ALLOC");
    return ub.view.getUint32(A.fd, true);
  };
  for (let i = 0; i < live; i++) alloc(4096);
  return { k, alloc };
}

for (const live of [0, 100_000]) {
  const { k, alloc } = setup(live);
  Deno.bench(`allocate+close 4 KiB, ${live} live buffers`, {
    group: "live",
    baseline: live === 0,
  }, () => {
    k.close(alloc(4096));
  });
}

const { k, alloc } = setup(0);
for (const size of [4096, 65536, 1 << 20, 16 << 20]) {
  Deno.bench(
    `allocate+close ${size / 1024} KiB`,
    { group: "size", baseline: size === 4096 },
    () => {
      k.close(alloc(size));
    },
  );
}
