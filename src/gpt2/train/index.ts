/** Public API of GPT-2 training: the model with its backward, the loop, AdamW and schedule, n-gram baselines, sampling. */
export * from "./gpt2_train.ts";
export * from "./trainer.ts";
export * from "./adamw.ts";
export * from "./params.ts";
export * from "./train_state.ts";
export * from "./ngram.ts";
export * from "./sample.ts";
