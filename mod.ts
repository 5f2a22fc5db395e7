/**
 * dma-buf for Deno: allocate DMA buffers from the kernel's dma-heaps, map them, keep CPU caches
 * coherent and share them zero-copy — on real Linux through libc FFI, or on a simulated kernel
 * written in TypeScript that runs anywhere.
 *
 * @module
 */
export * from "./src/errors.ts";
export type * from "./src/kernel/types.ts";
