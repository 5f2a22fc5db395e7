/**
 * What kernel code may reach of the machine it runs on: the log, warnings, physical memory and
 * its allocators, `/dev`, and the task list. Linux keeps these as globals; the model has one
 * set per {@linkcode SimMachine}, and subsystems take this interface instead of the machine
 * class, so they do not depend on how it boots (`machine.ts`) or on each other through it.
 *
 * Drivers' init functions take a {@linkcode DriverContext} (`driver_context.ts`), which adds the
 * subsystems they register with.
 *
 * @module
 */
import type { BuddyZone, PhysMap, PhysRange } from "./mm.ts";
import type { Cma } from "./cma.ts";
import type { VmallocArea } from "./vmalloc.ts";
import type { WarnSink } from "./bug.ts";
import type { Coherency, CoherencySink } from "./cache.ts";
import type { inode } from "./file_table.ts";
import type { Devtmpfs } from "./char_dev.ts";
import type { Task } from "./sched.ts";

/** The machine as kernel code sees it (implemented by `SimMachine`). */
export interface MachineContext extends WarnSink, CoherencySink {
  /** The CPU's caches: `"non-coherent"` gives cached heap buffers and udmabufs' memfds a `CpuCache`. */
  readonly coherency: Coherency;
  /** `printk(fmt, ...)` with the text already formatted. */
  printk(text: string): void;
  /** `printk_once()`: prints `text` the first time `key` is seen. */
  printk_once(key: string, text: string): void;
  /** Pid of the process in a syscall, for warning lines (0 when idle). */
  current_pid: number;
  /** `get_next_ino()`: inode numbers of pseudo files. */
  get_next_ino(): number;
  /** RAM as configured. */
  readonly memory: PhysRange;
  /** RAM's buddy allocator. */
  readonly zone: BuddyZone;
  /** Physical address → bytes. */
  readonly physmap: PhysMap;
  /** CMA areas, the default first. */
  readonly cma_areas: readonly Cma[];
  /** The vmalloc area (kernel virtual addresses of vmaps). */
  readonly vmalloc: VmallocArea;
  /** The inode every anon-inode file shares (`anon_inode_inode`). */
  readonly anon_inode_inode: inode;
  /** Mount id of the internal shmem mount (memfds). */
  readonly shm_mnt_id: number;
  /** `/dev`. */
  readonly dev: Devtmpfs;
  /** debugfs, mounted at `/sys/kernel/debug`. */
  readonly debugfs: Devtmpfs;
  /** Live processes by pid (what `/proc` lists). */
  readonly tasks: ReadonlyMap<number, Task>;
  /** `find_task_by_vpid(pid)`: the live process with this pid, or undefined. */
  find_task_by_vpid(pid: number): Task | undefined;
}
