import { rmSync } from "node:fs";
import { afterAll } from "vitest";
import { FileRegistry } from "../../src/registry/file.js";
import { tempDir } from "../helpers/cli.js";
import { registryConformance } from "./conformance.js";

const dir = tempDir("ciab-registry-file-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));
registryConformance("file", async () => new FileRegistry(dir));
