//! Port of upstream iotest parallels_read_bitmap: not written yet.
