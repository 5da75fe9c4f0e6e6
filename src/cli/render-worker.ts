// Entry point of a `ciab render` worker thread (dist/render-worker.mjs): renders its slice, answers once, exits.
import { parentPort, workerData } from "node:worker_threads";
import { type RenderJob, runJob } from "./render-bundles.js";

parentPort?.postMessage(runJob(workerData as RenderJob));
