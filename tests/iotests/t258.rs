//! Port of upstream iotest t258: not written yet.
