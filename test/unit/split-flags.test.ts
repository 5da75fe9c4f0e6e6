// `set`/`add` take their words raw (node names and values may start with anything); splitFlags picks ciab's own
// global options out of them. Only the options it knows: a word such as `constructor` is an argument.
import { describe, expect, it } from "vitest";
import { splitFlags } from "../../src/cli/context.js";

describe("splitFlags", () => {
  it("takes the global options and leaves every other word", () => {
    expect(splitFlags(["net", "--json", "-C", "/d", "node", "a", "--lock-timeout=5", "listen-port", "1"])).toEqual({
      args: ["net", "node", "a", "listen-port", "1"],
      flags: { json: true, dir: "/d", lockTimeout: "5" },
    });
  });
  it.each(["constructor", "toString", "__proto__", "hasOwnProperty"])("%s is an argument, not an option", (w) => {
    expect(splitFlags(["net", "node", w, "listen-port", "1"])).toEqual({ args: ["net", "node", w, "listen-port", "1"], flags: {} });
  });
  it("an option without its value is a usage error", () => {
    expect(() => splitFlags(["net", "--registry"])).toThrow(/needs a value/);
  });
});
