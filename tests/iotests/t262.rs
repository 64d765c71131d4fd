//! Port of upstream iotest t262: not written yet.
