//! Port of upstream iotest t254: not written yet.
