//! Every SNS error this front-end sends: its awsQuery code, HTTP status and fault side, and how
//! domain errors map onto them.

use wharf_domain::DomainError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    InvalidParameter,
    /// Shape InvalidParameterValueException, code `ParameterValueInvalid`.
    InvalidParameterValue,
    NotFound,
    ResourceNotFound,
    AuthorizationError,
    InvalidAction,
    MissingParameter,
    MalformedQueryString,
    TagLimitExceeded,
    FilterPolicyLimitExceeded,
    TopicLimitExceeded,
    SubscriptionLimitExceeded,
    EmptyBatchRequest,
    TooManyEntriesInBatchRequest,
    BatchEntryIdsNotDistinct,
    InvalidBatchEntryId,
    BatchRequestTooLong,
    EndpointDisabled,
    PlatformApplicationDisabled,
    OptedOut,
    /// Code `ValidationException` (ListOriginationNumbers' limits).
    ValidationException,
    /// The model gives no code: the shape name is the code.
    VerificationException,
    Internal,
}

impl ErrorKind {
    /// (code, HTTP status, sender's fault)
    pub fn wire(self) -> (&'static str, u16, bool) {
        use ErrorKind::*;
        match self {
            InvalidParameter => ("InvalidParameter", 400, true),
            InvalidParameterValue => ("ParameterValueInvalid", 400, true),
            NotFound => ("NotFound", 404, true),
            ResourceNotFound => ("ResourceNotFound", 404, true),
            AuthorizationError => ("AuthorizationError", 403, true),
            InvalidAction => ("InvalidAction", 400, true),
            MissingParameter => ("MissingParameter", 400, true),
            MalformedQueryString => ("MalformedQueryString", 400, true),
            TagLimitExceeded => ("TagLimitExceeded", 400, true),
            FilterPolicyLimitExceeded => ("FilterPolicyLimitExceeded", 403, true),
            TopicLimitExceeded => ("TopicLimitExceeded", 403, true),
            SubscriptionLimitExceeded => ("SubscriptionLimitExceeded", 403, true),
            EmptyBatchRequest => ("EmptyBatchRequest", 400, true),
            TooManyEntriesInBatchRequest => ("TooManyEntriesInBatchRequest", 400, true),
            BatchEntryIdsNotDistinct => ("BatchEntryIdsNotDistinct", 400, true),
            InvalidBatchEntryId => ("InvalidBatchEntryId", 400, true),
            BatchRequestTooLong => ("BatchRequestTooLong", 400, true),
            EndpointDisabled => ("EndpointDisabled", 400, true),
            PlatformApplicationDisabled => ("PlatformApplicationDisabled", 400, true),
            OptedOut => ("OptedOut", 400, true),
            ValidationException => ("ValidationException", 400, true),
            VerificationException => ("VerificationException", 400, true),
            Internal => ("InternalError", 500, false),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnsError {
    pub kind: ErrorKind,
    pub message: String,
}

impl SnsError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        SnsError { kind, message: message.into() }
    }

    /// `InvalidParameter` with AWS's "Invalid parameter: …" wording.
    pub fn invalid(detail: impl std::fmt::Display) -> Self {
        SnsError::new(ErrorKind::InvalidParameter, format!("Invalid parameter: {detail}"))
    }

    pub fn missing(parameter: &str) -> Self {
        SnsError::new(
            ErrorKind::InvalidParameter,
            format!(
                "1 validation error detected: Value null at '{}' failed to satisfy constraint: Member must not be null",
                lower_first(parameter)
            ),
        )
    }

    pub fn topic_not_found() -> Self {
        SnsError::new(ErrorKind::NotFound, "Topic does not exist")
    }

    pub fn subscription_not_found() -> Self {
        SnsError::new(ErrorKind::NotFound, "Subscription does not exist")
    }
}

fn lower_first(name: &str) -> String {
    let mut chars = name.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

impl From<DomainError> for SnsError {
    fn from(error: DomainError) -> Self {
        match error {
            DomainError::TopicDoesNotExist => SnsError::topic_not_found(),
            DomainError::SubscriptionDoesNotExist => SnsError::subscription_not_found(),
            DomainError::InvalidFilterPolicy(reason) => SnsError::invalid(format!("FilterPolicy: {reason}")),
            DomainError::QueueDoesNotExist => SnsError::new(ErrorKind::NotFound, "Queue does not exist"),
            DomainError::ShuttingDown => SnsError::new(ErrorKind::Internal, "The server is shutting down."),
            other => SnsError::new(ErrorKind::Internal, other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_statuses_and_domain_mapping() {
        assert_eq!(ErrorKind::InvalidParameterValue.wire(), ("ParameterValueInvalid", 400, true));
        assert_eq!(ErrorKind::NotFound.wire(), ("NotFound", 404, true));
        assert_eq!(ErrorKind::AuthorizationError.wire(), ("AuthorizationError", 403, true));
        assert_eq!(ErrorKind::Internal.wire(), ("InternalError", 500, false));
        assert_eq!(ErrorKind::VerificationException.wire(), ("VerificationException", 400, true));
        assert_eq!(SnsError::from(DomainError::TopicDoesNotExist).kind, ErrorKind::NotFound);
        let filter = SnsError::from(DomainError::InvalidFilterPolicy("bad".into()));
        assert_eq!(
            (filter.kind, filter.message.as_str()),
            (ErrorKind::InvalidParameter, "Invalid parameter: FilterPolicy: bad")
        );
        assert!(SnsError::missing("TopicArn").message.contains("'topicArn'"));
    }
}
