// The library API (dist/index.mjs): the pure core, for scripts and benchmarks that do not go through the CLI.
export { addNodes, applySet, blacklist, delNodes, ensureNetwork } from "./model/edit.js";
export { CiabError, EXIT } from "./model/errors.js";
export { type Mesh, type MeshNode, meshFromDoc } from "./model/mesh.js";
export { dumpToml, parseToml } from "./model/toml.js";
export { type NodeTopology, type Topology, topology } from "./model/topology.js";
export { effectiveDoc } from "./registry/records.js";
export { type BundleFile, bundleRenderer, checkRenderable, renderBundle } from "./render/bundle.js";
export { renderShowconf } from "./render/showconf.js";
