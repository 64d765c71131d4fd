//! QEMU VMs. (Skeleton: the VM helper fills this in.)

/// A failed VM.
#[derive(Debug, thiserror::Error)]
pub enum VmError {
    /// Placeholder.
    #[error("vm: {0}")]
    Other(String),
}
