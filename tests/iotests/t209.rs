//! Port of upstream iotest t209: not written yet.
