/**
 * Two drivers, one buffer, on the simulated kernel: `deno run examples/sim_two_drivers.ts` (no
 * permissions). Prints what the user program sees, then the kernel log.
 *
 * The seed's program makes no DMA_BUF_IOCTL_SYNC: it ran in qemu, whose caches are coherent. The
 * simulated machine is the seed's arm64 board with non-coherent caches, where a CPU store reaches
 * the device only once cleaned and the sanitizer reports a missing sync; so this program brackets
 * its CPU accesses with SYNC START/END, as a program for such a board must.
 *
 * @module
 */
import { simulatedKernel } from "@dmabuf/dmabuf/sim";
import { dma_heap_allocation_data as A, DMA_HEAP_IOCTL_ALLOC } from "../src/uapi/dma_heap.ts";
import { buf_info, TEST_DRIVERA, TEST_DRIVERB } from "../src/uapi/test_driver.ts";
import { MAP_SHARED, O_CLOEXEC, O_RDWR, PROT_READ, PROT_WRITE } from "../src/uapi/constants.ts";
import {
  DMA_BUF_IOCTL_SYNC,
  DMA_BUF_SYNC_END,
  DMA_BUF_SYNC_READ,
  DMA_BUF_SYNC_START,
  DMA_BUF_SYNC_WRITE,
} from "../src/uapi/dma_buf.ts";

const k = simulatedKernel();
const MiB = 1024 * 1024;

/* open dma-heap */
const heap_fd = k.open("/dev/dma_heap/global_cma@68000000", O_RDWR);
const data = k.userBuffer(A.size);
data.view.setBigUint64(A.len, BigInt(MiB), true);
data.view.setUint32(A.fd_flags, O_RDWR | O_CLOEXEC, true);
/* alloc buf */
k.ioctl(heap_fd, DMA_HEAP_IOCTL_ALLOC, data, "DMA_HEAP_IOCTL_ALLOC");
const buf_fd = data.view.getUint32(A.fd, true);
const p = k.mmap(buf_fd, MiB, PROT_READ | PROT_WRITE, MAP_SHARED, 0);
const sync = k.userBuffer(8);
/** DMA_BUF_IOCTL_SYNC START(dir), the access, END(dir). */
const cpuAccess = <T>(dir: number, access: () => T): T => {
  sync.view.setBigUint64(0, BigInt(DMA_BUF_SYNC_START | dir), true);
  k.ioctl(buf_fd, DMA_BUF_IOCTL_SYNC, sync, "DMA_BUF_IOCTL_SYNC");
  try {
    return access();
  } finally {
    sync.view.setBigUint64(0, BigInt(DMA_BUF_SYNC_END | dir), true);
    k.ioctl(buf_fd, DMA_BUF_IOCTL_SYNC, sync, "DMA_BUF_IOCTL_SYNC");
  }
};
const cstr = () =>
  cpuAccess(DMA_BUF_SYNC_READ, () => {
    const b = new Uint8Array(p.buffer, p.byteOffset, p.length);
    return new TextDecoder().decode(b.subarray(0, b.indexOf(0)));
  });

/* driver A */
const fda = k.open("/dev/driverA", O_RDWR);
const infoa = k.userBuffer(buf_info.size);
infoa.view.setInt32(buf_info.fd, buf_fd, true);
infoa.view.setBigUint64(buf_info.buf, BigInt(p.address), true);
infoa.view.setUint32(buf_info.size_, MiB, true);
cpuAccess(DMA_BUF_SYNC_WRITE, () => {
  new Uint8Array(p.buffer, p.byteOffset).set(new TextEncoder().encode("driverA: userspace!\0"));
});
k.ioctl(fda, TEST_DRIVERA, infoa, "TEST_DRIVERA");
console.log(`driverA buf = ${cstr()}`);

/* driver B */
const fdb = k.open("/dev/driverB", O_RDWR);
const infob = k.userBuffer(buf_info.size);
infob.bytes.set(infoa.bytes);
k.ioctl(fdb, TEST_DRIVERB, infob, "TEST_DRIVERB");
console.log(`driverB buf = ${cstr()}`);

console.log("\n$ dmesg | tail -6");
console.log(k.syslog().trimEnd().split("\n").slice(-6).join("\n"));
