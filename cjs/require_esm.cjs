// For CommonJS callers: require() one of the package's ES modules. Node >= 20.19 (and >= 22.12) can require ES modules
// (they are the same module instances `import` gives, so there is one matmul engine and one worker pool); a Node that
// cannot gets one line saying so and how to load the package instead, not a stack of loader internals.
"use strict";

module.exports = function requireEsm(path, name) {
  try {
    return require(path);
  } catch (e) {
    if (!e || e.code !== "ERR_REQUIRE_ESM") throw e;
    const why = process.features.require_module === false
      ? "this Node was started with require() of ES modules switched off (--no-experimental-require-module)"
      : `Node ${process.version} cannot require() ES modules (Node >= 20.19 can)`;
    const err = new Error(`${name} is an ES-module package and ${why}: use Node >= 20.19, or load it with \`const m = await import("${name}")\``);
    err.code = "ERR_REQUIRE_ESM";
    throw err;
  }
};
