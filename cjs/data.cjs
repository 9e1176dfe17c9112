// `require("sae-seeds/data")`: the ES module dist/data/index.js, loaded for CommonJS (see require_esm.cjs).
"use strict";
module.exports = require("./require_esm.cjs")(require.resolve("../dist/data/index.js"), "sae-seeds/data");
