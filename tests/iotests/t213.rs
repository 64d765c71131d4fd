//! Port of upstream iotest t213: not written yet.
