//! QMP client. (Skeleton: the QMP helper fills this in.)

/// A failed QMP conversation.
#[derive(Debug, thiserror::Error)]
pub enum QmpError {
    /// Placeholder.
    #[error("qmp: {0}")]
    Other(String),
}
