/**
 * drivers/dma-buf/udmabuf.c: `/dev/udmabuf` turns pages of sealed memfds into a dma-buf.
 * `UDMABUF_CREATE` and `UDMABUF_CREATE_LIST` return the new fd as the ioctl's value; the checks
 * and errnos follow 6.12 (EBADFD for a missing or non-shmem memfd, F_SEAL_SHRINK required,
 * page alignment, the 64 MiB and 1024-item limits). The udmabuf's pages *are* the memfd's pages.
 *
 * Aliasing: a udmabuf made of one contiguous range of one memfd shows the memfd's own bytes
 * (mmap, vmap and physical reads are the same memory). A udmabuf made of several ranges cannot
 * be one contiguous ArrayBuffer in JS: its mappings show a copy that is refreshed from the memfd
 * pages whenever it is read anew (`region.buffer`, `map.bytes`, SYNC START) and written back on
 * SYNC END, vunmap and munmap (see README, "Known differences").
 *
 * CPU caches (a non-coherent machine). udmabuf's pages are cached on arm64, and udmabuf.c does
 * cache maintenance through the DMA API, which the model follows (Linux 6.12):
 *
 * - the first SYNC START (`begin_cpu_udmabuf()`) builds `ubuf->sg` with `get_sg_table()`, whose
 *   `dma_map_sgtable()` for the `/dev/udmabuf` device cleans (`arch_sync_dma_for_device()`);
 *   later STARTs call `dma_sync_sg_for_cpu()`, which invalidates unless the direction is
 *   `DMA_TO_DEVICE`;
 * - SYNC END (`end_cpu_udmabuf()`) is EINVAL while `ubuf->sg` is NULL, else
 *   `dma_sync_sg_for_device()`: clean;
 * - an importer's `map_udmabuf()`/`unmap_udmabuf()` map and unmap a new sg table for its device:
 *   clean, and invalidate unless the direction is `DMA_TO_DEVICE`. udmabuf sets
 *   `cache_sgt_mapping`, so the 6.12 dma-buf core maps an attachment once and keeps the table:
 *   a later map of the same attachment returns it with no maintenance, its unmap does nothing,
 *   and `dma_buf_detach()` unmaps it (with the first map's direction). The model keeps that
 *   per-attachment table here, on a non-coherent machine (where it decides when the cache is
 *   maintained);
 * - `release_udmabuf()` unmaps `ubuf->sg` (`DMA_BIDIRECTIONAL`): invalidate.
 *
 * The cache is the memfd inode's (`shmem.ts`, {@linkcode shmem_cpu_cache}): its mmaps, the
 * udmabuf's mmap and vmap all show its CPU view; devices reach memory. Maintenance covers the
 * udmabuf's page ranges only, as an sg table of its pages does, and a {@linkcode CpuAccess} over
 * those ranges keeps the udmabuf's SYNC state for the sanitizer and names it in reports. A
 * several-range udmabuf's copy reaches the memfd pages at the points listed above, and at each
 * maintenance; CPU writes into the copy are seen by the cache there, not sooner.
 *
 * @module
 */
import { Errno, fail } from "./errno.ts";
import type { file } from "./file_table.ts";
import { fput } from "./file_table.ts";
import type { Task } from "./sched.ts";
import type { DriverContext } from "./driver_context.ts";
import { copy_from_user } from "./uaccess.ts";
import { misc_register } from "./miscdevice.ts";
import {
  type dma_buf,
  dma_buf_export,
  dma_buf_fd,
  type dma_buf_ops,
  DMA_FROM_DEVICE,
  DMA_TO_DEVICE,
  type iosys_map,
  type scatterlist,
  type sg_table,
} from "./dma_buf.ts";
import { MemStore, PAGE_SIZE } from "./mm.ts";
import { dma_map_sgtable } from "./dma_mapping.ts";
import { type vm_area_struct, VM_MAYSHARE, VM_SHARED } from "./mmap.ts";
import { cpu_dir_bits, CpuAccess } from "./cache.ts";
import {
  shmem_cpu_cache,
  shmem_file,
  shmem_free_pages,
  type shmem_inode_info,
  shmem_read_mapping_page,
} from "./shmem.ts";
import {
  UDMABUF_CREATE,
  udmabuf_create as udmabuf_create_layout,
  udmabuf_create_item,
  UDMABUF_CREATE_LIST,
  udmabuf_create_list,
  UDMABUF_FLAGS_CLOEXEC,
  UDMABUF_LIST_LIMIT,
  UDMABUF_SIZE_LIMIT_MB,
} from "../uapi/udmabuf.ts";
import {
  F_SEAL_FUTURE_WRITE,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  O_CLOEXEC,
  O_RDWR,
} from "../uapi/constants.ts";

const SRC = "drivers/dma-buf/udmabuf.c";
/** `SEALS_WANTED`. */
const SEALS_WANTED = F_SEAL_SHRINK;
/** `SEALS_DENIED`. */
const SEALS_DENIED = F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;

/** One item of the list: a page range of a memfd. */
interface udmabuf_range {
  readonly info: shmem_inode_info;
  readonly offset: number;
  readonly size: number;
}

/** `struct udmabuf`. */
interface udmabuf {
  readonly machine: DriverContext;
  readonly pagecount: number;
  /** Physical address of each page. */
  readonly pages: readonly number[];
  readonly ranges: readonly udmabuf_range[];
  /** The memfd bytes when the buffer is one contiguous range, else null. */
  readonly direct: udmabuf_range | null;
  /** The copy several ranges are shown through, else null. */
  readonly shadow: MemStore | null;
  /** `ubuf->sg`: built by the first begin_cpu_access. */
  sg: sg_table | null;
  /** The SYNC state over the memfds' caches on a non-coherent machine, else null. */
  access: CpuAccess | null;
}

/** `dma_map_sgtable()` of the udmabuf's pages on a non-coherent CPU: clean (every direction). */
function udmabuf_sync_for_device(u: udmabuf): void {
  if (!u.access) return;
  udmabuf_writeback(u);
  for (const s of u.access.segments) s.cache.clean(s.lo, s.hi);
}

/**
 * `dma_unmap_sgtable()` / `dma_sync_sg_for_cpu()` of the udmabuf's pages on a non-coherent CPU
 * with a direction other than `DMA_TO_DEVICE`: invalidate.
 */
function udmabuf_sync_for_cpu(u: udmabuf, why: string, mayThrow = true): void {
  if (!u.access) return;
  udmabuf_writeback(u);
  for (const s of u.access.segments) s.cache.invalidate(why, s.lo, s.hi, u.access, mayThrow);
  udmabuf_refresh(u);
}

/** memfd pages → the copy. */
function udmabuf_refresh(u: udmabuf): void {
  if (!u.shadow) return;
  const dst = new Uint8Array(u.shadow.current);
  let at = 0;
  for (const r of u.ranges) {
    dst.set(new Uint8Array(r.info.store.current, r.offset, r.size), at);
    at += r.size;
  }
}

/** The copy → memfd pages. */
function udmabuf_writeback(u: udmabuf): void {
  if (!u.shadow) return;
  const src = new Uint8Array(u.shadow.current);
  let at = 0;
  for (const r of u.ranges) {
    new Uint8Array(r.info.store.current, r.offset, r.size).set(src.subarray(at, at + r.size));
    at += r.size;
  }
}

/** The udmabuf's bytes as one view (fresh on every call). */
function udmabuf_bytes(u: udmabuf): Uint8Array {
  if (u.direct) {
    return new Uint8Array(u.direct.info.store.current, u.direct.offset, u.direct.size);
  }
  udmabuf_refresh(u);
  return new Uint8Array(u.shadow!.current);
}

/** `get_sg_table()`: `sg_alloc_table_from_pages` merges physically contiguous pages. */
function get_sg_table(u: udmabuf): sg_table {
  const entries: scatterlist[] = [];
  let start = u.pages[0], len = PAGE_SIZE;
  for (let i = 1; i < u.pages.length; i++) {
    if (u.pages[i] === start + len) len += PAGE_SIZE;
    else {
      entries.push({ dma_address: start, length: len });
      start = u.pages[i];
      len = PAGE_SIZE;
    }
  }
  entries.push({ dma_address: start, length: len });
  return { entries, nents: entries.length };
}

function mmap_udmabuf(d: dma_buf, vma: vm_area_struct): void {
  const u = d.priv as udmabuf;
  if ((vma.vm_flags & (VM_SHARED | VM_MAYSHARE)) === 0) fail(Errno.EINVAL);
  if (u.direct) {
    vma.vm_store = u.direct.info.store;
    vma.vm_store_offset = u.direct.offset + vma.vm_pgoff * PAGE_SIZE;
    return;
  }
  vma.vm_store = u.shadow;
  vma.vm_store_offset = vma.vm_pgoff * PAGE_SIZE;
  vma.vm_fault = () => udmabuf_refresh(u);
  vma.vm_written = () => udmabuf_writeback(u);
  vma.vm_close = () => udmabuf_writeback(u);
}

function release_udmabuf(d: dma_buf): void {
  const u = d.priv as udmabuf;
  udmabuf_writeback(u);
  if (u.access) {
    // put_sg_table(dev, ubuf->sg, DMA_BIDIRECTIONAL): dma_unmap_sgtable() invalidates. A
    // release must finish (it runs from close, munmap, the GC backstop): reported, never thrown.
    if (u.sg) udmabuf_sync_for_cpu(u, "the udmabuf's release", false);
    u.access.detach();
  }
  for (const r of u.ranges) {
    r.info.pins--;
    if (r.info.closed && r.info.pins === 0) shmem_free_pages(r.info);
  }
  u.shadow?.release();
}

/**
 * `attach->sgt`/`attach->dir`: the dma-buf core's cached mapping of an attachment
 * (`cache_sgt_mapping`), kept by the model on a non-coherent machine.
 */
interface udmabuf_attachment {
  sgt: sg_table | null;
  dir: number;
}

/** `udmabuf_ops`. */
export const udmabuf_ops: dma_buf_ops = {
  attach(d, a) {
    if ((d.priv as udmabuf).access) a.priv = { sgt: null, dir: 0 } satisfies udmabuf_attachment;
  },
  detach(d, a) {
    const c = a.priv as udmabuf_attachment | null;
    a.priv = null;
    // dma_buf_detach(): __unmap_dma_buf(attach, attach->sgt, attach->dir).
    if (c?.sgt && c.dir !== DMA_TO_DEVICE) {
      udmabuf_sync_for_cpu(d.priv as udmabuf, `${a.dev.name}'s unmap (detach)`);
    }
  },
  map_dma_buf(a, dir) {
    const u = a.dmabuf.priv as udmabuf;
    const c = a.priv as udmabuf_attachment | null;
    // dma_buf_map_attachment(): an attachment mapped before gets its cached table back.
    if (c?.sgt) return c.sgt;
    const sgt = dma_map_sgtable(a.dmabuf.subsys.sink, a.dev, get_sg_table(u));
    if (c) {
      c.sgt = sgt;
      c.dir = dir;
    }
    if (u.access) {
      // dma_map_sgtable() → arch_sync_dma_for_device(): the device may read from here on.
      if (dir !== DMA_FROM_DEVICE) {
        udmabuf_writeback(u);
        for (const s of u.access.segments) {
          s.cache.device_read(s.lo, s.hi, `${a.dev.name} (map_attachment)`, u.access);
        }
      }
      udmabuf_sync_for_device(u);
    }
    return sgt;
  },
  unmap_dma_buf(a, sgt, dir) {
    // dma_buf_unmap_attachment(): the cached table stays mapped until dma_buf_detach().
    if ((a.priv as udmabuf_attachment | null)?.sgt === sgt) return;
    // dma_unmap_sgtable() → arch_sync_dma_for_cpu(): invalidate unless the device only read.
    if (dir !== DMA_TO_DEVICE) {
      udmabuf_sync_for_cpu(a.dmabuf.priv as udmabuf, `${a.dev.name}'s unmap`);
    }
  },
  release: release_udmabuf,
  mmap: mmap_udmabuf,
  vmap(d) {
    const u = d.priv as udmabuf;
    const vaddr = u.machine.vmalloc.vmap(u.pagecount * PAGE_SIZE);
    const map: iosys_map = {
      vaddr,
      is_iomem: false,
      get bytes() {
        return udmabuf_bytes(u);
      },
      cache: u.access,
    };
    return map;
  },
  vunmap(d, map) {
    const u = d.priv as udmabuf;
    udmabuf_writeback(u);
    u.machine.vmalloc.vunmap(map.vaddr);
  },
  begin_cpu_access(d, dir) {
    const u = d.priv as udmabuf;
    // begin_cpu_udmabuf(): the first call builds the sg table (dma_map_sgtable: clean), later
    // ones sync it for the CPU (dma_sync_sg_for_cpu: invalidate unless DMA_TO_DEVICE).
    if (!u.sg) {
      u.sg = get_sg_table(u);
      udmabuf_sync_for_device(u);
      u.access?.begin(cpu_dir_bits(dir), false);
    } else if (u.access) {
      if (dir !== DMA_TO_DEVICE) udmabuf_sync_for_cpu(u, "SYNC START(READ)");
      u.access.begin(cpu_dir_bits(dir), false);
    }
    udmabuf_refresh(u);
  },
  end_cpu_access(d, dir) {
    const u = d.priv as udmabuf;
    if (!u.sg) {
      u.machine.WARN(
        "end-without-begin",
        SRC,
        "end_cpu_udmabuf",
        `DMA_BUF_IOCTL_SYNC END without START on udmabuf (ino ${d.file.f_inode.i_ino})`,
      );
      fail(Errno.EINVAL);
    }
    udmabuf_writeback(u);
    // dma_sync_sg_for_device(): clean.
    u.access?.end(cpu_dir_bits(dir));
  },
};

/** `check_memfd_seals(memfd)`. */
function check_memfd_seals(f: file | undefined): shmem_inode_info {
  if (!shmem_file(f)) fail(Errno.EBADFD);
  const seals = f.f_inode.seals;
  if ((seals & SEALS_WANTED) !== SEALS_WANTED || (seals & SEALS_DENIED) !== 0) fail(Errno.EINVAL);
  return f.f_inode;
}

interface udmabuf_item {
  memfd: number;
  offset: number;
  size: number;
}

function u64(v: DataView, off: number): number {
  return v.getUint32(off + 4, true) * 2 ** 32 + v.getUint32(off, true);
}

/** `udmabuf_create(miscdev, head, list)`: returns the new fd. */
function udmabuf_create(
  m: DriverContext,
  current: Task,
  flags: number,
  list: udmabuf_item[],
): number {
  const pglimit = (UDMABUF_SIZE_LIMIT_MB * 1024 * 1024) / PAGE_SIZE;
  let pgcnt = 0;
  for (const item of list) {
    if (item.offset % PAGE_SIZE) fail(Errno.EINVAL);
    if (item.size % PAGE_SIZE) fail(Errno.EINVAL);
    pgcnt += item.size / PAGE_SIZE;
    if (pgcnt > pglimit) fail(Errno.EINVAL);
  }
  if (pgcnt === 0) fail(Errno.EINVAL);
  const ranges: udmabuf_range[] = [];
  const pages: number[] = [];
  try {
    for (const item of list) {
      const f = current.files.fget(item.memfd);
      if (!f) fail(Errno.EBADFD);
      try {
        const info = check_memfd_seals(f);
        // memfd_pin_folios(): the range must lie inside the file.
        // memfd_pin_folios(): an empty range (start > end) or one past EOF is EINVAL.
        if (item.size === 0 || item.offset + item.size > info.i_size) fail(Errno.EINVAL);
        // A non-coherent CPU caches the pages: the memfd's cache from here on (before the pages
        // get physical addresses, so that devices reach its memory).
        shmem_cpu_cache(info);
        info.pins++;
        ranges.push({ info, offset: item.offset, size: item.size });
        for (let off = item.offset; off < item.offset + item.size; off += PAGE_SIZE) {
          pages.push(shmem_read_mapping_page(info, off / PAGE_SIZE));
        }
      } finally {
        fput(f);
      }
    }
  } catch (e) {
    for (const r of ranges) {
      r.info.pins--;
      if (r.info.closed && r.info.pins === 0) shmem_free_pages(r.info);
    }
    throw e;
  }
  // Ranges that continue each other in the same memfd are one range: the bytes can alias.
  const merged: udmabuf_range[] = [];
  for (const r of ranges) {
    const last = merged[merged.length - 1];
    if (last && last.info === r.info && last.offset + last.size === r.offset) {
      merged[merged.length - 1] = { info: r.info, offset: last.offset, size: last.size + r.size };
    } else merged.push(r);
  }
  const size = pgcnt * PAGE_SIZE;
  const u: udmabuf = {
    machine: m,
    pagecount: pgcnt,
    pages,
    ranges,
    direct: merged.length === 1 ? merged[0] : null,
    shadow: merged.length === 1 ? null : new MemStore(size),
    sg: null,
    access: null,
  };
  udmabuf_refresh(u);
  const d = dma_buf_export(m.dma_buf, {
    exp_name: "udmabuf",
    ops: udmabuf_ops,
    size,
    flags: O_RDWR,
    priv: u,
  });
  if (ranges.every((r) => r.info.cache)) {
    let at = 0;
    u.access = new CpuAccess(
      ranges.map((r) => {
        const seg = { cache: r.info.cache!, lo: r.offset, hi: r.offset + r.size, at };
        at += r.size;
        return seg;
      }),
      size,
    );
    u.access.ident = {
      get ino() {
        return d.file.f_inode.i_ino;
      },
      get name() {
        return d.name;
      },
    };
  }
  try {
    return dma_buf_fd(current, d, flags & UDMABUF_FLAGS_CLOEXEC ? O_CLOEXEC : 0);
  } catch (e) {
    fput(d.file);
    throw e;
  }
}

/** `udmabuf_ioctl(filp, ioctl, arg)`. */
function udmabuf_ioctl(m: DriverContext, cmd: number, arg: number, current: Task): number {
  switch (cmd) {
    case UDMABUF_CREATE: {
      const v = new DataView(copy_from_user(current, arg, udmabuf_create_layout.size).buffer);
      return udmabuf_create(m, current, v.getUint32(udmabuf_create_layout.flags, true), [{
        memfd: v.getUint32(udmabuf_create_layout.memfd, true),
        offset: u64(v, udmabuf_create_layout.offset),
        size: u64(v, udmabuf_create_layout.size_),
      }]);
    }
    case UDMABUF_CREATE_LIST: {
      const h = new DataView(copy_from_user(current, arg, udmabuf_create_list.size).buffer);
      const flags = h.getUint32(udmabuf_create_list.flags, true);
      const count = h.getUint32(udmabuf_create_list.count, true);
      if (count > UDMABUF_LIST_LIMIT) fail(Errno.EINVAL);
      const n = udmabuf_create_item.size;
      const raw = copy_from_user(current, arg + udmabuf_create_list.list, n * count);
      const v = new DataView(raw.buffer);
      const list: udmabuf_item[] = [];
      for (let i = 0; i < count; i++) {
        list.push({
          memfd: v.getUint32(i * n + udmabuf_create_item.memfd, true),
          offset: u64(v, i * n + udmabuf_create_item.offset),
          size: u64(v, i * n + udmabuf_create_item.size_),
        });
      }
      return udmabuf_create(m, current, flags, list);
    }
    default:
      fail(Errno.ENOTTY);
  }
}

/** `udmabuf_dev_init()`: registers the misc device `/dev/udmabuf`. */
export function udmabuf_dev_init(m: DriverContext): void {
  misc_register(m, {
    name: "udmabuf",
    fops: { unlocked_ioctl: (_f, cmd, arg, current) => udmabuf_ioctl(m, cmd, arg, current) },
  });
}
