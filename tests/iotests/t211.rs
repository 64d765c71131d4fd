//! Port of upstream iotest t211: not written yet.
