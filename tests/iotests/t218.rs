//! Port of upstream iotest t218: not written yet.
