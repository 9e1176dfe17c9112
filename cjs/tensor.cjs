// `require("sae-seeds/tensor")`: the ES module dist/tensor/index.js, loaded for CommonJS (see require_esm.cjs).
"use strict";
module.exports = require("./require_esm.cjs")(require.resolve("../dist/tensor/index.js"), "sae-seeds/tensor");
