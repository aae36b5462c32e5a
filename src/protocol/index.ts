export * from "./constants.js";
export * from "./errno.js";
export * from "./messages.js";
export * from "./codec.js";
export * from "./name-bytes.js";
