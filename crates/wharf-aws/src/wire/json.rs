//! awsJson error bodies: `{"__type": "<namespace>#<Code>", "message": "…"}`.

/// Renders an awsJson error body; `namespace` may be empty.
pub fn render_error(namespace: &str, code: &str, message: &str) -> String {
    let error_type = if namespace.is_empty() { code.to_string() } else { format!("{namespace}#{code}") };
    serde_json::json!({ "__type": error_type, "message": message }).to_string()
}
