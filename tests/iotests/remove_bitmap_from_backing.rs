//! Port of upstream iotest remove_bitmap_from_backing: not written yet.
