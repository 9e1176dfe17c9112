// `require("sae-seeds/match")`: the ES module dist/match/index.js, loaded for CommonJS (see require_esm.cjs).
"use strict";
module.exports = require("./require_esm.cjs")(require.resolve("../dist/match/index.js"), "sae-seeds/match");
