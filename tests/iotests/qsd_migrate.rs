//! Port of upstream iotest qsd_migrate: not written yet.
