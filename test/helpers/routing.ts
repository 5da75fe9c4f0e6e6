// The routing files of every node of every fixture mesh, keyed by file name; shared by the golden and the
// integration tests so both check exactly the same texts.
import { topology } from "../../src/model/topology.js";
import { renderBird } from "../../src/render/bird.js";
import { renderFrr } from "../../src/render/frr.js";
import { renderNft } from "../../src/render/nft.js";
import { FIXTURE_MESHES, loadFixture } from "./meshes.js";

export interface NodeOutputs {
  mesh: string;
  node: string;
  /** File name -> text. A renderer that has nothing to say ("") adds no file. */
  files: Record<string, string>;
}

export function routingOutputs(meshName: string): NodeOutputs[] {
  const mesh = loadFixture(meshName);
  return mesh.nodes.map((n) => {
    const frr = renderFrr(topology(mesh).node(n));
    const all = {
      "frr.conf": frr.frrConf,
      daemons: frr.daemons,
      "bird.conf": renderBird(topology(mesh).node(n)),
      "mss-clamp.nft": renderNft(topology(mesh).node(n)),
    };
    return { mesh: meshName, node: n.name, files: Object.fromEntries(Object.entries(all).filter(([, v]) => v !== "")) };
  });
}

export const allRoutingOutputs = (): NodeOutputs[] => FIXTURE_MESHES.flatMap(routingOutputs);

/** [label, text] of every rendered file with this name, e.g. every frr.conf. */
export const filesNamed = (name: string): [string, string][] =>
  allRoutingOutputs().flatMap((o) => (o.files[name] === undefined ? [] : [[`${o.mesh}/${o.node}`, o.files[name] as string]]));
