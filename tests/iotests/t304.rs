//! Port of upstream iotest t304: not written yet.
