//! Test harness. (Skeleton: the harness helper fills this in.)
