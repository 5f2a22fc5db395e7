/**
 * The seed's test importer (not yet implemented).
 *
 * @module
 */
import type { SimMachine } from "../machine.ts";

/** Registers `/dev/driverA` and `/dev/driverB` (not yet). */
export function test_driver_init(_m: SimMachine): void {}
