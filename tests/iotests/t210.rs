//! Port of upstream iotest t210: not written yet.
