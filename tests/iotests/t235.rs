//! Port of upstream iotest t235: not written yet.
