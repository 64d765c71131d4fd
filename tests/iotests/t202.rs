//! Port of upstream iotest t202: not written yet.
