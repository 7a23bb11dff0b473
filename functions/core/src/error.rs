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

#[cfg(feature = "lambda")]
impl From<FunctionError> for lambda_runtime::Diagnostic {
    fn from(e: FunctionError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type.to_string(),
            error_message: e.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_built_names_the_function_and_what_it_does() {
        let e = FunctionError::not_built(crate::FunctionName::Predict);
        assert_eq!(e.error_type, "mlinfra.NotBuilt");
        assert!(
            e.message.contains("`predict` function (serves predictions"),
            "{}",
            e.message
        );
    }

    #[cfg(feature = "lambda")]
    #[test]
    fn becomes_a_lambda_diagnostic_with_its_stable_type() {
        let d: lambda_runtime::Diagnostic = FunctionError::invalid_event("no body").into();
        assert_eq!(d.error_type, "mlinfra.InvalidEvent");
        assert_eq!(d.error_message, "no body");
    }
}
