//! Port of upstream iotest t255: not written yet.
