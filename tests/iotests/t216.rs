//! Port of upstream iotest t216: not written yet.
