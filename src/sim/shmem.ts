/**
 * mm/shmem.c + mm/memfd.c: memfd files (`memfd_create`), their size (`ftruncate`), seals
 * (`F_ADD_SEALS`/`F_GET_SEALS`) and their pages, which udmabuf pins and exports.
 *
 * The bytes live in one {@linkcode MemStore} per memfd; growing or shrinking it moves the bytes
 * to a new ArrayBuffer (views must be re-made, as for `munmap`). Physical pages are given to a
 * page when something needs its physical address (udmabuf pinning it), like a fault would.
 *
 * CPU caches. On a non-coherent machine a memfd's pages are cached like a heap buffer's, and
 * every CPU alias of them — the memfd's own mmaps, a udmabuf's mmap and vmap — is an alias of
 * the same physically tagged cache, while devices reach memory (a udmabuf's sg table,
 * `phys_read`/`phys_write`). So the cache is the inode's, not a udmabuf's: the first udmabuf
 * that takes pages of a memfd gives it a {@linkcode CpuCache} ({@linkcode shmem_cpu_cache})
 * whose CPU view is the memfd's store itself, which every mapping already shows, and whose
 * memory is a new store holding a copy of it. Why then, and not at `memfd_create`: until a
 * udmabuf exists no device can reach the pages, so a memfd that never becomes a udmabuf costs
 * nothing; and every path by which a device or an invalidation can meet the pages later — an
 * importer's `dma_map_sgtable`, the first SYNC START's `get_sg_table`, both of which clean —
 * cleans the udmabuf's lines first, so lines the CPU dirtied before the udmabuf existed would
 * reach memory before anything could tell; taking them as clean at that point changes no byte a
 * device or the CPU sees. The sanitizer therefore does not report writes made before the first
 * udmabuf (on arm64 they are cleaned by the first map, as the model cleans them by the copy).
 * The cache grows with `ftruncate` (a memfd under a udmabuf is sealed against shrinking, and
 * seals are never removed) and is freed with the pages.
 *
 * @module
 */
import { Errno, fail, is_int } from "./errno.ts";
import {
  file,
  type file_operations,
  FMODE_CAN_READ,
  FMODE_CAN_WRITE,
  FMODE_LSEEK,
  FMODE_OPENED,
  FMODE_PREAD,
  FMODE_PWRITE,
  FMODE_WRITE,
  type inode,
  O_LARGEFILE,
} from "./file_table.ts";
import { MemStore, PAGE_SIZE } from "./mm.ts";
import { CpuCache } from "./cache.ts";
import type { vm_area_struct } from "./mmap.ts";
import { VM_SHARED, VM_WRITE } from "./mmap.ts";
import type { MachineContext } from "./context.ts";
import type { Task } from "./sched.ts";
import {
  F_SEAL_EXEC,
  F_SEAL_FUTURE_WRITE,
  F_SEAL_GROW,
  F_SEAL_SEAL,
  F_SEAL_SHRINK,
  F_SEAL_WRITE,
  MFD_ALLOW_SEALING,
  MFD_CLOEXEC,
  MFD_EXEC,
  MFD_HUGETLB,
  MFD_NOEXEC_SEAL,
  O_RDWR,
} from "../uapi/constants.ts";

const F_ALL_SEALS = F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE |
  F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;
/** `MFD_NAME_MAX_LEN`: `NAME_MAX - strlen("memfd:")`. */
const MFD_NAME_MAX_LEN = 255 - 6;

/** A shmem inode (`struct shmem_inode_info`). */
export interface shmem_inode_info extends inode {
  /** The bytes: what CPU aliases show (the CPU view of {@linkcode cache} when there is one). */
  readonly store: MemStore;
  /**
   * The CPU cache over the pages on a non-coherent machine, from the first udmabuf that took
   * pages of this inode (see the module doc), else null.
   */
  cache: CpuCache | null;
  /** `seals`. */
  seals: number;
  /** `i_mode & 0777`: 0777 from `shmem_file_setup`, 0666 with MFD_NOEXEC_SEAL. */
  i_mode: number;
  /** Physical address of each page once it has one (0 = none yet). */
  readonly pages: number[];
  /** Pins by udmabufs (pages stay allocated while pinned). */
  pins: number;
  /** Writable shared mappings (F_SEAL_WRITE needs none). */
  mmapped_writable: number;
  /** Set when the last file reference is gone (pins may keep the pages). */
  closed: boolean;
  /** The machine. */
  readonly machine: MachineContext;
}

/** Whether `f` is a shmem (tmpfs) file: udmabuf only takes these. */
export function shmem_file(f: file | undefined): f is file & { f_inode: shmem_inode_info } {
  return !!f && f.f_op === shmem_file_operations;
}

function shmem_mmap(f: file, vma: vm_area_struct): void {
  const info = f.f_inode as shmem_inode_info;
  if (
    (info.seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) && (vma.vm_flags & VM_SHARED) &&
    (vma.vm_flags & VM_WRITE)
  ) fail(Errno.EPERM);
  vma.vm_store = info.store;
  vma.vm_store_offset = vma.vm_pgoff * PAGE_SIZE;
  if ((vma.vm_flags & VM_SHARED) && (vma.vm_flags & VM_WRITE)) {
    info.mmapped_writable++;
    vma.vm_close = () => void info.mmapped_writable--;
  }
}

function shmem_llseek(f: file, offset: number, whence: number): number {
  const size = f.f_inode.i_size;
  let pos: number;
  switch (whence) {
    case 0:
      pos = offset;
      break;
    case 1:
      pos = f.f_pos + offset;
      break;
    case 2:
      pos = size + offset;
      break;
    case 3: // SEEK_DATA
      if (offset >= size) fail(Errno.ENXIO);
      pos = offset;
      break;
    case 4: // SEEK_HOLE
      if (offset >= size) fail(Errno.ENXIO);
      pos = size;
      break;
    default:
      fail(Errno.EINVAL);
  }
  if (pos < 0) fail(Errno.EINVAL);
  f.f_pos = pos;
  return pos;
}

function shmem_release(ino: inode): void {
  const info = ino as shmem_inode_info;
  info.closed = true;
  if (info.pins === 0) shmem_free_pages(info);
}

/** Frees the pages of a shmem inode that nobody uses any more (and the cache over them). */
export function shmem_free_pages(info: shmem_inode_info): void {
  for (let i = 0; i < info.pages.length; i++) {
    if (info.pages[i]) {
      info.machine.physmap.remove(info.machine.physmap.lookup(info.pages[i])!);
      info.machine.zone.free_pages(info.pages[i], 0);
      info.pages[i] = 0;
    }
  }
  info.cache?.release();
  info.cache = null;
}

/**
 * The CPU cache over a shmem inode's pages on a non-coherent machine, made on first use (the
 * first udmabuf taking pages of it): the CPU view is the inode's store, the memory a copy of it,
 * and the physical pages already given out are re-pointed at that memory. Null on a coherent
 * machine.
 */
export function shmem_cpu_cache(info: shmem_inode_info): CpuCache | null {
  if (info.cache || info.machine.coherency !== "non-coherent") return info.cache;
  const cache = info.cache = new CpuCache(null, info.machine, info.store);
  cache.ident = { ino: info.i_ino, name: null };
  const physmap = info.machine.physmap;
  info.pages.forEach((phys, index) => {
    if (!phys) return;
    physmap.remove(physmap.lookup(phys)!);
    physmap.add({ phys, length: PAGE_SIZE, store: cache.mem, offset: index * PAGE_SIZE });
  });
  return cache;
}

/** `shmem_file_operations`. */
export const shmem_file_operations: file_operations = {
  mmap: shmem_mmap,
  llseek: shmem_llseek,
  release: shmem_release,
};

/**
 * `shmem_get_folio(inode, index, SGP_CACHE)`-like: the physical address of page `index`,
 * allocating it on first use.
 *
 * @throws {KernelError} ENOMEM when memory runs out.
 */
export function shmem_read_mapping_page(info: shmem_inode_info, index: number): number {
  let phys = info.pages[index];
  if (!phys) {
    phys = info.machine.zone.alloc_pages(0);
    if (phys < 0) fail(Errno.ENOMEM);
    info.pages[index] = phys;
    info.machine.physmap.add({
      phys,
      length: PAGE_SIZE,
      store: info.cache ? info.cache.mem : info.store, // devices reach memory
      offset: index * PAGE_SIZE,
    });
  }
  return phys;
}

/**
 * `memfd_create(name, flags)` of `current`: the file (one reference).
 *
 * @throws {KernelError} EINVAL for unknown flags or a too long name.
 */
export function memfd_create(current: Task, name: string, flags: number): file {
  const m = current.machine;
  if (flags & ~(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC)) {
    fail(Errno.EINVAL);
  }
  if ((flags & MFD_EXEC) && (flags & MFD_NOEXEC_SEAL)) fail(Errno.EINVAL);
  // The model has no hugetlbfs pages reserved.
  if (flags & MFD_HUGETLB) fail(Errno.EINVAL, "memfd_create: no hugetlb pages in the model");
  if (new TextEncoder().encode(name).length > MFD_NAME_MAX_LEN) fail(Errno.EINVAL);
  // check_sysctl_memfd_noexec() with vm.memfd_noexec = 0 (the default): neither flag means
  // MFD_EXEC, silently (6.12 logs nothing; only the enforcing sysctl values print).
  // shmem_file_setup() gives F_SEAL_SEAL and mode 0777; MFD_NOEXEC_SEAL drops the exec bits and
  // F_SEAL_SEAL and adds F_SEAL_EXEC (so the memfd is sealable without MFD_ALLOW_SEALING);
  // MFD_ALLOW_SEALING alone only drops F_SEAL_SEAL.
  let seals = F_SEAL_SEAL, i_mode = 0o777;
  if (flags & MFD_NOEXEC_SEAL) {
    i_mode &= ~0o111;
    seals = (seals & ~F_SEAL_SEAL) | F_SEAL_EXEC;
  } else if (flags & MFD_ALLOW_SEALING) {
    seals &= ~F_SEAL_SEAL;
  }
  const info: shmem_inode_info = {
    i_ino: m.get_next_ino(),
    kind: "reg",
    i_size: 0,
    mnt_id: m.shm_mnt_id,
    store: new MemStore(0),
    cache: null,
    seals,
    i_mode,
    pages: [],
    pins: 0,
    mmapped_writable: 0,
    closed: false,
    machine: m,
  };
  const mode = 3 | FMODE_LSEEK | FMODE_PREAD | FMODE_PWRITE | FMODE_OPENED | FMODE_CAN_READ |
    FMODE_CAN_WRITE;
  return new file(
    shmem_file_operations,
    info,
    O_RDWR | O_LARGEFILE,
    mode,
    () => `/memfd:${name} (deleted)`,
  );
}

/**
 * `shmem_file_setup(name, size, flags)`: an internal shmem file of `size` bytes (no fd), as
 * `drm_gem_object_init` makes for a GEM object's backing store (`"drm mm object"`).
 *
 * @param m The machine.
 * @param name The file name.
 * @param size The size in bytes.
 * @returns The file (one reference); its inode is a {@linkcode shmem_inode_info}.
 */
export function shmem_file_setup(m: MachineContext, name: string, size: number): file {
  const info: shmem_inode_info = {
    i_ino: m.get_next_ino(),
    kind: "reg",
    i_size: size,
    mnt_id: m.shm_mnt_id,
    store: new MemStore(size),
    cache: null,
    seals: F_SEAL_SEAL,
    i_mode: 0o777,
    pages: [],
    pins: 0,
    mmapped_writable: 0,
    closed: false,
    machine: m,
  };
  const mode = 3 | FMODE_LSEEK | FMODE_OPENED | FMODE_CAN_READ | FMODE_CAN_WRITE;
  return new file(shmem_file_operations, info, O_RDWR | O_LARGEFILE, mode, () => `/${name}`);
}

/**
 * `shmem_setattr()` for `ftruncate`: the seals decide, then the size changes.
 *
 * @throws {KernelError} EPERM when a seal forbids the change.
 */
export function shmem_truncate(info: shmem_inode_info, length: number): void {
  const old = info.i_size;
  if (length < old && (info.seals & F_SEAL_SHRINK)) fail(Errno.EPERM);
  if (length > old && (info.seals & F_SEAL_GROW)) fail(Errno.EPERM);
  if (length === old) return;
  const pages = Math.ceil(length / PAGE_SIZE);
  if (length < old) {
    // Pages past the new end go back to the allocator (a pinned page stays with its pin).
    for (let i = pages; i < info.pages.length; i++) {
      if (info.pages[i] && info.pins === 0) {
        info.machine.physmap.remove(info.machine.physmap.lookup(info.pages[i])!);
        info.machine.zone.free_pages(info.pages[i], 0);
      }
    }
    info.pages.length = Math.min(info.pages.length, pages);
  }
  info.store.resize(length);
  info.cache?.resize(length);
  info.i_size = length;
}

/**
 * `memfd_fcntl(file, cmd, arg)` for F_ADD_SEALS / F_GET_SEALS.
 *
 * @throws {KernelError} EINVAL on a file without seals support, EPERM when sealed or not
 *   writable, EBUSY for F_SEAL_WRITE with writable mappings.
 */
export function memfd_fcntl(f: file, cmd: "add" | "get", arg: number): number {
  if (!shmem_file(f)) fail(Errno.EINVAL);
  const info = f.f_inode;
  if (cmd === "get") return info.seals;
  if (!(f.f_mode & FMODE_WRITE)) fail(Errno.EPERM);
  if (arg & ~F_ALL_SEALS) fail(Errno.EINVAL);
  if (info.seals & F_SEAL_SEAL) fail(Errno.EPERM);
  // F_SEAL_EXEC on a file that may still be executed implies W^X: every write seal too.
  if ((arg & F_SEAL_EXEC) && (info.i_mode & 0o111)) {
    arg |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
  }
  if ((arg & F_SEAL_WRITE) && !(info.seals & F_SEAL_WRITE) && info.mmapped_writable > 0) {
    fail(Errno.EBUSY);
  }
  info.seals |= arg;
  return 0;
}

/**
 * `memfd_create(2)`: a new memfd on the lowest free fd.
 *
 * @throws {KernelError} EFAULT for a non-string name, EINVAL for bad flags or a name too long,
 * EMFILE when no fd is free.
 */
export function sys_memfd_create(current: Task, name: string, flags: number): number {
  if (typeof name !== "string" || !is_int(flags)) fail(Errno.EFAULT);
  const f = memfd_create(current, name, flags >>> 0);
  return current.files.fd_install_or_fput(f, (flags & MFD_CLOEXEC) !== 0);
}
