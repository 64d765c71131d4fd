//! Port of upstream iotest t242: not written yet.
