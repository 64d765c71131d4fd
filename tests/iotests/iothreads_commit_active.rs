//! Port of upstream iotest iothreads_commit_active: not written yet.
