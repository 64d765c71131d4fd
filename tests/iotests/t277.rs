//! Port of upstream iotest t277: not written yet.
