//! Port of upstream iotest inactive_node_nbd: not written yet.
