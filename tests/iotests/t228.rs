//! Port of upstream iotest t228: not written yet.
