// `require("sae-seeds")`: the ES module dist/index.js, loaded for CommonJS (see require_esm.cjs).
"use strict";
module.exports = require("./require_esm.cjs")(require.resolve("../dist/index.js"), "sae-seeds");
