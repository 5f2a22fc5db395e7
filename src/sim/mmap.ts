/**
 * mm/mmap.c in miniature: a process's address space (`struct mm_struct`) as a set of VMAs, and
 * the user memory that `userBuffer()` hands out (the model's `malloc`).
 *
 * The layout is arm64's with 48-bit user virtual addresses, the simulated board's (the seed's arm64
 * board; Debian's arm64 kernels): addresses are plain numbers below 2^48. VMAs from `mmap` are
 * placed top-down below {@linkcode MMAP_BASE}, as the kernel's default (top-down) mmap layout does,
 * user buffers bottom-up from {@linkcode USER_HEAP_BASE}; each kind is kept sorted by address so
 * `find_vma` is a binary search.
 *
 * @module
 */
import type { MappedRegion } from "../kernel/types.ts";
import { MAP_PRIVATE, MAP_SHARED, PROT_READ, PROT_WRITE } from "../uapi/constants.ts";
import { Errno, fail, is_int } from "./errno.ts";
import { type file, FMODE_READ, FMODE_WRITE, fput, get_file } from "./file_table.ts";
import type { MemStore } from "./mm.ts";
import { PAGE_SIZE } from "./mm.ts";

/**
 * The end of user space for `mmap` on arm64: `DEFAULT_MAP_WINDOW_64` = 1 << 48
 * (arch/arm64/include/asm/processor.h; a kernel with 52-bit VAs still maps below it unless a hint
 * asks for more).
 */
export const TASK_SIZE = 2 ** 48;
/**
 * Where `mmap` places mappings, downwards: `mmap_base()` (mm/util.c) without randomization,
 * `STACK_TOP` (= `TASK_SIZE` for a 64-bit task) minus the gap for the stack, which is at least
 * `MIN_GAP` (128 MiB; the default 8 MiB stack limit plus the guard gap is less): 0xfffff8000000.
 * With ASLR the real kernel lowers it by a random amount (the arm64 guest printed
 * 0x0000ffff9a530000 for the seed demo's buffer).
 */
export const MMAP_BASE = TASK_SIZE - 128 * 1024 * 1024;
/** The lowest address the model's `mmap` uses; user buffers live below it. */
export const MMAP_MIN = 0xc000_0000_0000;
/**
 * Where user buffers (the model's malloc heap) start: above arm64's `ELF_ET_DYN_BASE`
 * (2 · `DEFAULT_MAP_WINDOW_64` / 3 = 0xaaaaaaaaaaaa, arch/arm64/include/asm/elf.h), where a PIE
 * program and then its brk heap are loaded.
 */
export const USER_HEAP_BASE = 0xaaaa_aaab_0000;

/** `VM_READ`. */
export const VM_READ = 0x1;
/** `VM_WRITE`. */
export const VM_WRITE = 0x2;
/** `VM_SHARED`. */
export const VM_SHARED = 0x8;
/** `VM_MAYSHARE`. */
export const VM_MAYSHARE = 0x80;
/** `MAP_SHARED_VALIDATE`: MAP_SHARED that fails on unknown flags. */
export const MAP_SHARED_VALIDATE = 0x03;
/** `MAP_TYPE`: the mask of the mapping type bits. */
export const MAP_TYPE = 0x0f;

/** `struct vm_area_struct` (what the model needs). */
export interface vm_area_struct {
  /** First address. */
  readonly vm_start: number;
  /** One past the last address. */
  readonly vm_end: number;
  /** File offset in pages. */
  readonly vm_pgoff: number;
  /** VM_* flags. */
  readonly vm_flags: number;
  /** The mapped file (its reference belongs to the VMA). */
  readonly vm_file: file | null;
  /** Set by the file's mmap op: the memory the VMA shows. */
  vm_store: MemStore | null;
  /** Where `vm_start` lies inside `vm_store`. */
  vm_store_offset: number;
  /** `vm_ops->close`, set by the mmap op when it needs to know of the unmap. */
  vm_close?: () => void;
  /** `vm_ops->fault`: brings `vm_store` up to date before user space reads it. */
  vm_fault?: () => void;
  /** Called after the kernel wrote user memory through this VMA (`copy_to_user`). */
  vm_written?: () => void;
}

/** A user buffer registered in the address space. */
interface UserRegion {
  readonly start: number;
  readonly end: number;
  readonly bytes: WeakRef<Uint8Array>;
}

/** Where a user address lands: bytes to read or write, and whether writing is allowed. */
export interface UserMemory {
  /** A fresh view from the address to the end of its region. */
  readonly bytes: Uint8Array;
  /** Whether the region is writable. */
  readonly writable: boolean;
  /** To call after writing the bytes. */
  readonly written?: () => void;
  /** The file mapped there, for memory inside a VMA that maps one. */
  readonly file?: file | null;
}

function bsearch<T>(list: readonly T[], addr: number, start: (t: T) => number): number {
  let lo = 0, hi = list.length - 1, found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (start(list[mid]) <= addr) (found = mid), (lo = mid + 1);
    else hi = mid - 1;
  }
  return found;
}

/** `struct mm_struct`. */
export class mm_struct {
  readonly #vmas: vm_area_struct[] = [];
  #mmap_next = MMAP_BASE;
  readonly #heap = new Map<number, UserRegion>();
  #heap_sorted: UserRegion[] = [];
  #heap_dead = 0;
  #heap_next = USER_HEAP_BASE;
  readonly #registry = new FinalizationRegistry<number>((start) => {
    if (this.#heap.delete(start)) this.#heap_dead++;
    if (this.#heap_dead > 64 && this.#heap_dead * 2 > this.#heap_sorted.length) {
      this.#heap_sorted = this.#heap_sorted.filter((r) => this.#heap.has(r.start));
      this.#heap_dead = 0;
    }
  });

  /**
   * `get_unmapped_area()` of the top-down layout: a free page-aligned range of `len` bytes just
   * below the lowest mapping (one guard page between them), or -1 when the model's mmap area
   * (`MMAP_MIN` to `MMAP_BASE`) has no room.
   */
  get_unmapped_area(len: number): number {
    const addr = this.#mmap_next - len;
    if (addr >= MMAP_MIN) return addr;
    // The bump pointer reached the bottom: first fit from the top in the holes munmap left,
    // keeping one guard page above each mapping (a process that maps and unmaps forever must not
    // run out).
    let end = MMAP_BASE;
    for (let i = this.#vmas.length - 1; i >= 0; i--) {
      const v = this.#vmas[i];
      if (v.vm_start >= end) continue;
      if (v.vm_end + PAGE_SIZE + len <= end) return end - len;
      end = v.vm_start - PAGE_SIZE;
    }
    return end - len >= MMAP_MIN ? end - len : -1;
  }

  /** Inserts a VMA at its place in address order. */
  insert_vm_struct(vma: vm_area_struct): void {
    const vmas = this.#vmas;
    if (vmas.length === 0 || vmas[vmas.length - 1].vm_start < vma.vm_start) vmas.push(vma);
    else vmas.splice(bsearch(vmas, vma.vm_start, (v) => v.vm_start) + 1, 0, vma);
    // One guard page between mappings, so an overrun of one is a fault, not the next one.
    this.#mmap_next = Math.min(this.#mmap_next, vma.vm_start - PAGE_SIZE);
  }

  /** `find_vma_intersection`-like: the VMA containing `addr`, or undefined. */
  find_vma(addr: number): vm_area_struct | undefined {
    const i = bsearch(this.#vmas, addr, (v) => v.vm_start);
    const v = i >= 0 ? this.#vmas[i] : undefined;
    return v && addr < v.vm_end ? v : undefined;
  }

  /** Removes the VMA that starts at `addr` and returns it, or undefined. */
  remove_vma(addr: number): vm_area_struct | undefined {
    const i = bsearch(this.#vmas, addr, (v) => v.vm_start);
    if (i < 0 || this.#vmas[i].vm_start !== addr) return undefined;
    const [vma] = this.#vmas.splice(i, 1);
    // Unmapping the lowest mapping gives its range back to the bump pointer (LIFO reuse).
    if (i === 0) {
      const first = this.#vmas[0];
      this.#mmap_next = first ? first.vm_start - PAGE_SIZE : MMAP_BASE;
    }
    return vma;
  }

  /** Number of VMAs (`map_count`). */
  get map_count(): number {
    return this.#vmas.length;
  }

  /** The VMAs in address order (for `/proc/self/maps`). */
  vmas(): readonly vm_area_struct[] {
    return this.#vmas;
  }

  /** Registers `bytes` as user memory and returns its address (16-byte aligned, like malloc). */
  user_alloc(bytes: Uint8Array): number {
    const start = this.#heap_next;
    this.#heap_next += Math.max(16, Math.ceil(bytes.length / 16) * 16) + 16;
    const r: UserRegion = { start, end: start + bytes.length, bytes: new WeakRef(bytes) };
    this.#heap.set(start, r);
    this.#heap_sorted.push(r);
    this.#registry.register(bytes, start);
    return start;
  }

  /**
   * Resolves a user address to memory, as a page-table walk would.
   *
   * @returns The memory, or undefined when nothing is mapped there (a fault).
   */
  resolve(addr: number): UserMemory | undefined {
    if (!Number.isSafeInteger(addr) || addr <= 0) return undefined;
    if (addr >= MMAP_MIN) {
      const v = this.find_vma(addr);
      if (!v || !v.vm_store) return undefined;
      v.vm_fault?.();
      const off = v.vm_store_offset + (addr - v.vm_start);
      const buf = v.vm_store.current;
      const end = Math.min(v.vm_store_offset + (v.vm_end - v.vm_start), buf.byteLength);
      if (off >= end) return undefined;
      return {
        bytes: new Uint8Array(buf, off, end - off),
        writable: (v.vm_flags & VM_WRITE) !== 0,
        written: v.vm_written,
        file: v.vm_file,
      };
    }
    let r = this.#heap.get(addr);
    if (!r) {
      const i = bsearch(this.#heap_sorted, addr, (x) => x.start);
      r = i >= 0 ? this.#heap_sorted[i] : undefined;
      if (r && !this.#heap.has(r.start)) r = undefined;
    }
    const bytes = r?.bytes.deref();
    if (!r || !bytes || addr >= r.end) return undefined;
    return { bytes: addr === r.start ? bytes : bytes.subarray(addr - r.start), writable: true };
  }
}

/** The live memory of one mapping: what `mmap` returns to user space. */
class SimRegion implements MappedRegion {
  readonly address: number;
  readonly length: number;
  readonly offset: number;
  readonly byteOffset: number;
  readonly #vma: vm_area_struct;
  constructor(vma: vm_area_struct, offset: number) {
    this.#vma = vma;
    this.address = vma.vm_start;
    this.length = vma.vm_end - vma.vm_start;
    this.offset = offset;
    this.byteOffset = vma.vm_store_offset;
  }
  /** The store's current ArrayBuffer (re-read it: see README "Memory and aliasing"). */
  get buffer(): ArrayBuffer {
    this.#vma.vm_fault?.();
    return this.#vma.vm_store!.current;
  }
}

/**
 * `ksys_mmap_pgoff()` → `do_mmap()`: maps `length` bytes of `f` from byte `offset`, checking the
 * arguments in Linux's order, and calls the file's `mmap`.
 *
 * @throws {KernelError} EINVAL for a bad length, offset or type; EACCES when the file's mode
 * does not allow the protection; ENODEV when the file cannot be mapped; ENOMEM when the address
 * space is full.
 */
export function do_mmap(
  mm: mm_struct,
  f: file,
  length: number,
  prot: number,
  flags: number,
  offset: number,
): MappedRegion {
  if (length <= 0) fail(Errno.EINVAL);
  const len = Math.ceil(length / PAGE_SIZE) * PAGE_SIZE;
  if (len > TASK_SIZE) fail(Errno.ENOMEM);
  let vm_flags = (prot & PROT_READ ? VM_READ : 0) | (prot & PROT_WRITE ? VM_WRITE : 0);
  switch (flags & MAP_TYPE) {
    case MAP_SHARED:
    case MAP_SHARED_VALIDATE:
      if ((prot & PROT_WRITE) && !(f.f_mode & FMODE_WRITE)) fail(Errno.EACCES);
      vm_flags |= VM_SHARED | VM_MAYSHARE;
      if (!(f.f_mode & FMODE_READ)) fail(Errno.EACCES);
      break;
    case MAP_PRIVATE:
      if (!(f.f_mode & FMODE_READ)) fail(Errno.EACCES);
      break;
    default:
      fail(Errno.EINVAL);
  }
  if (!f.f_op.mmap) fail(Errno.ENODEV);
  const vm_start = mm.get_unmapped_area(len);
  if (vm_start < 0) fail(Errno.ENOMEM);
  const vma: vm_area_struct = {
    vm_start,
    vm_end: vm_start + len,
    vm_pgoff: offset / PAGE_SIZE,
    vm_flags,
    vm_file: get_file(f),
    vm_store: null,
    vm_store_offset: 0,
  };
  try {
    f.f_op.mmap(f, vma);
  } catch (e) {
    fput(f);
    throw e;
  }
  if (!vma.vm_store) {
    fput(f);
    fail(Errno.ENODEV);
  }
  mm.insert_vm_struct(vma);
  return new SimRegion(vma, offset);
}

/**
 * Checks `mmap`'s integer arguments before the fd is looked up, as `ksys_mmap_pgoff()` does.
 *
 * @throws {KernelError} EINVAL for a non-integer argument or an offset that is not page aligned.
 */
export function mmap_check_args(
  length: number,
  prot: number,
  flags: number,
  offset: number,
): void {
  if (!is_int(length) || !is_int(offset) || !is_int(prot) || !is_int(flags)) fail(Errno.EINVAL);
  if (offset < 0 || offset % PAGE_SIZE) fail(Errno.EINVAL);
}

/** Tears one VMA down: views emptied, the driver's close, the file reference dropped. */
function remove_vma(vma: vm_area_struct): void {
  vma.vm_store?.revoke();
  vma.vm_close?.();
  if (vma.vm_file) fput(vma.vm_file);
}

/**
 * `vm_munmap()` of the mapping `region` describes (the whole mapping: no VMA splits). Unmapping
 * nothing succeeds.
 *
 * @throws {KernelError} EINVAL for a bad or unaligned address.
 */
export function vm_munmap(mm: mm_struct, region: MappedRegion): void {
  if (!region || !is_int(region.address)) fail(Errno.EINVAL);
  if (region.address % PAGE_SIZE) fail(Errno.EINVAL);
  const vma = mm.remove_vma(region.address);
  if (vma) remove_vma(vma);
}

/** `exit_mmap()`: unmaps every mapping of an exiting process. */
export function exit_mmap(mm: mm_struct): void {
  for (const vma of [...mm.vmas()]) {
    mm.remove_vma(vma.vm_start);
    remove_vma(vma);
  }
}
