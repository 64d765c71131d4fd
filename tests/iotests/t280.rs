//! Port of upstream iotest t280: not written yet.
