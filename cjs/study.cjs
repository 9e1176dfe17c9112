// `require("sae-seeds/study")`: the ES module dist/study/index.js, loaded for CommonJS (see require_esm.cjs).
"use strict";
module.exports = require("./require_esm.cjs")(require.resolve("../dist/study/index.js"), "sae-seeds/study");
