import { MemoryRegistry } from "../../src/registry/memory.js";
import { registryConformance } from "./conformance.js";

registryConformance("memory", async () => new MemoryRegistry());
