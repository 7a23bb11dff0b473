//! Errors a function returns to its runtime: a stable type name, a message, and whether a retry
//! can help. Each function binary turns this into the Lambda runtime's `Diagnostic`.

/// An error reported by a function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FunctionError {
    /// Stable identifier such as `mlinfra.InvalidEvent`; alarms and tests match on it.
    pub error_type: &'static str,
    pub message: String,
    pub retryable: bool,
}

impl FunctionError {
    pub fn invalid_event(message: impl Into<String>) -> Self {
        FunctionError {
            error_type: "mlinfra.InvalidEvent",
            message: message.into(),
            retryable: false,
        }
    }

    /// The function's work is not part of this version of mlinfra.
    pub fn not_built(function: crate::FunctionName) -> Self {
        FunctionError {
            error_type: "mlinfra.NotBuilt",
            message: format!(
                "the `{function}` function ({}) is not part of this version of mlinfra yet",
                function.purpose()
            ),
            retryable: false,
        }
    }
}
