/**
 * kernel/dma/mapping.c with the direct mapping (no IOMMU): a device's DMA mask, and
 * `dma_map_sgtable`, which refuses a device without a mask (`WARN_ON_ONCE(!dev->dma_mask)`,
 * then -EIO) and otherwise hands out physical addresses as bus addresses.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import type { device, sg_table } from "./dma_buf.ts";
import type { WarnSink } from "./bug.ts";

/** `DMA_BIT_MASK(n)`. */
export function DMA_BIT_MASK(n: number): bigint {
  return n >= 64 ? 0xffff_ffff_ffff_ffffn : (1n << BigInt(n)) - 1n;
}

/**
 * `dma_set_mask_and_coherent(dev, mask)`.
 *
 * @throws {KernelError} EIO for a mask too small for the machine's memory (below 24 bits).
 */
export function dma_set_mask_and_coherent(dev: device, mask: bigint): void {
  if (mask < DMA_BIT_MASK(24)) fail(Errno.EIO);
  dev.dma_mask = mask;
}

/**
 * `dma_map_sgtable(dev, sgt, dir, attrs)` for dma-direct: the table as it is, once the device
 * has a DMA mask. (Addresses above the mask would bounce through swiotlb on Linux; the model's
 * RAM is below 4 GiB by default, so nothing bounces.)
 *
 * @throws {KernelError} EIO when the device has no DMA mask.
 */
export function dma_map_sgtable(sink: WarnSink, dev: device, sgt: sg_table): sg_table {
  if (dev.dma_mask === null) {
    sink.WARN(
      "dma-mask-missing",
      "kernel/dma/mapping.c",
      "__dma_map_sg_attrs",
      `${dev.name}: DMA mapping for a device without a DMA mask`,
    );
    fail(Errno.EIO);
  }
  return sgt;
}
