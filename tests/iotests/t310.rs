//! Port of upstream iotest t310: not written yet.
