//! child processes (skeleton)
