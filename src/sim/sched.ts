/**
 * include/linux/sched.h: the part of `struct task_struct` the model needs — the fd table, the
 * address space and the machine it runs on (`current` is passed explicitly).
 *
 * @module
 */
import type { files_struct } from "./file.ts";
import type { mm_struct } from "./mmap.ts";
import type { SimMachine } from "./machine.ts";

/** A process of the simulated machine, as the kernel side sees it. */
export interface Task {
  /** Process id. */
  readonly pid: number;
  /** `comm`: the command name. */
  readonly comm: string;
  /** The fd table. */
  readonly files: files_struct;
  /** The address space. */
  readonly mm: mm_struct;
  /** The machine the process runs on. */
  readonly machine: SimMachine;
}
