//! Port of upstream iotest t238: not written yet.
