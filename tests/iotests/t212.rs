//! Port of upstream iotest t212: not written yet.
