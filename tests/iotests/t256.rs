//! Port of upstream iotest t256: not written yet.
