//! Port of upstream iotest t266: not written yet.
