//! Port of upstream iotest t203: not written yet.
