// `require("sae-seeds/gpt2")`: the ES module dist/gpt2/index.js, loaded for CommonJS (see require_esm.cjs).
"use strict";
module.exports = require("./require_esm.cjs")(require.resolve("../dist/gpt2/index.js"), "sae-seeds/gpt2");
