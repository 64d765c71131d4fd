//! Port of upstream iotest t299: not written yet.
