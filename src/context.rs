//! per-test context (skeleton)
