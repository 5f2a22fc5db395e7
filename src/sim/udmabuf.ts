/**
 * drivers/dma-buf/udmabuf.c (not yet implemented: `/dev/udmabuf` does not exist yet).
 *
 * @module
 */
import type { SimMachine } from "./machine.ts";

/** `udmabuf_dev_init()`: registers `/dev/udmabuf` (not yet). */
export function udmabuf_dev_init(_m: SimMachine): void {}
