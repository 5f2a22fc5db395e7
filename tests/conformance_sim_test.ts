/**
 * The conformance suite against the simulated kernel: a fresh simulated machine per case, so
 * observations do not depend on what ran before.
 */
import { registerConformance } from "./conformance/mod.ts";
import { recordResults } from "./conformance/record.ts";
import { createSimMachine } from "../src/sim/mod.ts";

const results = {};
registerConformance("simulated", () => createSimMachine().process(), results);
recordResults("simulated", results);
