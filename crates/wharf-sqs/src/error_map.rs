//! Every SQS error: its awsJson type, its awsQuery code (also sent in `x-amzn-query-error`), its
//! HTTP status, and the mapping from domain errors.

use wharf_domain::DomainError;

/// The most messages a standard queue may have in flight (received, not yet deleted or visible
/// again); AWS answers OverLimit beyond it.
pub const IN_FLIGHT_MESSAGES_MAX: u64 = 120_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    QueueDoesNotExist,
    QueueNameExists,
    InvalidParameterValue,
    MissingParameter,
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidMessageContents,
    ReceiptHandleIsInvalid,
    MessageNotInflight,
    PurgeQueueInProgress,
    TooManyEntriesInBatchRequest,
    EmptyBatchRequest,
    BatchEntryIdsNotDistinct,
    InvalidBatchEntryId,
    BatchRequestTooLong,
    UnsupportedOperation,
    QueueDeletedRecently,
    AccessDenied,
    OverLimit,
    ResourceNotFound,
    InvalidAction,
    Serialization,
    ServiceUnavailable,
    Internal,
}

/// How one error kind appears on the wire.
pub struct WireError {
    /// Namespace and shape name for the awsJson `__type`.
    pub json_type: &'static str,
    /// The awsQuery code, also sent with awsJson errors in `x-amzn-query-error`.
    pub query_code: &'static str,
    pub status: u16,
    pub sender_fault: bool,
}

const fn sqs(json_type: &'static str, query_code: &'static str, status: u16) -> WireError {
    WireError { json_type, query_code, status, sender_fault: true }
}

impl ErrorKind {
    pub fn wire(self) -> WireError {
        use ErrorKind::*;
        match self {
            QueueDoesNotExist => {
                sqs("com.amazonaws.sqs#QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", 400)
            }
            QueueNameExists => sqs("com.amazonaws.sqs#QueueNameExists", "QueueAlreadyExists", 400),
            InvalidParameterValue => {
                sqs("com.amazonaws.sqs#InvalidParameterValueException", "InvalidParameterValue", 400)
            }
            MissingParameter => sqs("com.amazonaws.sqs#MissingRequiredParameterException", "MissingParameter", 400),
            InvalidAttributeName => sqs("com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName", 400),
            InvalidAttributeValue => sqs("com.amazonaws.sqs#InvalidAttributeValue", "InvalidAttributeValue", 400),
            InvalidMessageContents => sqs("com.amazonaws.sqs#InvalidMessageContents", "InvalidMessageContents", 400),
            ReceiptHandleIsInvalid => sqs("com.amazonaws.sqs#ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid", 400),
            MessageNotInflight => {
                sqs("com.amazonaws.sqs#MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight", 400)
            }
            PurgeQueueInProgress => {
                sqs("com.amazonaws.sqs#PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", 403)
            }
            TooManyEntriesInBatchRequest => sqs(
                "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                400,
            ),
            EmptyBatchRequest => {
                sqs("com.amazonaws.sqs#EmptyBatchRequest", "AWS.SimpleQueueService.EmptyBatchRequest", 400)
            }
            BatchEntryIdsNotDistinct => sqs(
                "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                400,
            ),
            InvalidBatchEntryId => {
                sqs("com.amazonaws.sqs#InvalidBatchEntryId", "AWS.SimpleQueueService.InvalidBatchEntryId", 400)
            }
            BatchRequestTooLong => {
                sqs("com.amazonaws.sqs#BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong", 400)
            }
            UnsupportedOperation => {
                sqs("com.amazonaws.sqs#UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation", 400)
            }
            QueueDeletedRecently => {
                sqs("com.amazonaws.sqs#QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently", 400)
            }
            AccessDenied => sqs("com.amazonaws.sqs#AccessDeniedException", "AccessDenied", 403),
            OverLimit => sqs("com.amazonaws.sqs#OverLimit", "OverLimit", 403),
            ResourceNotFound => sqs("com.amazonaws.sqs#ResourceNotFoundException", "ResourceNotFoundException", 404),
            InvalidAction => sqs("com.amazon.coral.service#UnknownOperationException", "InvalidAction", 400),
            Serialization => WireError {
                json_type: "com.amazon.coral.service#SerializationException",
                query_code: "MalformedQueryString",
                status: 400,
                sender_fault: true,
            },
            ServiceUnavailable => WireError {
                json_type: "com.amazonaws.sqs#ServiceUnavailable",
                query_code: "ServiceUnavailable",
                status: 503,
                sender_fault: false,
            },
            Internal => WireError {
                json_type: "com.amazonaws.sqs#InternalError",
                query_code: "InternalError",
                status: 500,
                sender_fault: false,
            },
        }
    }
}

/// An SQS error with its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SqsError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SqsError { kind, message: message.into() }
    }

    pub fn missing(parameter: &str) -> Self {
        SqsError::new(ErrorKind::MissingParameter, format!("The request must contain the parameter {parameter}."))
    }

    pub fn invalid_value(parameter: &str, value: impl std::fmt::Display, reason: &str) -> Self {
        SqsError::new(
            ErrorKind::InvalidParameterValue,
            format!("Value {value} for parameter {parameter} is invalid. Reason: {reason}"),
        )
    }

    pub fn queue_does_not_exist() -> Self {
        SqsError::new(ErrorKind::QueueDoesNotExist, "The specified queue does not exist.")
    }

    pub fn invalid_receipt_handle(handle: &str) -> Self {
        SqsError::new(
            ErrorKind::ReceiptHandleIsInvalid,
            format!("The input receipt handle \"{handle}\" is not a valid receipt handle."),
        )
    }

    /// The message as the awsQuery protocol words it, where it differs from awsJson.
    pub fn query_message(&self) -> String {
        match self.kind {
            ErrorKind::QueueDoesNotExist => "The specified queue does not exist for this wsdl version.".to_string(),
            _ => self.message.clone(),
        }
    }
}

impl From<DomainError> for SqsError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::QueueDoesNotExist => SqsError::queue_does_not_exist(),
            DomainError::QueueAlreadyExists => {
                SqsError::new(ErrorKind::QueueNameExists, "A queue already exists with the same name and a different value for attribute(s)")
            }
            DomainError::QueueDeletedRecently => SqsError::new(
                ErrorKind::QueueDeletedRecently,
                "You must wait 60 seconds after deleting a queue before you can create another with the same name.",
            ),
            DomainError::DeadLetterTargetMissing => SqsError::new(
                ErrorKind::InvalidParameterValue,
                "Value for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist.",
            ),
            DomainError::MessageNotInFlight => SqsError::new(ErrorKind::MessageNotInflight, "Message does not exist or is not available for visibility timeout change."),
            DomainError::LeaseExpired => SqsError::new(
                ErrorKind::InvalidParameterValue,
                "Value for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.",
            ),
            DomainError::LeaseNotCurrent => SqsError::new(
                ErrorKind::InvalidParameterValue,
                "Value for parameter ReceiptHandle is invalid. Reason: Message does not exist or is not available for visibility timeout change.",
            ),
            DomainError::VisibilityTimeoutTooLong { max_seconds } => SqsError::new(
                ErrorKind::InvalidParameterValue,
                format!("Value for parameter VisibilityTimeout is invalid. Reason: Total VisibilityTimeout for the message is beyond the limit [{max_seconds} seconds]"),
            ),
            DomainError::TooManyLeased => SqsError::new(
                ErrorKind::OverLimit,
                format!("The maximum number of in flight messages ({IN_FLIGHT_MESSAGES_MAX}) has been reached for this queue."),
            ),
            DomainError::MoveTaskRunning => SqsError::new(
                ErrorKind::InvalidParameterValue,
                "There is already a task running. Only one active task is allowed for a source queue arn at a given time.",
            ),
            DomainError::MoveTaskNotFound => SqsError::new(ErrorKind::ResourceNotFound, "Task does not exist."),
            DomainError::PurgeInProgress => SqsError::new(
                ErrorKind::PurgeQueueInProgress,
                "Only one PurgeQueue operation on the queue is allowed every 60 seconds.",
            ),
            DomainError::ShuttingDown => SqsError::new(ErrorKind::ServiceUnavailable, "The service is shutting down; retry."),
            // Topic and stream errors never arise from an SQS operation.
            DomainError::TopicDoesNotExist
            | DomainError::TopicAlreadyExists
            | DomainError::SubscriptionDoesNotExist
            | DomainError::InvalidFilterPolicy(_)
            | DomainError::StreamDoesNotExist
            | DomainError::StreamAlreadyExists
            | DomainError::ShardDoesNotExist
            | DomainError::ShardNotOpen
            | DomainError::InvalidReshard(_) => SqsError::new(ErrorKind::Internal, error.to_string()),
            DomainError::Store(error) => {
                tracing::error!(%error, "storage failure");
                SqsError::new(ErrorKind::ServiceUnavailable, "The request could not be stored; retry later.")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_the_aws_code_and_status() {
        let rows: &[(ErrorKind, &str, &str, u16)] = &[
            (
                ErrorKind::QueueDoesNotExist,
                "com.amazonaws.sqs#QueueDoesNotExist",
                "AWS.SimpleQueueService.NonExistentQueue",
                400,
            ),
            (ErrorKind::QueueNameExists, "com.amazonaws.sqs#QueueNameExists", "QueueAlreadyExists", 400),
            (
                ErrorKind::InvalidParameterValue,
                "com.amazonaws.sqs#InvalidParameterValueException",
                "InvalidParameterValue",
                400,
            ),
            (
                ErrorKind::MissingParameter,
                "com.amazonaws.sqs#MissingRequiredParameterException",
                "MissingParameter",
                400,
            ),
            (ErrorKind::InvalidAttributeName, "com.amazonaws.sqs#InvalidAttributeName", "InvalidAttributeName", 400),
            (ErrorKind::InvalidAttributeValue, "com.amazonaws.sqs#InvalidAttributeValue", "InvalidAttributeValue", 400),
            (
                ErrorKind::InvalidMessageContents,
                "com.amazonaws.sqs#InvalidMessageContents",
                "InvalidMessageContents",
                400,
            ),
            (
                ErrorKind::ReceiptHandleIsInvalid,
                "com.amazonaws.sqs#ReceiptHandleIsInvalid",
                "ReceiptHandleIsInvalid",
                400,
            ),
            (
                ErrorKind::MessageNotInflight,
                "com.amazonaws.sqs#MessageNotInflight",
                "AWS.SimpleQueueService.MessageNotInflight",
                400,
            ),
            (
                ErrorKind::PurgeQueueInProgress,
                "com.amazonaws.sqs#PurgeQueueInProgress",
                "AWS.SimpleQueueService.PurgeQueueInProgress",
                403,
            ),
            (
                ErrorKind::TooManyEntriesInBatchRequest,
                "com.amazonaws.sqs#TooManyEntriesInBatchRequest",
                "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
                400,
            ),
            (
                ErrorKind::EmptyBatchRequest,
                "com.amazonaws.sqs#EmptyBatchRequest",
                "AWS.SimpleQueueService.EmptyBatchRequest",
                400,
            ),
            (
                ErrorKind::BatchEntryIdsNotDistinct,
                "com.amazonaws.sqs#BatchEntryIdsNotDistinct",
                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
                400,
            ),
            (
                ErrorKind::InvalidBatchEntryId,
                "com.amazonaws.sqs#InvalidBatchEntryId",
                "AWS.SimpleQueueService.InvalidBatchEntryId",
                400,
            ),
            (
                ErrorKind::BatchRequestTooLong,
                "com.amazonaws.sqs#BatchRequestTooLong",
                "AWS.SimpleQueueService.BatchRequestTooLong",
                400,
            ),
            (
                ErrorKind::UnsupportedOperation,
                "com.amazonaws.sqs#UnsupportedOperation",
                "AWS.SimpleQueueService.UnsupportedOperation",
                400,
            ),
            (
                ErrorKind::QueueDeletedRecently,
                "com.amazonaws.sqs#QueueDeletedRecently",
                "AWS.SimpleQueueService.QueueDeletedRecently",
                400,
            ),
            (ErrorKind::AccessDenied, "com.amazonaws.sqs#AccessDeniedException", "AccessDenied", 403),
            (ErrorKind::OverLimit, "com.amazonaws.sqs#OverLimit", "OverLimit", 403),
            (
                ErrorKind::ResourceNotFound,
                "com.amazonaws.sqs#ResourceNotFoundException",
                "ResourceNotFoundException",
                404,
            ),
            (ErrorKind::InvalidAction, "com.amazon.coral.service#UnknownOperationException", "InvalidAction", 400),
            (ErrorKind::Serialization, "com.amazon.coral.service#SerializationException", "MalformedQueryString", 400),
            (ErrorKind::ServiceUnavailable, "com.amazonaws.sqs#ServiceUnavailable", "ServiceUnavailable", 503),
            (ErrorKind::Internal, "com.amazonaws.sqs#InternalError", "InternalError", 500),
        ];
        for (kind, json_type, query_code, status) in rows {
            let wire = kind.wire();
            assert_eq!((wire.json_type, wire.query_code, wire.status), (*json_type, *query_code, *status), "{kind:?}");
        }
    }

    #[test]
    fn domain_errors_map_to_sqs_errors() {
        assert_eq!(SqsError::from(DomainError::QueueDoesNotExist).kind, ErrorKind::QueueDoesNotExist);
        assert_eq!(SqsError::from(DomainError::QueueAlreadyExists).kind, ErrorKind::QueueNameExists);
        assert_eq!(SqsError::from(DomainError::MessageNotInFlight).kind, ErrorKind::MessageNotInflight);
        assert_eq!(SqsError::from(DomainError::PurgeInProgress).kind, ErrorKind::PurgeQueueInProgress);
        assert_eq!(SqsError::from(DomainError::QueueDeletedRecently).kind, ErrorKind::QueueDeletedRecently);
        assert_eq!(SqsError::from(DomainError::TooManyLeased).kind, ErrorKind::OverLimit);
        assert_eq!(SqsError::from(DomainError::LeaseNotCurrent).kind, ErrorKind::InvalidParameterValue);
        assert_eq!(
            SqsError::from(DomainError::Store(wharf_domain::StoreError::Closed)).kind,
            ErrorKind::ServiceUnavailable
        );
    }
}
