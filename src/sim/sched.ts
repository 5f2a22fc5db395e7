/**
 * include/linux/sched.h: the part of `struct task_struct` the model needs — the fd table, the
 * address space and the machine it runs on (`current` is passed explicitly).
 *
 * @module
 */
import type { files_struct } from "./file.ts";
import type { mm_struct } from "./mmap.ts";
import type { MachineContext } from "./context.ts";

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
  /** The uid (0: root). */
  readonly uid: number;
  /** Whether ptrace access by other processes of the same uid is allowed. */
  readonly dumpable: boolean;
  /** True once the process exited. */
  readonly exited: boolean;
  /** The machine the process runs on. */
  readonly machine: MachineContext;
}
