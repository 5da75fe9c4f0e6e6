// A child process of file-lock.test.ts: `ciab add NET NAME` through the file driver's compare-and-swap (editMesh:
// read, change, writeMesh(ifRevision), again on a conflict) in directory DIR. It exits the moment its write landed,
// as a short-lived CLI does: its PID dies while other writers may still be looking at its lock.
import { cryptoRandom } from "../../src/keys/random.js";
import { addNodes, ensureNetwork } from "../../src/model/edit.js";
import { editMesh } from "../../src/registry/edit.js";
import { FileRegistry } from "../../src/registry/file.js";

const [dir = "", net = "", name = ""] = process.argv.slice(2);
const rnd = cryptoRandom();
// A generous lock timeout: on a loaded machine (the full test run, 2 cores) a turn can take longer than the default
// 10 s, and a timeout is reported (exit 1), never lost; what this race is about is an add that is lost silently.
const { changed } = await editMesh(new FileRegistry(dir, 60_000), net, { create: true }, (doc) => {
  ensureNetwork(doc, rnd);
  addNodes(doc, net, [name], rnd);
});
process.exit(changed ? 0 : 3);
