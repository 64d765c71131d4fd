//! Port of upstream iotest t274: not written yet.
