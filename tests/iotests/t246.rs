//! Port of upstream iotest t246: not written yet.
