// The shape of a lab check (`ciab lab test`): what it gets and what it reports. Its own module so that checks in
// other files (exposure.ts) and the list that runs them (checks.ts) both import it without a cycle.
import type { Runner } from "../adapters/exec.js";
import type { Mesh } from "../model/mesh.js";
import type { LabPlan } from "./plan.js";
import type { LabState } from "./state.js";

export type Status = "pass" | "fail" | "skip";

export interface CheckResult {
  name: string;
  status: Status;
  detail: string;
}

export interface CheckContext {
  run: Runner;
  state: LabState;
  plan: LabPlan;
  mesh: Mesh;
  /** argv running `argv` on a node with its private mounts (vtysh, birdc, wg talk to that node's daemons). */
  onNode(node: string, argv: string[]): string[];
  sleep(ms: number): Promise<void>;
}

export type Check = (ctx: CheckContext) => Promise<CheckResult[]>;
