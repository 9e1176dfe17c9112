// `require("sae-seeds/sae")`: the ES module dist/sae/index.js, loaded for CommonJS (see require_esm.cjs).
"use strict";
module.exports = require("./require_esm.cjs")(require.resolve("../dist/sae/index.js"), "sae-seeds/sae");
