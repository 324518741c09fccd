//! Every Kinesis error: its awsJson `__type`, HTTP status and message, and the mapping from
//! domain errors.

use wharf_domain::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    ResourceNotFound,
    ResourceInUse,
    InvalidArgument,
    Validation,
    LimitExceeded,
    ExpiredIterator,
    ExpiredNextToken,
    ProvisionedThroughputExceeded,
    AccessDenied,
    Serialization,
    UnknownOperation,
    InternalFailure,
}

impl ErrorKind {
    /// The awsJson `__type` and the HTTP status.
    pub fn wire(self) -> (&'static str, u16) {
        use ErrorKind::*;
        match self {
            ResourceNotFound => ("ResourceNotFoundException", 400),
            ResourceInUse => ("ResourceInUseException", 400),
            InvalidArgument => ("InvalidArgumentException", 400),
            Validation => ("ValidationException", 400),
            LimitExceeded => ("LimitExceededException", 400),
            ExpiredIterator => ("ExpiredIteratorException", 400),
            ExpiredNextToken => ("ExpiredNextTokenException", 400),
            ProvisionedThroughputExceeded => ("ProvisionedThroughputExceededException", 400),
            AccessDenied => ("AccessDeniedException", 400),
            Serialization => ("SerializationException", 400),
            UnknownOperation => ("UnknownOperationException", 400),
            InternalFailure => ("InternalFailure", 500),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KinesisError {
    pub kind: ErrorKind,
    pub message: String,
}

impl KinesisError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        KinesisError { kind, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidArgument, message)
    }

    /// AWS's wording for a member that breaks a model constraint.
    pub fn validation(value: &str, member: &str, constraint: &str) -> Self {
        Self::new(
            ErrorKind::Validation,
            format!(
                "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {constraint}"
            ),
        )
    }

    /// A required member that is absent.
    pub fn missing(member: &str) -> Self {
        Self::new(
            ErrorKind::Validation,
            format!(
                "1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null"
            ),
        )
    }

    pub fn stream_not_found(name: &str, account: &str) -> Self {
        Self::new(ErrorKind::ResourceNotFound, format!("Stream {name} under account {account} not found."))
    }
}

impl From<DomainError> for KinesisError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::StreamDoesNotExist => KinesisError::new(ErrorKind::ResourceNotFound, "Stream not found."),
            DomainError::StreamAlreadyExists => KinesisError::new(ErrorKind::ResourceInUse, "Stream already exists."),
            DomainError::ShardDoesNotExist => KinesisError::new(ErrorKind::ResourceNotFound, "Shard not found."),
            DomainError::ShardNotOpen => KinesisError::new(ErrorKind::ResourceInUse, "The shard is not open."),
            DomainError::InvalidReshard(message) => KinesisError::invalid(message),
            DomainError::ShuttingDown => KinesisError::new(ErrorKind::InternalFailure, "The server is shutting down."),
            other => KinesisError::new(ErrorKind::InternalFailure, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domain_errors_map_to_kinesis_codes() {
        let cases = [
            (DomainError::StreamDoesNotExist, "ResourceNotFoundException"),
            (DomainError::StreamAlreadyExists, "ResourceInUseException"),
            (DomainError::ShardDoesNotExist, "ResourceNotFoundException"),
            (DomainError::ShardNotOpen, "ResourceInUseException"),
            (DomainError::InvalidReshard("x".into()), "InvalidArgumentException"),
            (DomainError::Store(wharf_domain::StoreError::Closed), "InternalFailure"),
        ];
        for (error, code) in cases {
            assert_eq!(KinesisError::from(error).kind.wire().0, code);
        }
        assert_eq!(ErrorKind::InternalFailure.wire().1, 500);
    }
}
