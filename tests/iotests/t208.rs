//! Port of upstream iotest t208: not written yet.
