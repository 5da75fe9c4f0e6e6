// Where the commands' keys, addresses and ports come from.
import { cryptoRandom, seededRandom } from "../keys/random.js";
import type { Random } from "../model/edit.js";
import { warn } from "./output.js";

/** The OS CSPRNG; CIAB_INSECURE_TEST_SEED makes keys and addresses reproducible for tests (never for real meshes). */
export function randomSource(): Random {
  const seed = process.env.CIAB_INSECURE_TEST_SEED;
  if (seed) {
    warn("CIAB_INSECURE_TEST_SEED is set: keys and addresses are predictable; never use them for a real mesh");
    return seededRandom(seed);
  }
  return cryptoRandom();
}
