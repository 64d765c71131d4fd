//! Port of upstream iotest t234: not written yet.
