import assert from "node:assert/strict";
import { SimMachine } from "../../src/sim/mod.ts";
import {
  mm_struct,
  MMAP_BASE,
  MMAP_MIN,
  TASK_SIZE,
  USER_HEAP_BASE,
  type vm_area_struct,
} from "../../src/sim/mmap.ts";
import { PAGE_SIZE } from "../../src/sim/mm.ts";
import { alloc } from "./_helpers.ts";
import { MAP_SHARED, O_RDWR, PROT_READ } from "../../src/uapi/constants.ts";

const MiB = 1 << 20;

function vma(vm_start: number, vm_end: number): vm_area_struct {
  return {
    vm_start,
    vm_end,
    vm_pgoff: 0,
    vm_flags: 0,
    vm_file: null,
    vm_store: null,
    vm_store_offset: 0,
  };
}

Deno.test("mmap layout: arm64 with 48-bit user addresses, top-down from mmap_base", () => {
  // arch/arm64/include/asm/processor.h: DEFAULT_MAP_WINDOW_64 = 1 << 48; mm/util.c mmap_base()
  // without randomization: STACK_TOP - MIN_GAP (128 MiB).
  assert.equal(TASK_SIZE, 2 ** 48);
  assert.equal(MMAP_BASE, 0xffff_f800_0000);
  // arch/arm64/include/asm/elf.h: ELF_ET_DYN_BASE = 2 * DEFAULT_MAP_WINDOW_64 / 3.
  assert.ok(USER_HEAP_BASE > Math.floor((2 * 2 ** 48) / 3));
  assert.ok(USER_HEAP_BASE < MMAP_MIN);

  const k = new SimMachine().process();
  const fd = alloc(k, k.open("/dev/dma_heap/global_cma@68000000", O_RDWR), MiB);
  const a = k.mmap(fd, MiB, PROT_READ, MAP_SHARED, 0);
  const b = k.mmap(fd, MiB, PROT_READ, MAP_SHARED, 0);
  // The first 1 MiB mapping ends at mmap_base; the next one sits below it, a guard page apart.
  assert.equal(a.address, MMAP_BASE - MiB);
  assert.equal(b.address, a.address - PAGE_SIZE - MiB);
  // As the driver prints it (%px): the 0x0000ffff… of the real arm64 guest, not x86's 0x00007f….
  assert.match(`0x${a.address.toString(16).padStart(16, "0")}`, /^0x0000ffff[0-9a-f]{8}$/);
  k.munmap(b);
  k.munmap(a);
});

Deno.test("mmap layout: first fit in the holes once the bump pointer reaches MMAP_MIN", () => {
  const mm = new mm_struct();
  // One mapping from MMAP_MIN up to three pages below mmap_base uses up the bump pointer.
  mm.insert_vm_struct(vma(MMAP_MIN, MMAP_BASE - 3 * PAGE_SIZE));
  // Above it: room for one page with a guard page between (the top needs no guard).
  assert.equal(mm.get_unmapped_area(PAGE_SIZE), MMAP_BASE - PAGE_SIZE);
  assert.equal(mm.get_unmapped_area(2 * PAGE_SIZE), MMAP_BASE - 2 * PAGE_SIZE);
  // Three pages do not fit with the guard page: no room anywhere (do_mmap turns it into ENOMEM).
  assert.equal(mm.get_unmapped_area(3 * PAGE_SIZE), -1);
  // After the hole is used, nothing is left.
  mm.insert_vm_struct(vma(MMAP_BASE - 2 * PAGE_SIZE, MMAP_BASE));
  assert.equal(mm.get_unmapped_area(PAGE_SIZE), -1);
  // Unmapping the lowest mapping gives its whole range back to the bump pointer.
  mm.remove_vma(MMAP_MIN);
  assert.equal(mm.get_unmapped_area(PAGE_SIZE), MMAP_BASE - 4 * PAGE_SIZE);
});
