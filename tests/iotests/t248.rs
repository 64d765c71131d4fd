//! Port of upstream iotest t248: not written yet.
