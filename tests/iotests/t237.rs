//! Port of upstream iotest t237: not written yet.
