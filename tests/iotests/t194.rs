//! Port of upstream iotest t194: not written yet.
