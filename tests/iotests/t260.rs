//! Port of upstream iotest t260: not written yet.
