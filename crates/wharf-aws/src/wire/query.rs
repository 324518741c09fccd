//! awsQuery parameters. A form such as `Attribute.1.Name=A&Attribute.1.Value=B` becomes the
//! tree `{"Attribute": {"1": {"Name": "A", "Value": "B"}}}`; each front-end then reshapes the
//! tree into its operation's input document.

use serde_json::{Map, Value};

/// Parameters from the query string and the form body, in order of appearance.
#[derive(Debug, Clone, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

/// Limits on a form so hostile input cannot make the tree expensive.
pub const QUERY_PARAMS_MAX: usize = 10_000;
pub const QUERY_KEY_DEPTH_MAX: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    #[error("too many parameters")]
    TooManyParameters,
    #[error("parameter name {0} is nested too deeply")]
    TooDeep(String),
    #[error("parameter {0} is given both as a value and as a structure")]
    Conflict(String),
}

impl QueryParams {
    /// Parses `application/x-www-form-urlencoded` text (query string or body).
    pub fn parse(sources: &[&[u8]]) -> Result<Self, QueryError> {
        let mut pairs = Vec::new();
        for source in sources {
            for (key, value) in form_urlencoded::parse(source) {
                if pairs.len() >= QUERY_PARAMS_MAX {
                    return Err(QueryError::TooManyParameters);
                }
                pairs.push((key.into_owned(), value.into_owned()));
            }
        }
        Ok(QueryParams { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find(|(key, _)| key == name).map(|(_, value)| value.as_str())
    }

    /// The parameters as a nested tree; keys are split on `.`.
    pub fn to_tree(&self) -> Result<Map<String, Value>, QueryError> {
        let mut root = Map::new();
        for (key, value) in &self.pairs {
            let segments: Vec<&str> = key.split('.').collect();
            if segments.len() > QUERY_KEY_DEPTH_MAX {
                return Err(QueryError::TooDeep(key.clone()));
            }
            insert(&mut root, &segments, value, key)?;
        }
        Ok(root)
    }
}

fn insert(node: &mut Map<String, Value>, segments: &[&str], value: &str, key: &str) -> Result<(), QueryError> {
    let Some((first, rest)) = segments.split_first() else { return Ok(()) };
    if rest.is_empty() {
        if node.get(*first).is_some_and(Value::is_object) {
            return Err(QueryError::Conflict(key.to_string()));
        }
        node.insert((*first).to_string(), Value::String(value.to_string()));
        return Ok(());
    }
    let child = node.entry((*first).to_string()).or_insert_with(|| Value::Object(Map::new()));
    match child {
        Value::Object(map) => insert(map, rest, value, key),
        _ => Err(QueryError::Conflict(key.to_string())),
    }
}

/// The members of a flattened list (`Name.1`, `Name.2`, …) in index order. Members with
/// non-numeric indexes are ignored, as AWS ignores them.
pub fn list_members(tree: &Map<String, Value>, name: &str) -> Vec<Value> {
    let Some(Value::Object(members)) = tree.get(name) else { return Vec::new() };
    let mut indexed: Vec<(u64, &Value)> =
        members.iter().filter_map(|(index, value)| index.parse::<u64>().ok().map(|index| (index, value))).collect();
    indexed.sort_by_key(|(index, _)| *index);
    indexed.into_iter().map(|(_, value)| value.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_nested_tree_and_ordered_lists() {
        let params = QueryParams::parse(&[
            b"Action=SendMessage&Attribute.2.Name=B&Attribute.1.Name=A&Attribute.1.Value=1&Attribute.10.Name=J",
        ])
        .unwrap();
        assert_eq!(params.get("Action"), Some("SendMessage"));
        let tree = params.to_tree().unwrap();
        let members = list_members(&tree, "Attribute");
        let names: Vec<&str> = members.iter().map(|member| member["Name"].as_str().unwrap()).collect();
        assert_eq!(names, vec!["A", "B", "J"]);
    }

    #[test]
    fn conflicting_shapes_are_errors_not_panics() {
        let params = QueryParams::parse(&[b"A=1&A.B=2"]).unwrap();
        assert!(matches!(params.to_tree(), Err(QueryError::Conflict(_))));
        let params = QueryParams::parse(&[b"A.B=2&A=1"]).unwrap();
        assert!(matches!(params.to_tree(), Err(QueryError::Conflict(_))));
        let deep = QueryParams::parse(&[b"a.b.c.d.e.f.g.h.i.j=1"]).unwrap();
        assert!(matches!(deep.to_tree(), Err(QueryError::TooDeep(_))));
    }
}
