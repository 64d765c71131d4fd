//! Port of upstream iotest nbd_reconnect_on_open: not written yet.
