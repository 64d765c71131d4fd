//! Port of upstream iotest t206: not written yet.
