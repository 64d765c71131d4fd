//! QEMU tool wrappers. (Skeleton: the tools helper fills this in.)
