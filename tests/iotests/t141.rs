//! Port of upstream iotest t141: not written yet.
