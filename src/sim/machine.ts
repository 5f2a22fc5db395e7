/**
 * The simulated machine: RAM and its buddy allocator, CMA areas, the dma-buf and dma-heap
 * subsystems, `/dev`, the kernel log, and the processes that run on it. `boot()` does what the
 * board's kernel does at start-up, in the same order, printing similar log lines.
 *
 * @module
 */
import { BuddyZone, PAGE_SIZE, PhysMap, type PhysRange } from "./mm.ts";
import { Cma } from "./cma.ts";
import { LogBuf } from "./printk.ts";
import { KernelBug, type KernelWarning, type WarningKind, type WarnSink } from "./bug.ts";
import { DmaBufSubsys } from "./dma_buf.ts";
import { DmaHeapSubsys } from "./dma_heap.ts";
import { Devtmpfs } from "./char_dev.ts";
import { VmallocArea } from "./vmalloc.ts";
import type { inode } from "./file_table.ts";
import { null_fops, tty_fops } from "./tty.ts";
import { system_heap_create } from "./heaps/system_heap.ts";
import { add_cma_heap } from "./heaps/cma_heap.ts";
import { SimProcess, type SimProcessOptions } from "./process.ts";
import { MiscSubsys } from "./miscdevice.ts";
import { test_driver_init, type TestDriver } from "./drivers/test_driver.ts";
import { vivid_init, type VividDev } from "./drivers/media/vivid.ts";
import { udmabuf_dev_init } from "./udmabuf.ts";
import { vgem_init } from "./drivers/gpu/vgem.ts";
import type { drm_device } from "./drivers/gpu/drm/drm_drv.ts";
import { sw_sync_debugfs_init } from "./sw_sync.ts";
import {
  type Coherency,
  type CoherencyKind,
  type CoherencyReport,
  type CoherencySink,
  CoherencyViolation,
  mulberry32,
  type SanitizerMode,
} from "./cache.ts";

function hex(n: number): string {
  return "0x" + n.toString(16);
}

/** A CMA area reserved at boot (a `shared-dma-pool` reserved-memory node). */
export interface CmaRegionConfig {
  /** Node name, which is also the heap name, e.g. `"global_cma@68000000"`. */
  name: string;
  /** Physical base address. */
  base: number;
  /** Size in bytes. */
  size: number;
}

/** Configuration of a {@linkcode SimMachine}. */
export interface SimMachineConfig {
  /** RAM size in bytes (default 1 GiB). The system heap fails with ENOMEM past it. */
  memorySize?: number;
  /** Physical address where RAM starts (default 0x40000000, as on the arm64 `virt` board). */
  memoryBase?: number;
  /** CMA areas; the first is the default area (default: `global_cma@68000000`, 128 MiB). */
  cma?: CmaRegionConfig[];
  /** Whether the default CMA area holds the DMA atomic pools allocated at boot (default true). */
  atomicPools?: boolean;
  /** Whether the test importer driver (`/dev/driverA`, `/dev/driverB`) is built in (default true). */
  testDriver?: boolean;
  /** Whether `/dev/udmabuf` exists (default true). */
  udmabuf?: boolean;
  /**
   * Whether the vgem DRM driver is loaded: `/dev/dri/card0` and `/dev/dri/renderD128` (default
   * true; on Debian it is a module, `modprobe vgem`).
   */
  vgem?: boolean;
  /**
   * Whether vivid is loaded (default true): `/dev/video0` (capture) and `/dev/video1` (output),
   * as `modprobe vivid` makes them on the Debian kernel.
   */
  vivid?: boolean;
  /** Throw {@linkcode KernelBug} on lifetime violations instead of logging a warning. */
  strict?: boolean;
  /** `RLIMIT_NOFILE` of processes (default 1048576). */
  nofile?: number;
  /** CONFIG_DMABUF_SYSFS_STATS: `/sys/kernel/dmabuf/buffers` (default false, as Debian's). */
  sysfsStats?: boolean;
  /**
   * CONFIG_SW_SYNC: debugfs `sync/sw_sync` (default true, as the custom guest kernel; Debian's
   * kernel has none — `false` reproduces that).
   */
  swSync?: boolean;
  /**
   * The CPU's caches. `"non-coherent"` (the default: the seed arm64 board, see
   * {@linkcode DEFAULT_COHERENCY}) puts a write-back cache between user mappings (and vmaps) of
   * cached heap buffers and of memfd pages a udmabuf took, and their memory, maintained only where
   * Linux maintains it on arm64 (SYNC START/END, DMA map/unmap, udmabuf's release). `"coherent"` is an x86-like board (caches snoop DMA). See `cache.ts`.
   */
  coherency?: Coherency;
  /**
   * The coherency sanitizer (non-coherent machines only): `"report"` (the default there) logs
   * and records each violation in {@linkcode SimMachine.coherencyReports}; `"strict"` also
   * throws {@linkcode CoherencyViolation} for user space's violations (a kernel driver's own,
   * named in the report's `writer`, are only recorded); `"off"`. A coherent machine has nothing
   * to check: asking for `"report"` or `"strict"` there is a `RangeError`, not a silent `"off"`.
   */
  sanitizer?: SanitizerMode;
  /**
   * Randomized eviction: with a seed (an integer, used modulo 2^32), each device access first
   * writes back a random half of the dirty lines (deterministic for a given seed). Without it
   * nothing is evicted early. Non-coherent machines only, like the sanitizer.
   */
  evictionSeed?: number;
}

/** The default CMA area: `global_cma@68000000`, 128 MiB at 0x68000000, as on an arm64 board. */
export const DEFAULT_CMA: CmaRegionConfig = {
  name: "global_cma@68000000",
  base: 0x6800_0000,
  size: 128 * 1024 * 1024,
};

/**
 * The default machine's caches: the seed board is an arm64 board whose devices do not snoop the
 * CPU caches (no `dma-coherent` in its device tree), so user code must maintain them with
 * `DMA_BUF_IOCTL_SYNC`. Pass `coherency: "coherent"` for an x86-like board.
 */
export const DEFAULT_COHERENCY: Coherency = "non-coherent";

/** Memory the kernel image and early allocations keep (not given to the buddy allocator). */
const KERNEL_RESERVED = 32 * 1024 * 1024;

/** The simulated machine. */
export class SimMachine implements WarnSink, CoherencySink {
  /** The kernel log. */
  readonly log: LogBuf = new LogBuf();
  /** RAM's buddy allocator (one zone). */
  readonly zone: BuddyZone;
  /** Physical address → bytes. */
  readonly physmap: PhysMap = new PhysMap();
  /** CMA areas, the default first. */
  readonly cma_areas: readonly Cma[];
  /** The vmalloc area (kernel virtual addresses of vmaps). */
  readonly vmalloc: VmallocArea = new VmallocArea();
  /** `/dev`. */
  readonly dev: Devtmpfs;
  /** debugfs, mounted at `/sys/kernel/debug` (its `dma_buf/bufinfo` lives in `procfs.ts`). */
  readonly debugfs: Devtmpfs;
  /** The dma-buf core. */
  readonly dma_buf: DmaBufSubsys;
  /** The dma-heap framework. */
  readonly dma_heap: DmaHeapSubsys;
  /** Misc devices. */
  readonly misc: MiscSubsys;
  /** The test importer driver, when built in (its options and hooks can be changed). */
  readonly testDriver: TestDriver | undefined;
  /**
   * The vgem DRM device, when loaded (`src/sim/drivers/gpu/`; its types are the model's
   * internals, not part of the published API).
   *
   * @ignore
   */
  readonly vgem: drm_device | undefined;
  /**
   * vivid instance 0 (`src/sim/drivers/media/vivid.ts`), unless configured out.
   *
   * @ignore
   */
  readonly vivid: VividDev | undefined;
  /** Lifetime warnings raised so far, oldest first. */
  readonly warnings: KernelWarning[] = [];
  /** The inode every anon-inode file shares (`anon_inode_inode`). */
  readonly anon_inode_inode: inode;
  /** Mount id of the internal shmem mount (memfds). */
  readonly shm_mnt_id = 13;
  /** Throw instead of warn. */
  readonly strict: boolean;
  /** The CPU's caches as configured. */
  readonly coherency: Coherency;
  /** The coherency sanitizer's mode (`"off"` on a coherent machine). */
  readonly sanitizer: SanitizerMode;
  /** Coherency sanitizer reports so far, oldest first. */
  readonly coherencyReports: CoherencyReport[] = [];
  readonly #evictionRandom: (() => number) | null;
  /** `RLIMIT_NOFILE` for new processes. */
  readonly nofile: number;
  /** RAM as configured. */
  readonly memory: PhysRange;
  #next_ino = 1000;
  #next_pid = 100;
  #once = new Set<string>();
  #default_process: SimProcess | undefined;

  /** Boots a machine. */
  constructor(config: SimMachineConfig = {}) {
    const size = config.memorySize ?? 1024 * 1024 * 1024;
    const base = config.memoryBase ?? 0x4000_0000;
    if (!Number.isSafeInteger(size) || size <= KERNEL_RESERVED || size % PAGE_SIZE) {
      throw new RangeError(`Invalid memory size: ${size}`);
    }
    this.memory = { base, size };
    this.strict = config.strict ?? false;
    this.coherency = config.coherency ?? DEFAULT_COHERENCY;
    if (this.coherency !== "coherent" && this.coherency !== "non-coherent") {
      throw new RangeError(`Invalid coherency: ${this.coherency}`);
    }
    const asked = config.sanitizer;
    if (asked !== undefined && !["off", "report", "strict"].includes(asked)) {
      throw new RangeError(`Invalid sanitizer mode: ${asked}`);
    }
    if (this.coherency === "coherent" && (asked === "report" || asked === "strict")) {
      throw new RangeError(
        `sanitizer "${asked}" needs coherency "non-coherent": a coherent machine has no CPU cache ` +
          `to check (leave sanitizer out, or use the default non-coherent board)`,
      );
    }
    this.sanitizer = this.coherency === "coherent" ? "off" : asked ?? "report";
    const seed = config.evictionSeed;
    if (seed !== undefined && !Number.isSafeInteger(seed)) {
      throw new RangeError(`Invalid evictionSeed: ${String(seed)} (an integer)`);
    }
    if (seed !== undefined && this.coherency === "coherent") {
      throw new RangeError(
        `evictionSeed needs coherency "non-coherent": a coherent machine has no cache to evict from`,
      );
    }
    this.#evictionRandom = seed === undefined ? null : mulberry32(seed);
    this.nofile = config.nofile ?? 1 << 20;
    const regions = config.cma ?? [DEFAULT_CMA];
    this.log.printk("Booting Linux on physical CPU 0x0000000000 [0x000f0510]");
    this.log.printk("Linux version 6.12.0-sim (dma-buf simulated kernel)");
    const cmas: Cma[] = [];
    for (const r of regions) {
      if (
        !Number.isSafeInteger(r.base) || !Number.isSafeInteger(r.size) || r.size <= 0 ||
        r.base % PAGE_SIZE || r.size % PAGE_SIZE
      ) {
        throw new RangeError(`Invalid CMA region: ${r.name}: base and size must be page aligned`);
      }
      if (
        typeof r.name !== "string" || r.name === "" || /[/\0]/.test(r.name) || r.name === "system"
      ) {
        throw new RangeError(`Invalid CMA region name: ${JSON.stringify(r.name)}`);
      }
      // A reserved-memory region outside RAM is not memory: the kernel's
      // early_init_dt_reserve_memory() cannot reserve it and no CMA area is made.
      if (r.base < base + KERNEL_RESERVED || r.base + r.size > base + size) {
        throw new RangeError(
          `CMA region ${r.name} [0x${r.base.toString(16)}, 0x${
            (r.base + r.size).toString(16)
          }) is not inside the machine's memory [0x${(base + KERNEL_RESERVED).toString(16)}, 0x${
            (base + size).toString(16)
          }) (memoryBase + the kernel's first ${KERNEL_RESERVED >> 20} MiB … memoryBase + ` +
            `memorySize): move it, make memorySize larger, or pass cma: []`,
        );
      }
      for (const o of cmas) {
        if (o.name === r.name) throw new RangeError(`Duplicate CMA region name: ${r.name}`);
        if (r.base < o.base + o.count * PAGE_SIZE && o.base < r.base + r.size) {
          throw new RangeError(`CMA region ${r.name} overlaps ${o.name}`);
        }
      }
      cmas.push(new Cma(r.name, r.base, r.size, this.log));
      this.log.printk(
        `Reserved memory: created CMA memory pool at 0x${
          r.base.toString(16).padStart(16, "0")
        }, size ${r.size / 1048576} MiB`,
      );
    }
    this.cma_areas = cmas;
    this.zone = new BuddyZone({ base, size }, [
      { base, size: KERNEL_RESERVED },
      ...regions.map((r) => ({ base: r.base, size: r.size })),
    ]);
    this.log.printk(
      `Memory: ${(this.zone.nr_free * PAGE_SIZE) / 1024}K/${size / 1024}K available`,
    );
    this.anon_inode_inode = { i_ino: this.get_next_ino(), kind: "anon", i_size: 0, mnt_id: 14 };
    this.dma_buf = new DmaBufSubsys(this, 15);
    if (config.sysfsStats) this.dma_buf.sysfs_stats = new Map();
    this.dev = new Devtmpfs(22, () => this.get_next_ino());
    this.dev.add("pts/0", tty_fops, null);
    this.dev.add("null", null_fops, null);
    this.debugfs = new Devtmpfs(21, () => this.get_next_ino(), "/sys/kernel/debug");
    this.dma_heap = new DmaHeapSubsys(this.dev);
    this.misc = new MiscSubsys(this.dev);
    if ((config.atomicPools ?? true) && cmas.length > 0) this.#dma_atomic_pool_init(cmas[0]);
    system_heap_create(this);
    for (const cma of cmas) add_cma_heap(this, cma);
    if (config.udmabuf ?? true) udmabuf_dev_init(this);
    this.testDriver = (config.testDriver ?? true) ? test_driver_init(this) : undefined;
    this.vgem = (config.vgem ?? true) ? vgem_init(this) : undefined;
    if (config.swSync ?? true) sw_sync_debugfs_init(this);
    this.vivid = (config.vivid ?? true) ? vivid_init(this) : undefined;
  }

  /**
   * kernel/dma/pool.c `dma_atomic_pool_init()`: with DMA_DIRECT_REMAP (arm64) the three atomic
   * pools (GFP_KERNEL, GFP_DMA, GFP_DMA32), 128 KiB per GiB of RAM each (at least 128 KiB), come
   * from the default CMA area, aligned to their size. This is what puts the first 1 MiB heap
   * buffer at 0x68100000 on such a board.
   */
  #dma_atomic_pool_init(cma: Cma): void {
    const pool = Math.max(
      128 * 1024,
      Math.min(4 * 1048576, (this.memory.size / (1 << 30)) * 128 * 1024),
    );
    const pages = pool / PAGE_SIZE;
    for (const gfp of ["GFP_KERNEL", "GFP_KERNEL|GFP_DMA", "GFP_KERNEL|GFP_DMA32"]) {
      if (cma.cma_alloc(pages, Math.log2(pages), true) < 0) continue;
      this.log.printk(`DMA: preallocated ${pool / 1024} KiB ${gfp} pool for atomic allocations`);
    }
  }

  /** `get_next_ino()`: inode numbers of non-dma-buf pseudo files. */
  get_next_ino(): number {
    return ++this.#next_ino;
  }

  /** `printk(fmt, ...)` with the text already formatted. */
  printk(text: string): void {
    this.log.printk(text);
  }

  /** `printk_once()`: prints `text` the first time `key` is seen. */
  printk_once(key: string, text: string): void {
    if (this.#once.has(key)) return;
    this.#once.add(key);
    this.log.printk(text);
  }

  /**
   * Records a lifetime violation: the first line of a kernel warning splat goes to the log and
   * the warning to {@linkcode warnings}; in strict mode throws {@linkcode KernelBug} instead.
   */
  WARN(kind: WarningKind, file: string, func: string, text: string): void {
    const line = `WARNING: CPU: 0 PID: ${this.current_pid} at ${file} ${func}: ${text}`;
    this.log.printk("------------[ cut here ]------------");
    this.log.printk(line);
    this.warnings.push({ kind, func, line });
    if (this.strict) throw new KernelBug(kind, line);
  }

  /**
   * Records a coherency report: one `dma-buf coherency:` line in the log and an entry in
   * {@linkcode coherencyReports}; in strict mode throws {@linkcode CoherencyViolation} when the
   * writer is user space (`writer === "CPU"`). A kernel driver's own writes (vivid's
   * vb2-vmalloc, the test driver) are recorded and logged but never thrown: the program under
   * test cannot change them.
   */
  coherency_report(r: CoherencyReport): void {
    if (this.sanitizer === "off") return;
    this.log.printk(r.text);
    this.coherencyReports.push(r);
    if (this.sanitizer === "strict" && r.writer === "CPU") throw new CoherencyViolation(r);
  }

  /** Number of coherency reports of one kind (or all) so far. */
  coherencyReportCount(kind?: CoherencyKind): number {
    return kind
      ? this.coherencyReports.filter((r) => r.kind === kind).length
      : this.coherencyReports.length;
  }

  /** The next eviction choice, or null when eviction is not randomized. */
  eviction_random(): number | null {
    return this.#evictionRandom ? this.#evictionRandom() : null;
  }

  /** Number of warnings of one kind so far. */
  warningCount(kind?: WarningKind): number {
    return kind ? this.warnings.filter((w) => w.kind === kind).length : this.warnings.length;
  }

  /** Pid of the process in a syscall, for warning lines (0 when idle). */
  current_pid = 0;

  /**
   * Starts a process with fds 0, 1 and 2 open on the terminal.
   *
   * @param name The command name (`comm`).
   * @param options Its credentials: `uid` (default 0, root) and `dumpable` (default true). A
   * process may take another's fds (`pidfd_getfd`) and read its `/proc` files only with ptrace
   * access: same process, uid 0, or the same uid and a dumpable target.
   * @returns The process, which implements the `Kernel` syscall boundary.
   */
  process(name = "deno", options: SimProcessOptions = {}): SimProcess {
    const p = new SimProcess(this, this.#next_pid++, name, options);
    this.tasks.set(p.pid, p);
    return p;
  }

  /** `find_task_by_vpid(pid)`: the live process with this pid, or undefined. */
  find_task_by_vpid(pid: number): SimProcess | undefined {
    return this.tasks.get(pid);
  }

  /** The live processes, by pid. */
  get processes(): SimProcess[] {
    return [...this.tasks.values()].sort((a, b) => a.pid - b.pid);
  }

  /** Live processes by pid (what `/proc` lists). */
  readonly tasks: Map<number, SimProcess> = new Map();

  /** The process {@linkcode process} made first for this machine, made on first use. */
  get defaultProcess(): SimProcess {
    return this.#default_process ??= this.process();
  }

  /** Free RAM pages in the buddy allocator. */
  get freePages(): number {
    return this.zone.nr_free;
  }

  /**
   * Reads physical memory, as a device doing DMA would.
   *
   * @throws {RangeError} When the range is not inside one allocated buffer.
   */
  phys_read(phys: number, length: number): Uint8Array {
    const bytes = this.#phys(phys, length);
    const e = this.physmap.lookup(phys)!;
    const off = e.offset + (phys - e.phys);
    e.store.cpu_cache?.device_read(off, off + length, `a DMA read at ${hex(phys)}`);
    return bytes.slice();
  }

  /**
   * Writes physical memory, as a device doing DMA would.
   *
   * @throws {RangeError} When the range is not inside one allocated buffer.
   */
  phys_write(phys: number, data: Uint8Array): void {
    const bytes = this.#phys(phys, data.length);
    const e = this.physmap.lookup(phys)!;
    const off = e.offset + (phys - e.phys);
    e.store.cpu_cache?.device_will_write(off, off + data.length);
    bytes.set(data);
    e.store.cpu_cache?.device_write(off, off + data.length, `a DMA write at ${hex(phys)}`);
  }

  #phys(phys: number, length: number): Uint8Array {
    const e = this.physmap.lookup(phys);
    if (!e || phys + length > e.phys + e.length) {
      throw new RangeError(`No allocated memory at physical 0x${phys.toString(16)}+${length}`);
    }
    return new Uint8Array(e.store.current, e.offset + (phys - e.phys), length);
  }
}
