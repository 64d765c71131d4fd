//! Port of upstream iotest t307: not written yet.
