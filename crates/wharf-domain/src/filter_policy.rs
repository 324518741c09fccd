//! Subscription filter policies: compiling the JSON filter-policy language a topic subscription
//! carries, and deciding whether one publication passes it.
//!
//! It owns the whole language: AND across keys, OR across the values of one key, `$or`, exact
//! strings, numbers and `true`/`false`/`null`, `numeric` comparisons and ranges, `exists`,
//! `anything-but` (values, `prefix`, `suffix`, `equals-ignore-case`), `prefix`, `suffix`,
//! `equals-ignore-case` and `cidr`; its validation, with the limits (size, keys, value combinations)
//! and the reason texts clients already know; and its evaluation against either the message
//! attributes or the JSON message body. Semantics and reason texts follow the documented behaviour of
//! Amazon SNS subscription filter policies (docs.aws.amazon.com/sns/latest/dg/, "Subscription filter
//! policies"), reason texts as the service returns them; where the documentation is silent they follow
//! the service's open-source matching engine (aws/event-ruler).
//!
//! It must stay pure: no I/O, no clock, no protocol types. Untrusted input never panics; recursion is
//! bounded by [`POLICY_DEPTH_MAX`] for policies and by serde_json's nesting limit for documents.
//!
//! Layout: the public API; compilation (`compile_object`, `compile_values`, one function per
//! operator); the policy-wide limits (`key_names`, `combinations`); evaluation (`Pattern::matches`
//! and the two message views); tests.

use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::net::IpAddr;

/// The longest policy accepted, in bytes of JSON text.
pub const POLICY_BYTES_MAX: usize = 256 * 1024;
/// How many keys a policy may name (attribute names, or top-level keys for the body scope).
pub const POLICY_KEYS_MAX: usize = 5;
/// The most value combinations a policy may describe (see `combinations`).
pub const POLICY_COMBINATIONS_MAX: u64 = 150;
/// The deepest nesting of objects and `$or` arrays a policy may have, so evaluation recursion
/// stays bounded. Deeper policies are refused as too complex.
pub const POLICY_DEPTH_MAX: usize = 64;

/// Numbers compare only within ±10^9 ...
const NUMERIC_MAGNITUDE_MAX: f64 = 1e9;
/// ... and to five digits after the decimal point.
const NUMERIC_SCALE: f64 = 1e5;
/// The key that introduces an explicit OR between sets of keys.
const OR_KEY: &str = "$or";
/// Operator names: an object in a `$or` array that uses one of them as a key makes that `$or` an
/// ordinary key name.
const RESERVED_KEYWORDS: [&str; 9] =
    ["anything-but", "cidr", "equals-ignore-case", "exact", "exists", "numeric", "prefix", "suffix", "wildcard"];

/// Where a policy looks: message attributes (FilterPolicyScope=MessageAttributes, the default) or
/// the JSON body (MessageBody).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FilterScope {
    #[default]
    MessageAttributes,
    MessageBody,
}

/// A compiled filter policy.
#[derive(Debug, Clone)]
pub struct FilterPolicy {
    scope: FilterScope,
    /// All must hold; empty means the policy accepts everything.
    conditions: Vec<Node>,
}

/// Why a policy was refused: the reason text that follows "Invalid parameter: FilterPolicy: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FilterPolicyError {
    pub message: String,
}

/// One message attribute as the domain holds it. Binary attributes are never passed (they never
/// match anything).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributeView<'a> {
    pub name: &'a str,
    pub data_type: &'a str,
    pub value: &'a str,
}

/// A message body parsed once, so one publication can be tested against many body-scoped policies
/// without parsing it again for each.
#[derive(Debug, Clone)]
pub struct ParsedBody {
    /// The body when it is a JSON object; anything else can only pass an empty policy.
    object: Option<Value>,
}

impl ParsedBody {
    pub fn parse(body: &str) -> ParsedBody {
        ParsedBody { object: serde_json::from_str::<Value>(body).ok().filter(Value::is_object) }
    }
}

impl FilterPolicy {
    /// Compiles and validates a policy. `{}` is valid and accepts everything.
    pub fn parse(policy_json: &str, scope: FilterScope) -> Result<FilterPolicy, FilterPolicyError> {
        if policy_json.len() > POLICY_BYTES_MAX {
            return Err(invalid("Filter policy is too long"));
        }
        // serde_json refuses nesting deeper than 128 levels, so a hostile document cannot exhaust
        // the stack while it is parsed.
        let document: Value =
            serde_json::from_str(policy_json).map_err(|error| invalid(format!("failed to parse JSON. {error}")))?;
        let Value::Object(root) = &document else {
            return Err(invalid("Filter is not an object"));
        };
        if root.is_empty() {
            return Ok(FilterPolicy { scope, conditions: Vec::new() });
        }
        // The structure first (the matching engine's reasons), then the policy-wide limits.
        let conditions = compile_object(root, None, 0)?;
        if key_names(root, scope).len() > POLICY_KEYS_MAX {
            return Err(invalid(format!("Filter policy can not have more than {POLICY_KEYS_MAX} keys")));
        }
        if scope == FilterScope::MessageAttributes && has_nested_object(root) {
            return Err(invalid("Filter policy scope MessageAttributes does not support nested filter policy"));
        }
        if combinations(root, 1) > POLICY_COMBINATIONS_MAX {
            return Err(invalid("Filter policy is too complex"));
        }
        Ok(FilterPolicy { scope, conditions })
    }

    /// The scope the policy was compiled for.
    pub fn scope(&self) -> FilterScope {
        self.scope
    }

    /// Whether a publication with these attributes passes (the MessageAttributes scope).
    pub fn matches_attributes(&self, attributes: &[AttributeView<'_>]) -> bool {
        all_hold(&self.conditions, &AttributesView { attributes })
    }

    /// Whether a publication with this body passes (the MessageBody scope). A body that is not a
    /// JSON object passes only an empty policy.
    pub fn matches_body(&self, body: &str) -> bool {
        // An empty policy needs no parse.
        self.conditions.is_empty() || self.matches_parsed_body(&ParsedBody::parse(body))
    }

    /// [`FilterPolicy::matches_body`] for a body already parsed.
    pub fn matches_parsed_body(&self, body: &ParsedBody) -> bool {
        if self.conditions.is_empty() {
            return true;
        }
        match &body.object {
            Some(object) => all_hold(&self.conditions, &BodyView { root: object }),
            None => false,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Compiled form
// ---------------------------------------------------------------------------------------------

/// One part of a conjunction.
#[derive(Debug, Clone)]
enum Node {
    Condition(Condition),
    /// A recognised `$or`: at least one branch (itself a conjunction) must hold.
    AnyOf(Vec<Vec<Node>>),
}

/// A key and the patterns of which at least one must match its value.
#[derive(Debug, Clone)]
struct Condition {
    /// The key; nested body keys are joined with '.', as the matching engine flattens them.
    path: String,
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
enum Pattern {
    ExactText(String),
    ExactNumber(ExactNumber),
    /// `true`, `false` or `null`.
    ExactLiteral(Literal),
    Prefix(String),
    Suffix(String),
    /// Holds the pattern already lower-cased.
    EqualsIgnoreCase(String),
    Numeric(NumericRange),
    Exists(bool),
    Cidr(IpRange),
    AnythingBut(Exclusion),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Literal {
    Bool(bool),
    Null,
}

#[derive(Debug, Clone, Copy)]
struct ExactNumber {
    value: f64,
    /// Absent outside ±10^9, where only an identical value matches.
    comparable: Option<i64>,
}

/// Bounds in comparable form; `true` marks an inclusive bound.
#[derive(Debug, Clone, Copy)]
struct NumericRange {
    lower: Option<(i64, bool)>,
    upper: Option<(i64, bool)>,
}

#[derive(Debug, Clone, Copy)]
struct IpRange {
    v6: bool,
    low: u128,
    high: u128,
}

/// What an `anything-but` refuses.
#[derive(Debug, Clone)]
enum Exclusion {
    Texts(Vec<String>),
    Numbers(Vec<i64>),
    Prefix(String),
    Suffix(String),
    /// Lower-cased.
    TextsIgnoringCase(Vec<String>),
}

fn invalid(message: impl Into<String>) -> FilterPolicyError {
    FilterPolicyError { message: message.into() }
}

// ---------------------------------------------------------------------------------------------
// Compilation: structure and operators
// ---------------------------------------------------------------------------------------------

/// Compiles one object of the policy (the root, a nested key's object or a `$or` branch) into a
/// conjunction. `prefix` is the path of the object's parent key (none at the top).
fn compile_object(
    object: &Map<String, Value>,
    prefix: Option<&str>,
    depth: usize,
) -> Result<Vec<Node>, FilterPolicyError> {
    if depth > POLICY_DEPTH_MAX {
        return Err(invalid("Filter policy is too complex"));
    }
    if object.is_empty() {
        return Err(invalid("Empty objects are not allowed"));
    }
    let mut nodes = Vec::new();
    for (key, value) in object {
        if let Some(branches) = or_branches(key, value) {
            let compiled = branches
                .into_iter()
                .map(|branch| compile_object(branch, prefix, depth + 1))
                .collect::<Result<_, _>>()?;
            nodes.push(Node::AnyOf(compiled));
            continue;
        }
        let path = join_path(prefix, key);
        match value {
            // A nested key: its own keys join this conjunction under a longer path.
            Value::Object(nested) => nodes.extend(compile_object(nested, Some(&path), depth + 1)?),
            Value::Array(values) => nodes.push(Node::Condition(Condition { path, patterns: compile_values(values)? })),
            _ => return Err(invalid(format!("\"{key}\" must be an object or an array"))),
        }
    }
    Ok(nodes)
}

/// A nested key's path: its parent's path and its own name, joined with '.'.
fn join_path(prefix: Option<&str>, key: &str) -> String {
    match prefix {
        Some(prefix) => format!("{prefix}.{key}"),
        None => key.to_string(),
    }
}

/// The branches when `key`/`value` form a recognised `$or`: an array of at least two objects, none
/// of which uses an operator name as a key. Anything else is an ordinary key named "$or".
fn or_branches<'a>(key: &str, value: &'a Value) -> Option<Vec<&'a Map<String, Value>>> {
    if key != OR_KEY {
        return None;
    }
    let Value::Array(items) = value else { return None };
    let branches: Vec<&Map<String, Value>> = items.iter().filter_map(Value::as_object).collect();
    let recognised = branches.len() >= 2
        && branches.len() == items.len()
        && branches.iter().all(|branch| branch.keys().all(|name| !RESERVED_KEYWORDS.contains(&name.as_str())));
    recognised.then_some(branches)
}

/// Compiles a key's array of values (OR between them).
fn compile_values(values: &[Value]) -> Result<Vec<Pattern>, FilterPolicyError> {
    let mut patterns = Vec::with_capacity(values.len());
    for value in values {
        patterns.push(match value {
            Value::String(text) => Pattern::ExactText(text.clone()),
            Value::Number(number) => {
                // Outside ±10^9 a number is still a valid exact value; it just has no comparable form.
                let value = number_value(number)?;
                Pattern::ExactNumber(ExactNumber { value, comparable: comparable(value) })
            }
            Value::Bool(flag) => Pattern::ExactLiteral(Literal::Bool(*flag)),
            Value::Null => Pattern::ExactLiteral(Literal::Null),
            Value::Object(expression) => compile_match_expression(expression)?,
            Value::Array(_) => return Err(invalid("Match value must be String, number, true, false, or null")),
        });
    }
    if patterns.is_empty() {
        return Err(invalid("Empty arrays are not allowed"));
    }
    Ok(patterns)
}

/// Compiles one `{"operator": operand}` object.
fn compile_match_expression(expression: &Map<String, Value>) -> Result<Pattern, FilterPolicyError> {
    let Some((operator, operand)) = expression.iter().next() else {
        return Err(invalid("Match expression name not found"));
    };
    // The first key is validated before the extra ones are reported, as a streaming parser would.
    let single_key = expression.len() == 1;
    let only_one_key = || invalid("Only one key allowed in match expression");
    let too_many_elements = || invalid("Too many elements in numeric expression");
    let pattern = match operator.as_str() {
        "prefix" | "suffix" | "equals-ignore-case" => {
            let Value::String(text) = operand else {
                return Err(invalid(format!("{operator} match pattern must be a string")));
            };
            match operator.as_str() {
                "prefix" => Pattern::Prefix(text.clone()),
                "suffix" => Pattern::Suffix(text.clone()),
                _ => Pattern::EqualsIgnoreCase(lowercase(text)),
            }
        }
        "exists" => {
            let Value::Bool(expected) = operand else {
                return Err(invalid("exists match pattern must be either true or false."));
            };
            Pattern::Exists(*expected)
        }
        "cidr" => {
            // The service reports a non-string CIDR with the prefix wording.
            let Value::String(text) = operand else {
                return Err(invalid("prefix match pattern must be a string"));
            };
            Pattern::Cidr(compile_cidr(text)?)
        }
        "numeric" => {
            let Value::Array(terms) = operand else {
                return Err(invalid("Value of numeric must be an array."));
            };
            let range = compile_numeric(terms)?;
            if !single_key {
                return Err(too_many_elements());
            }
            Pattern::Numeric(range)
        }
        "anything-but" => {
            let exclusion = compile_anything_but(operand)?;
            if !single_key {
                let affix = matches!(exclusion, Exclusion::Prefix(_) | Exclusion::Suffix(_));
                return Err(if affix { only_one_key() } else { too_many_elements() });
            }
            Pattern::AnythingBut(exclusion)
        }
        other => return Err(invalid(format!("Unrecognized match type {other}"))),
    };
    if !single_key {
        return Err(only_one_key());
    }
    Ok(pattern)
}

/// Compiles `[op, n]`, `[">"|">=", low, "<"|"<=", high]`.
fn compile_numeric(terms: &[Value]) -> Result<NumericRange, FilterPolicyError> {
    let mut terms = terms.iter();
    let first = terms.next();
    let Some(Value::String(operator)) = first else {
        return Err(invalid(format!("Invalid member in numeric match: {}", token_text(first))));
    };
    let operator = operator.as_str();
    let too_many_elements = || invalid("Too many elements in numeric expression");
    match operator {
        "=" => {
            let value = numeric_operand(terms.next(), "equals")?;
            if terms.next().is_some() {
                return Err(too_many_elements());
            }
            let value = checked_comparable(value)?;
            Ok(NumericRange { lower: Some((value, true)), upper: Some((value, true)) })
        }
        "<" | "<=" => {
            let value = numeric_operand(terms.next(), operator)?;
            if terms.next().is_some() {
                return Err(too_many_elements());
            }
            Ok(NumericRange { lower: None, upper: Some((checked_comparable(value)?, operator == "<=")) })
        }
        ">" | ">=" => {
            let bottom = numeric_operand(terms.next(), operator)?;
            let lower_inclusive = operator == ">=";
            let Some(next) = terms.next() else {
                return Ok(NumericRange { lower: Some((checked_comparable(bottom)?, lower_inclusive)), upper: None });
            };
            let Value::String(upper_operator) = next else {
                return Err(invalid(format!("Bad value in numeric range: {}", token_text(Some(next)))));
            };
            let upper_operator = upper_operator.as_str();
            if upper_operator != "<" && upper_operator != "<=" {
                return Err(invalid(format!("Bad numeric range operator: {upper_operator}")));
            }
            let top = numeric_operand(terms.next(), upper_operator)?;
            if terms.next().is_some() {
                return Err(invalid("Too many terms in numeric range expression"));
            }
            let (low, high) = (checked_comparable(bottom)?, checked_comparable(top)?);
            if bottom >= top {
                return Err(invalid("Bottom must be less than top"));
            }
            Ok(NumericRange { lower: Some((low, lower_inclusive)), upper: Some((high, upper_operator == "<=")) })
        }
        other => Err(invalid(format!("Unrecognized numeric range operator: {other}"))),
    }
}

/// The number after a numeric operator; the reason names the operator ("equals" for "=").
fn numeric_operand(term: Option<&Value>, operator: &str) -> Result<f64, FilterPolicyError> {
    match term {
        Some(Value::Number(number)) => number_value(number),
        _ => Err(invalid(format!("Value of {operator} must be numeric"))),
    }
}

fn compile_anything_but(operand: &Value) -> Result<Exclusion, FilterPolicyError> {
    let list_type_error = || invalid("Inside anything but list, start|null|boolean is not supported.");
    let shape_error = || invalid("Value of anything-but must be an array or single string/number value.");
    match operand {
        Value::String(text) => Ok(Exclusion::Texts(vec![text.clone()])),
        Value::Number(number) => Ok(Exclusion::Numbers(vec![checked_comparable(number_value(number)?)?])),
        Value::Array(items) => {
            let (mut texts, mut numbers) = (Vec::new(), Vec::new());
            for item in items {
                match item {
                    Value::String(text) => texts.push(text.clone()),
                    Value::Number(number) => numbers.push(checked_comparable(number_value(number)?)?),
                    _ => return Err(list_type_error()),
                }
            }
            match (texts.is_empty(), numbers.is_empty()) {
                (false, true) => Ok(Exclusion::Texts(texts)),
                (true, false) => Ok(Exclusion::Numbers(numbers)),
                _ => Err(invalid(
                    "Inside anything but list, either all values are number or string, mixed type is not supported",
                )),
            }
        }
        Value::Object(inner) => {
            let Some((operator, inner_operand)) = inner.iter().next() else {
                return Err(invalid("Anything-But expression name not found"));
            };
            let exclusion = match operator.as_str() {
                "prefix" | "suffix" => {
                    let Value::String(text) = inner_operand else {
                        return Err(invalid(format!("{operator} match pattern must be a string")));
                    };
                    if text.is_empty() {
                        return Err(invalid("Null prefix/suffix not allowed"));
                    }
                    if operator == "prefix" {
                        Exclusion::Prefix(text.clone())
                    } else {
                        Exclusion::Suffix(text.clone())
                    }
                }
                "equals-ignore-case" => {
                    let case_error = || {
                        invalid(
                            "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
                        )
                    };
                    let texts = match inner_operand {
                        Value::String(text) => vec![lowercase(text)],
                        Value::Array(items) => items
                            .iter()
                            .map(|item| item.as_str().map(lowercase).ok_or_else(case_error))
                            .collect::<Result<_, _>>()?,
                        Value::Number(_) => return Err(case_error()),
                        _ => return Err(shape_error()),
                    };
                    Exclusion::TextsIgnoringCase(texts)
                }
                other => return Err(invalid(format!("Unsupported anything-but pattern: {other}"))),
            };
            if inner.len() > 1 {
                return Err(invalid("Only one key allowed in match expression"));
            }
            Ok(exclusion)
        }
        Value::Bool(_) | Value::Null => Err(shape_error()),
    }
}

/// Compiles "address/bits". As in the service's engine, the range runs from the address as written
/// up to the address with every host bit set, and a full-length mask is refused.
fn compile_cidr(text: &str) -> Result<IpRange, FilterPolicyError> {
    let mut pieces: Vec<&str> = text.split('/').collect();
    // Like Java's String.split, trailing empty pieces do not count.
    while pieces.last().is_some_and(|piece| piece.is_empty()) {
        pieces.pop();
    }
    let [address, mask] = pieces.as_slice() else {
        return Err(invalid("Malformed CIDR, one '/' required"));
    };
    let mask: i32 = mask.parse().map_err(|_| invalid("Malformed CIDR, mask bits must be an integer"))?;
    let Ok(mask) = u32::try_from(mask) else {
        return Err(invalid("Malformed CIDR, mask bits must not be negative"));
    };
    let (v6, base, width) = match address.parse::<IpAddr>() {
        Ok(IpAddr::V4(v4)) => (false, u128::from(u32::from(v4)), 32),
        Ok(IpAddr::V6(v6)) => (true, u128::from(v6), 128),
        Err(_) => return Err(invalid(format!("Nonstandard IP address: {address}"))),
    };
    if mask >= width {
        return Err(invalid(if v6 { "IPv6 mask bits must be < 128" } else { "IPv4 mask bits must be < 32" }));
    }
    let host_bits = width - mask;
    let host_mask = 1u128.checked_shl(host_bits).map_or(u128::MAX, |bit| bit - 1);
    Ok(IpRange { v6, low: base, high: base | host_mask })
}

/// A JSON number as f64 (serde_json always has one without its arbitrary-precision feature).
fn number_value(number: &serde_json::Number) -> Result<f64, FilterPolicyError> {
    number.as_f64().ok_or_else(|| invalid("Match value must be String, number, true, false, or null"))
}

/// The comparable form of a number: fixed point with five decimals, offset to be non-negative. Values
/// that differ only past the fifth decimal compare equal, as the service documents.
fn comparable(value: f64) -> Option<i64> {
    if !(-NUMERIC_MAGNITUDE_MAX..=NUMERIC_MAGNITUDE_MAX).contains(&value) {
        return None;
    }
    Some(((value + NUMERIC_MAGNITUDE_MAX) * NUMERIC_SCALE).floor() as i64)
}

fn checked_comparable(value: f64) -> Result<i64, FilterPolicyError> {
    comparable(value).ok_or_else(|| invalid("Value must be between -1.0E9 and 1.0E9, inclusive"))
}

/// How a JSON token reads in a reason text ("]" when the array ended instead).
fn token_text(token: Option<&Value>) -> String {
    match token {
        None => "]".to_string(),
        Some(Value::String(text)) => text.clone(),
        Some(Value::Array(_)) => "[".to_string(),
        Some(Value::Object(_)) => "{".to_string(),
        Some(other) => other.to_string(),
    }
}

fn lowercase(text: &str) -> String {
    text.chars().flat_map(char::to_lowercase).collect()
}

// ---------------------------------------------------------------------------------------------
// Policy-wide limits. They run on a policy whose structure is already valid.
// ---------------------------------------------------------------------------------------------

/// The keys that count against [`POLICY_KEYS_MAX`]: every attribute name for the attribute scope;
/// only top-level keys for the body scope (nested keys do not count). Keys inside a `$or` count
/// where their object sits.
fn key_names(root: &Map<String, Value>, scope: FilterScope) -> BTreeSet<String> {
    fn collect(object: &Map<String, Value>, prefix: Option<&str>, top_level_only: bool, names: &mut BTreeSet<String>) {
        for (key, value) in object {
            if let Some(branches) = or_branches(key, value) {
                for branch in branches {
                    collect(branch, prefix, top_level_only, names);
                }
                continue;
            }
            let path = join_path(prefix, key);
            match value {
                Value::Object(nested) if !top_level_only => collect(nested, Some(&path), top_level_only, names),
                _ => {
                    names.insert(path);
                }
            }
        }
    }
    let mut names = BTreeSet::new();
    collect(root, None, scope == FilterScope::MessageBody, &mut names);
    names
}

/// Whether any key (a `$or` branch's included) holds an object.
fn has_nested_object(object: &Map<String, Value>) -> bool {
    object.iter().any(|(key, value)| match or_branches(key, value) {
        Some(branches) => branches.into_iter().any(has_nested_object),
        None => value.is_object(),
    })
}

/// The value combinations a policy describes, as the service counts them: the product over keys of
/// (number of values × nesting depth of the key), where a `$or` contributes the sum of its branches.
/// Saturates instead of overflowing.
fn combinations(object: &Map<String, Value>, depth: u64) -> u64 {
    object.iter().fold(1u64, |product, (key, value)| {
        let factor = match (or_branches(key, value), value) {
            (Some(branches), _) => {
                branches.into_iter().fold(0u64, |sum, branch| sum.saturating_add(combinations(branch, depth)))
            }
            (None, Value::Object(nested)) => combinations(nested, depth.saturating_add(1)),
            (None, Value::Array(values)) => (values.len() as u64).saturating_mul(depth),
            (None, _) => 1,
        };
        product.saturating_mul(factor)
    })
}

// ---------------------------------------------------------------------------------------------
// Evaluation
// ---------------------------------------------------------------------------------------------

/// One value a pattern is tested against, typed: a string never matches a number pattern and a number
/// never matches a string pattern.
#[derive(Debug, Clone, Copy)]
enum Scalar<'a> {
    Text(&'a str),
    Number(f64),
    Literal(Literal),
}

impl<'a> Scalar<'a> {
    /// The scalar a JSON leaf holds; arrays and objects are not leaves.
    fn from_json(value: &'a Value) -> Option<Scalar<'a>> {
        match value {
            Value::String(text) => Some(Scalar::Text(text)),
            Value::Number(number) => number.as_f64().map(Scalar::Number),
            Value::Bool(flag) => Some(Scalar::Literal(Literal::Bool(*flag))),
            Value::Null => Some(Scalar::Literal(Literal::Null)),
            Value::Array(_) | Value::Object(_) => None,
        }
    }
}

impl Pattern {
    /// Whether one value matches. `exists` depends on the key, not a value, so the views decide it.
    fn matches(&self, value: Scalar<'_>) -> bool {
        match (self, value) {
            (Pattern::ExactText(expected), Scalar::Text(text)) => expected == text,
            (Pattern::ExactNumber(expected), Scalar::Number(number)) => match (expected.comparable, comparable(number))
            {
                (Some(left), Some(right)) => left == right,
                _ => expected.value == number,
            },
            (Pattern::ExactLiteral(expected), Scalar::Literal(literal)) => *expected == literal,
            (Pattern::Prefix(prefix), Scalar::Text(text)) => text.starts_with(prefix.as_str()),
            (Pattern::Suffix(suffix), Scalar::Text(text)) => text.ends_with(suffix.as_str()),
            (Pattern::EqualsIgnoreCase(lowered), Scalar::Text(text)) => {
                text.chars().flat_map(char::to_lowercase).eq(lowered.chars())
            }
            (Pattern::Numeric(range), Scalar::Number(number)) => {
                comparable(number).is_some_and(|value| range.holds(value))
            }
            (Pattern::Cidr(range), Scalar::Text(text)) => range.contains(text),
            (Pattern::AnythingBut(exclusion), value) => !exclusion.excludes(value),
            _ => false,
        }
    }
}

impl NumericRange {
    fn holds(&self, value: i64) -> bool {
        let above = match self.lower {
            Some((bound, inclusive)) => value > bound || (inclusive && value == bound),
            None => true,
        };
        let below = match self.upper {
            Some((bound, inclusive)) => value < bound || (inclusive && value == bound),
            None => true,
        };
        above && below
    }
}

impl IpRange {
    fn contains(&self, text: &str) -> bool {
        let (v6, address) = match text.parse::<IpAddr>() {
            Ok(IpAddr::V4(v4)) => (false, u128::from(u32::from(v4))),
            Ok(IpAddr::V6(v6)) => (true, u128::from(v6)),
            Err(_) => return false,
        };
        v6 == self.v6 && (self.low..=self.high).contains(&address)
    }
}

impl Exclusion {
    /// Whether `anything-but` refuses this value; values of another type are never refused.
    fn excludes(&self, value: Scalar<'_>) -> bool {
        match (self, value) {
            (Exclusion::Texts(texts), Scalar::Text(text)) => texts.iter().any(|excluded| excluded == text),
            (Exclusion::Numbers(numbers), Scalar::Number(number)) => {
                comparable(number).is_some_and(|value| numbers.contains(&value))
            }
            (Exclusion::Prefix(prefix), Scalar::Text(text)) => text.starts_with(prefix.as_str()),
            (Exclusion::Suffix(suffix), Scalar::Text(text)) => text.ends_with(suffix.as_str()),
            (Exclusion::TextsIgnoringCase(lowered), Scalar::Text(text)) => {
                lowered.iter().any(|excluded| text.chars().flat_map(char::to_lowercase).eq(excluded.chars()))
            }
            _ => false,
        }
    }
}

/// A message as conditions see it.
trait MessageView {
    fn holds(&self, condition: &Condition) -> bool;
}

/// Whether every node of a conjunction holds. Recursion is as deep as the policy, at most
/// [`POLICY_DEPTH_MAX`].
fn all_hold(nodes: &[Node], message: &dyn MessageView) -> bool {
    nodes.iter().all(|node| match node {
        Node::Condition(condition) => message.holds(condition),
        Node::AnyOf(branches) => branches.iter().any(|branch| all_hold(branch, message)),
    })
}

/// How an attribute's data type is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AttributeKind {
    Text,
    Number,
    /// A JSON array of strings, numbers, `true`, `false` and `null`.
    Array,
    /// Binary and unknown types take no part in filtering.
    Ignored,
}

fn attribute_kind(data_type: &str) -> AttributeKind {
    // Custom suffixes ("Number.float", "String.uuid") keep the base type's comparison.
    if data_type == "String.Array" {
        AttributeKind::Array
    } else if data_type == "Number" || data_type.starts_with("Number.") {
        AttributeKind::Number
    } else if data_type == "String" || data_type.starts_with("String.") {
        AttributeKind::Text
    } else {
        AttributeKind::Ignored
    }
}

struct AttributesView<'m> {
    attributes: &'m [AttributeView<'m>],
}

impl MessageView for AttributesView<'_> {
    fn holds(&self, condition: &Condition) -> bool {
        let attribute = self.attributes.iter().find(|attribute| {
            attribute.name == condition.path && attribute_kind(attribute.data_type) != AttributeKind::Ignored
        });
        let Some(attribute) = attribute else {
            // "exists": false needs at least one attribute on the message, as documented.
            let any_attribute =
                self.attributes.iter().any(|attribute| attribute_kind(attribute.data_type) != AttributeKind::Ignored);
            return any_attribute && condition.patterns.iter().any(|pattern| matches!(pattern, Pattern::Exists(false)));
        };
        let kind = attribute_kind(attribute.data_type);
        let array: Value;
        let values: Vec<Scalar<'_>> = match kind {
            AttributeKind::Text => vec![Scalar::Text(attribute.value)],
            AttributeKind::Number => attribute
                .value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|number| number.is_finite())
                .map(Scalar::Number)
                .into_iter()
                .collect(),
            AttributeKind::Array => {
                // The publisher validated the array; if it is not one after all, it has no values.
                array = serde_json::from_str(attribute.value).unwrap_or(Value::Null);
                array.as_array().map(|items| items.iter().filter_map(Scalar::from_json).collect()).unwrap_or_default()
            }
            AttributeKind::Ignored => Vec::new(),
        };
        condition.patterns.iter().any(|pattern| match pattern {
            Pattern::Exists(expected) => *expected,
            // For String.Array, anything-but passes only when no element is refused (current
            // documentation); every other pattern needs one matching element.
            Pattern::AnythingBut(_) if kind == AttributeKind::Array => {
                !values.is_empty() && values.iter().all(|value| pattern.matches(*value))
            }
            _ => values.iter().any(|value| pattern.matches(*value)),
        })
    }
}

struct BodyView<'m> {
    root: &'m Value,
}

impl MessageView for BodyView<'_> {
    fn holds(&self, condition: &Condition) -> bool {
        let mut leaves = Vec::new();
        collect_leaves(self.root, &condition.path, &mut leaves);
        // "exists" is about leaves with a value: null counts as absent, an object is not a leaf.
        let present = leaves.iter().any(|leaf| !matches!(leaf, Scalar::Literal(Literal::Null)));
        condition.patterns.iter().any(|pattern| match pattern {
            Pattern::Exists(expected) => present == *expected,
            // Arrays in the body match when any element matches (anything-but included).
            _ => leaves.iter().any(|leaf| pattern.matches(*leaf)),
        })
    }
}

/// Collects the scalar leaves at a dotted path. Arrays are transparent at every level, and a body key
/// may itself contain dots: "a.b" is reached through {"a": {"b": ...}} as well as {"a.b": ...}, as the
/// service's engine flattens both the same way. Recursion follows the body, whose depth serde_json
/// bounded when parsing it.
fn collect_leaves<'v>(value: &'v Value, path: &str, leaves: &mut Vec<Scalar<'v>>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                if key == path {
                    push_scalars(child, leaves);
                } else if let Some(rest) = path.strip_prefix(key.as_str()).and_then(|rest| rest.strip_prefix('.')) {
                    collect_leaves(child, rest, leaves);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_leaves(item, path, leaves)),
        _ => {}
    }
}

/// The scalars of a value at the end of a path: itself, or the elements of (nested) arrays.
fn push_scalars<'v>(value: &'v Value, leaves: &mut Vec<Scalar<'v>>) {
    match value {
        Value::Array(items) => items.iter().for_each(|item| push_scalars(item, leaves)),
        other => leaves.extend(Scalar::from_json(other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ATTRIBUTES: FilterScope = FilterScope::MessageAttributes;
    const BODY: FilterScope = FilterScope::MessageBody;

    fn policy(json: &str) -> FilterPolicy {
        FilterPolicy::parse(json, ATTRIBUTES).unwrap_or_else(|error| panic!("{json}: {error}"))
    }

    fn body_policy(json: &str) -> FilterPolicy {
        FilterPolicy::parse(json, BODY).unwrap_or_else(|error| panic!("{json}: {error}"))
    }

    fn error(json: &str, scope: FilterScope) -> String {
        match FilterPolicy::parse(json, scope) {
            Ok(_) => panic!("{json} was accepted"),
            Err(error) => error.message,
        }
    }

    /// The same reason for both scopes.
    fn error_both(json: &str) -> String {
        let reason = error(json, ATTRIBUTES);
        assert_eq!(error(json, BODY), reason, "{json}");
        reason
    }

    fn string<'a>(name: &'a str, value: &'a str) -> AttributeView<'a> {
        AttributeView { name, data_type: "String", value }
    }

    fn number<'a>(name: &'a str, value: &'a str) -> AttributeView<'a> {
        AttributeView { name, data_type: "Number", value }
    }

    fn array<'a>(name: &'a str, value: &'a str) -> AttributeView<'a> {
        AttributeView { name, data_type: "String.Array", value }
    }

    // ----- empty policy, AND, OR ---------------------------------------------------------------

    #[test]
    fn empty_policy_accepts_everything() {
        for scope in [ATTRIBUTES, BODY] {
            let empty = FilterPolicy::parse("{}", scope).unwrap();
            assert!(empty.matches_attributes(&[]));
            assert!(empty.matches_attributes(&[string("a", "b")]));
            assert!(empty.matches_body("not json"));
            assert!(empty.matches_body("[1, 2]"));
            assert!(empty.matches_body(r#"{"a": 1}"#));
            assert_eq!(empty.scope(), scope);
        }
        assert_eq!(FilterScope::default(), ATTRIBUTES);
    }

    #[test]
    fn keys_are_anded_and_values_are_ored() {
        let filter = policy(r#"{"customer_interests": ["rugby", "football"], "price_usd": [{"numeric": [">", 100]}]}"#);
        assert!(filter.matches_attributes(&[string("customer_interests", "rugby"), number("price_usd", "150")]));
        assert!(filter.matches_attributes(&[string("customer_interests", "football"), number("price_usd", "101")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "rugby"), number("price_usd", "100")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "tennis"), number("price_usd", "150")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "rugby")]));
        assert!(!filter.matches_attributes(&[]));

        let filter =
            body_policy(r#"{"customer_interests": ["rugby", "football"], "price_usd": [{"numeric": [">", 100]}]}"#);
        assert!(filter.matches_body(r#"{"customer_interests": "football", "price_usd": 150}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": "football", "price_usd": 50}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": "tennis", "price_usd": 150}"#));
        assert!(!filter.matches_body(r#"{"price_usd": 150}"#));
    }

    // ----- exact matching ------------------------------------------------------------------------

    #[test]
    fn exact_string_in_attributes() {
        let filter = policy(r#"{"customer_interests": ["rugby", "tennis"]}"#);
        assert!(filter.matches_attributes(&[string("customer_interests", "rugby")]));
        assert!(filter.matches_attributes(&[string("customer_interests", "tennis"), string("other", "x")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "baseball")]));
        // Case-sensitive, and other names are ignored.
        assert!(!filter.matches_attributes(&[string("customer_interests", "Rugby")]));
        assert!(!filter.matches_attributes(&[string("other", "rugby")]));
        // A Number attribute is not a string.
        assert!(!policy(r#"{"a": ["100"]}"#).matches_attributes(&[number("a", "100")]));
        // Custom type suffixes keep the base type.
        assert!(filter.matches_attributes(&[AttributeView {
            name: "customer_interests",
            data_type: "String.custom",
            value: "rugby"
        }]));
    }

    #[test]
    fn exact_string_in_body() {
        let filter = body_policy(r#"{"customer_interests": ["rugby", "tennis"]}"#);
        assert!(filter.matches_body(r#"{"customer_interests": "rugby"}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": "baseball"}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": "RUGBY"}"#));
        assert!(!filter.matches_body(r#"{"other": "rugby"}"#));
        // Typed: the JSON number 100 is not the string "100".
        assert!(!body_policy(r#"{"a": ["100"]}"#).matches_body(r#"{"a": 100}"#));
        assert!(body_policy(r#"{"a": ["100"]}"#).matches_body(r#"{"a": "100"}"#));
    }

    #[test]
    fn exact_number_compares_numerically() {
        let filter = policy(r#"{"price_usd": [301.5]}"#);
        assert!(filter.matches_attributes(&[number("price_usd", "301.5")]));
        assert!(filter.matches_attributes(&[number("price_usd", "3.015e2")]));
        assert!(filter.matches_attributes(&[number("price_usd", "301.50000")]));
        assert!(!filter.matches_attributes(&[number("price_usd", "301.6")]));
        // A String attribute holding digits is a string, not a number.
        assert!(!filter.matches_attributes(&[string("price_usd", "301.5")]));
        assert!(policy(r#"{"a": [1]}"#).matches_attributes(&[number("a", "1.0")]));
        assert!(!policy(r#"{"a": [1]}"#).matches_attributes(&[number("a", "not a number")]));

        let filter = body_policy(r#"{"price_usd": [301.5]}"#);
        assert!(filter.matches_body(r#"{"price_usd": 3.015e2}"#));
        assert!(!filter.matches_body(r#"{"price_usd": "301.5"}"#));
        assert!(!filter.matches_body(r#"{"price_usd": 300}"#));
    }

    #[test]
    fn numbers_have_five_decimal_digits_of_precision() {
        let filter = policy(r#"{"a": [{"numeric": ["=", 1]}]}"#);
        assert!(filter.matches_attributes(&[number("a", "1.000001")]));
        assert!(!filter.matches_attributes(&[number("a", "1.00001")]));
        // An exact value outside ±10^9 is accepted and matches only itself.
        let huge = policy(r#"{"a": [5000000000]}"#);
        assert!(huge.matches_attributes(&[number("a", "5e9")]));
        assert!(!huge.matches_attributes(&[number("a", "5000000001")]));
    }

    #[test]
    fn true_false_and_null_are_literals() {
        let filter = body_policy(r#"{"flag": [true], "nothing": [null]}"#);
        assert!(filter.matches_body(r#"{"flag": true, "nothing": null}"#));
        assert!(!filter.matches_body(r#"{"flag": "true", "nothing": null}"#));
        assert!(!filter.matches_body(r#"{"flag": true, "nothing": "null"}"#));
        // null does not match a missing key.
        assert!(!filter.matches_body(r#"{"flag": true}"#));

        let filter = policy(r#"{"flags": [false, null]}"#);
        assert!(filter.matches_attributes(&[array("flags", "[false]")]));
        assert!(filter.matches_attributes(&[array("flags", "[\"x\", null]")]));
        assert!(!filter.matches_attributes(&[array("flags", "[true]")]));
        assert!(!filter.matches_attributes(&[string("flags", "false")]));
        assert!(!filter.matches_attributes(&[string("other", "x")]));
    }

    // ----- numeric ---------------------------------------------------------------------------------

    #[test]
    fn numeric_ranges_in_attributes() {
        let filter = policy(r#"{"price": [{"numeric": [">", 0, "<=", 5]}]}"#);
        for (value, expected) in [("0", false), ("0.00001", true), ("2.5", true), ("5", true), ("5.00001", false)] {
            assert_eq!(filter.matches_attributes(&[number("price", value)]), expected, "{value}");
        }
        assert!(!filter.matches_attributes(&[string("price", "3")]));
        assert!(!filter.matches_attributes(&[number("price", "NaN")]));
        assert!(!filter.matches_attributes(&[number("price", "inf")]));

        let filter = policy(r#"{"price": [{"numeric": [">=", 10, "<", 20]}]}"#);
        assert!(filter.matches_attributes(&[number("price", "10")]));
        assert!(filter.matches_attributes(&[number("price", "19.99999")]));
        assert!(!filter.matches_attributes(&[number("price", "20")]));
        assert!(!filter.matches_attributes(&[number("price", "9.99999")]));

        let cases = [
            (r#"[">", 10]"#, "10", false),
            (r#"[">", 10]"#, "10.00001", true),
            (r#"[">=", 10]"#, "10", true),
            (r#"["<", 10]"#, "10", false),
            (r#"["<", 10]"#, "-1000", true),
            (r#"["<=", 10]"#, "10", true),
            (r#"["<=", 10]"#, "10.00001", false),
            (r#"["=", 10]"#, "1e1", true),
            (r#"["=", 10]"#, "11", false),
            (r#"["=", -1000000000]"#, "-1e9", true),
        ];
        for (terms, value, expected) in cases {
            let filter = policy(&format!(r#"{{"a": [{{"numeric": {terms}}}]}}"#));
            assert_eq!(filter.matches_attributes(&[number("a", value)]), expected, "{terms} {value}");
        }
        // Message values outside ±10^9 have no comparable form and match no range.
        assert!(!policy(r#"{"a": [{"numeric": [">", 0]}]}"#).matches_attributes(&[number("a", "2e9")]));
    }

    #[test]
    fn numeric_ranges_in_body() {
        let filter = body_policy(r#"{"price": [{"numeric": [">", 0, "<=", 5]}]}"#);
        assert!(filter.matches_body(r#"{"price": 5}"#));
        assert!(filter.matches_body(r#"{"price": [9, 3]}"#));
        assert!(!filter.matches_body(r#"{"price": 0}"#));
        assert!(!filter.matches_body(r#"{"price": "3"}"#));
        assert!(!filter.matches_body(r#"{"cost": 3}"#));
    }

    // ----- exists ------------------------------------------------------------------------------------

    #[test]
    fn exists_in_attributes() {
        let present = policy(r#"{"store": [{"exists": true}]}"#);
        assert!(present.matches_attributes(&[string("store", "fans")]));
        assert!(present.matches_attributes(&[number("store", "1")]));
        assert!(!present.matches_attributes(&[array("customer_interests", r#"["baseball"]"#)]));
        assert!(!present.matches_attributes(&[]));

        let absent = policy(r#"{"store": [{"exists": false}]}"#);
        assert!(absent.matches_attributes(&[array("customer_interests", r#"["baseball"]"#)]));
        assert!(!absent.matches_attributes(&[string("store", "fans")]));
        // Documented: "exists": false needs at least one attribute on the message.
        assert!(!absent.matches_attributes(&[]));
        // Binary (or unknown) attributes take no part.
        let binary = AttributeView { name: "store", data_type: "Binary", value: "AAAA" };
        assert!(!present.matches_attributes(&[binary, string("x", "y")]));
        assert!(absent.matches_attributes(&[binary, string("x", "y")]));
    }

    #[test]
    fn exists_in_body() {
        let present = body_policy(r#"{"store": [{"exists": true}]}"#);
        assert!(present.matches_body(r#"{"store": "fans"}"#));
        assert!(present.matches_body(r#"{"store": 0}"#));
        assert!(present.matches_body(r#"{"store": ["a"]}"#));
        assert!(!present.matches_body(r#"{"customer_interests": ["baseball"]}"#));
        // Documented: the key needs a non-null, non-empty value; intermediate nodes are not leaves.
        assert!(!present.matches_body(r#"{"store": null}"#));
        assert!(!present.matches_body(r#"{"store": []}"#));
        assert!(!present.matches_body(r#"{"store": {"name": "fans"}}"#));

        let absent = body_policy(r#"{"store": [{"exists": false}]}"#);
        assert!(absent.matches_body(r#"{"customer_interests": ["baseball"]}"#));
        assert!(absent.matches_body("{}"));
        assert!(!absent.matches_body(r#"{"store": "fans"}"#));

        let nested = body_policy(r#"{"finding": {"region": [{"exists": true}]}}"#);
        assert!(nested.matches_body(r#"{"finding": {"region": "eu"}}"#));
        assert!(nested.matches_body(r#"{"finding": [{"x": 1}, {"region": "eu"}]}"#));
        assert!(!nested.matches_body(r#"{"finding": {"account": "1"}}"#));
    }

    #[test]
    fn exists_combines_with_anything_but() {
        let filter = policy(r#"{"store": [{"exists": false}, {"anything-but": "closed"}]}"#);
        assert!(filter.matches_attributes(&[string("other", "x")]));
        assert!(filter.matches_attributes(&[string("store", "open")]));
        assert!(!filter.matches_attributes(&[string("store", "closed")]));
    }

    // ----- anything-but -------------------------------------------------------------------------------

    #[test]
    fn anything_but_strings_in_attributes() {
        let filter = policy(r#"{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}"#);
        assert!(filter.matches_attributes(&[string("customer_interests", "baseball")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "rugby")]));
        // The key must be present.
        assert!(!filter.matches_attributes(&[string("other", "baseball")]));

        let single = policy(r#"{"sport": [{"anything-but": "rugby"}]}"#);
        assert!(single.matches_attributes(&[string("sport", "football")]));
        assert!(!single.matches_attributes(&[string("sport", "rugby")]));
        // A number is not one of the refused strings.
        assert!(single.matches_attributes(&[number("sport", "7")]));
    }

    #[test]
    fn anything_but_on_string_arrays_refuses_any_listed_element() {
        let filter = policy(r#"{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}"#);
        assert!(filter.matches_attributes(&[array("customer_interests", r#"["baseball", "football"]"#)]));
        assert!(!filter.matches_attributes(&[array("customer_interests", r#"["rugby", "baseball"]"#)]));
        assert!(!filter.matches_attributes(&[array("customer_interests", "[]")]));
        assert!(!filter.matches_attributes(&[array("customer_interests", "not json")]));
    }

    #[test]
    fn anything_but_numbers() {
        let filter = policy(r#"{"price": [{"anything-but": [100, 500]}]}"#);
        assert!(filter.matches_attributes(&[number("price", "101")]));
        assert!(filter.matches_attributes(&[number("price", "100.1")]));
        assert!(!filter.matches_attributes(&[number("price", "100")]));
        assert!(!filter.matches_attributes(&[number("price", "1e2")]));
        assert!(!filter.matches_attributes(&[array("price", "[100, 50]")]));
        assert!(filter.matches_attributes(&[array("price", "[101, 50]")]));

        let filter = body_policy(r#"{"price": [{"anything-but": 100}]}"#);
        assert!(filter.matches_body(r#"{"price": 101}"#));
        assert!(!filter.matches_body(r#"{"price": 100.0}"#));
        assert!(!filter.matches_body(r#"{"cost": 101}"#));
    }

    #[test]
    fn anything_but_in_body() {
        let filter = body_policy(r#"{"customer_interests": [{"anything-but": ["rugby", "tennis"]}]}"#);
        assert!(filter.matches_body(r#"{"customer_interests": "baseball"}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": "rugby"}"#));
        assert!(!filter.matches_body(r#"{"other": "baseball"}"#));
        // Body arrays match when any element matches.
        assert!(filter.matches_body(r#"{"customer_interests": ["rugby", "baseball"]}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": ["rugby", "tennis"]}"#));
    }

    #[test]
    fn anything_but_prefix_and_suffix() {
        let filter = policy(r#"{"event": [{"anything-but": {"prefix": "order-"}}]}"#);
        assert!(filter.matches_attributes(&[string("event", "data-entry")]));
        assert!(filter.matches_attributes(&[string("event", "order_number")]));
        assert!(!filter.matches_attributes(&[string("event", "order-cancelled")]));
        assert!(!filter.matches_attributes(&[]));

        let filter = body_policy(r#"{"file": [{"anything-but": {"suffix": ".tmp"}}]}"#);
        assert!(filter.matches_body(r#"{"file": "notes.txt"}"#));
        assert!(!filter.matches_body(r#"{"file": "notes.tmp"}"#));
        let filter = policy(r#"{"file": [{"anything-but": {"suffix": ".tmp"}}]}"#);
        assert!(filter.matches_attributes(&[string("file", "a.txt")]));
        assert!(!filter.matches_attributes(&[string("file", "a.tmp")]));
        let filter = body_policy(r#"{"event": [{"anything-but": {"prefix": "order-"}}]}"#);
        assert!(filter.matches_body(r#"{"event": "data-entry"}"#));
        assert!(!filter.matches_body(r#"{"event": "order-cancelled"}"#));
    }

    #[test]
    fn anything_but_equals_ignore_case() {
        let filter = policy(r#"{"sport": [{"anything-but": {"equals-ignore-case": ["Rugby", "TENNIS"]}}]}"#);
        assert!(filter.matches_attributes(&[string("sport", "football")]));
        assert!(!filter.matches_attributes(&[string("sport", "rugby")]));
        assert!(!filter.matches_attributes(&[string("sport", "Tennis")]));
        let filter = body_policy(r#"{"sport": [{"anything-but": {"equals-ignore-case": "rugby"}}]}"#);
        assert!(filter.matches_body(r#"{"sport": "football"}"#));
        assert!(!filter.matches_body(r#"{"sport": "RUGBY"}"#));
    }

    // ----- prefix, suffix, equals-ignore-case, cidr ---------------------------------------------------

    #[test]
    fn prefix_matching() {
        let filter = policy(r#"{"customer_interests": [{"prefix": "bas"}]}"#);
        assert!(filter.matches_attributes(&[string("customer_interests", "baseball")]));
        assert!(filter.matches_attributes(&[string("customer_interests", "basketball")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "rugby")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "Baseball")]));
        assert!(!policy(r#"{"a": [{"prefix": "1"}]}"#).matches_attributes(&[number("a", "12")]));

        let filter = body_policy(r#"{"customer_interests": [{"prefix": "bas"}]}"#);
        assert!(filter.matches_body(r#"{"customer_interests": "baseball"}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": "rugby"}"#));
    }

    #[test]
    fn suffix_matching() {
        let filter = policy(r#"{"customer_interests": [{"suffix": "ball"}]}"#);
        assert!(filter.matches_attributes(&[string("customer_interests", "baseball")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "rugby")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "BASEBALL")]));

        let filter = body_policy(r#"{"customer_interests": [{"suffix": "ball"}]}"#);
        assert!(filter.matches_body(r#"{"customer_interests": "basketball"}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": "rugby"}"#));
    }

    #[test]
    fn equals_ignore_case_matching() {
        let filter = policy(r#"{"customer_interests": [{"equals-ignore-case": "tennis"}]}"#);
        assert!(filter.matches_attributes(&[string("customer_interests", "TENNIS")]));
        assert!(filter.matches_attributes(&[string("customer_interests", "Tennis")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "baseball")]));
        assert!(!filter.matches_attributes(&[string("customer_interests", "tennis2")]));
        assert!(
            policy(r#"{"city": [{"equals-ignore-case": "ZÜRICH"}]}"#).matches_attributes(&[string("city", "zürich")])
        );

        let filter = body_policy(r#"{"customer_interests": [{"equals-ignore-case": "tennis"}]}"#);
        assert!(filter.matches_body(r#"{"customer_interests": "TeNnIs"}"#));
        assert!(!filter.matches_body(r#"{"customer_interests": "rugby"}"#));
    }

    #[test]
    fn cidr_matching() {
        let filter = policy(r#"{"source_ip": [{"cidr": "10.0.0.0/24"}]}"#);
        assert!(filter.matches_attributes(&[string("source_ip", "10.0.0.0")]));
        assert!(filter.matches_attributes(&[string("source_ip", "10.0.0.255")]));
        assert!(!filter.matches_attributes(&[string("source_ip", "10.1.1.0")]));
        assert!(!filter.matches_attributes(&[string("source_ip", "not an address")]));
        assert!(!filter.matches_attributes(&[string("source_ip", "::a00:0")]));

        let filter = body_policy(r#"{"source_ip": [{"cidr": "2001:db8::/32"}]}"#);
        assert!(filter.matches_body(r#"{"source_ip": "2001:db8::1"}"#));
        assert!(filter.matches_body(r#"{"source_ip": "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"}"#));
        assert!(!filter.matches_body(r#"{"source_ip": "2001:db9::1"}"#));
        assert!(!filter.matches_body(r#"{"source_ip": "10.0.0.1"}"#));

        let filter = body_policy(r#"{"source_ip": [{"cidr": "0.0.0.0/0"}]}"#);
        assert!(filter.matches_body(r#"{"source_ip": "255.255.255.255"}"#));
    }

    // ----- String.Array and Number attributes ----------------------------------------------------------

    #[test]
    fn string_array_attributes_match_when_any_element_matches() {
        let filter = policy(r#"{"customer_interests": ["rugby", "tennis"]}"#);
        assert!(filter.matches_attributes(&[array("customer_interests", r#"["rugby", "tennis"]"#)]));
        assert!(filter.matches_attributes(&[array("customer_interests", r#"["soccer", "tennis"]"#)]));
        assert!(!filter.matches_attributes(&[array("customer_interests", r#"["baseball"]"#)]));
        assert!(!filter.matches_attributes(&[array("customer_interests", "[]")]));
        assert!(!filter.matches_attributes(&[array("customer_interests", "rugby")]));

        let filter = policy(r#"{"sizes": [{"numeric": [">", 10]}], "tags": [{"prefix": "x-"}]}"#);
        assert!(filter.matches_attributes(&[array("sizes", "[1, 20]"), array("tags", r#"["a", "x-b"]"#)]));
        assert!(!filter.matches_attributes(&[array("sizes", "[1, 2]"), array("tags", r#"["x-b"]"#)]));
        // A String.Array attribute exists even when it cannot be read.
        assert!(policy(r#"{"sizes": [{"exists": true}]}"#).matches_attributes(&[array("sizes", "{broken")]));
    }

    #[test]
    fn number_attributes_compare_numerically() {
        let filter = policy(r#"{"count": [{"numeric": ["=", 1]}]}"#);
        assert!(filter.matches_attributes(&[number("count", "1.0")]));
        assert!(filter.matches_attributes(&[number("count", "1")]));
        assert!(filter.matches_attributes(&[number("count", " 1e0 ")]));
        assert!(!filter.matches_attributes(&[number("count", "2")]));
        assert!(!filter.matches_attributes(&[string("count", "1")]));
        let custom = AttributeView { name: "count", data_type: "Number.int", value: "1" };
        assert!(filter.matches_attributes(&[custom]));
    }

    // ----- $or -----------------------------------------------------------------------------------------

    #[test]
    fn or_operator_in_attributes() {
        let filter = policy(
            r#"{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}"#,
        );
        assert!(
            filter.matches_attributes(&[string("source", "aws.cloudwatch"), string("metricName", "CPUUtilization")])
        );
        assert!(filter.matches_attributes(&[string("source", "aws.cloudwatch"), string("namespace", "AWS/EC2")]));
        assert!(!filter.matches_attributes(&[string("source", "aws.cloudwatch"), string("namespace", "AWS/ES")]));
        assert!(!filter.matches_attributes(&[string("source", "aws.events"), string("namespace", "AWS/EC2")]));

        // $or branches may themselves hold $or.
        let filter =
            policy(r#"{"$or": [{"a": ["1"]}, {"b": ["2"], "$or": [{"c": ["3"]}, {"d": [{"numeric": [">", 4]}]}]}]}"#);
        assert!(filter.matches_attributes(&[string("a", "1")]));
        assert!(filter.matches_attributes(&[string("b", "2"), number("d", "5")]));
        assert!(!filter.matches_attributes(&[string("b", "2"), number("d", "4")]));
        assert!(!filter.matches_attributes(&[string("c", "3")]));
    }

    #[test]
    fn or_operator_in_body() {
        let filter = body_policy(
            r#"{"detail": {"scope": ["Service"], "$or": [{"source": ["aws.cloudwatch"]}, {"type": ["Alarm"]}]}}"#,
        );
        assert!(filter.matches_body(r#"{"detail": {"scope": "Service", "source": "aws.cloudwatch"}}"#));
        assert!(filter.matches_body(r#"{"detail": {"scope": "Service", "type": "Alarm"}}"#));
        assert!(!filter.matches_body(r#"{"detail": {"scope": "Service", "type": "Other"}}"#));
        assert!(!filter.matches_body(r#"{"detail": {"scope": "Other", "type": "Alarm"}}"#));
        // The branches sit at the nesting of the $or, not at the top.
        assert!(!filter.matches_body(r#"{"detail": {"scope": "Service"}, "type": "Alarm"}"#));
    }

    #[test]
    fn or_that_is_not_recognised_is_an_ordinary_key() {
        // Fewer than two objects: "$or" names an attribute, and its values are match values.
        let filter = policy(r#"{"$or": ["a", "b"]}"#);
        assert!(filter.matches_attributes(&[string("$or", "a")]));
        assert!(!filter.matches_attributes(&[string("x", "a")]));
        assert_eq!(error(r#"{"$or": [{"a": ["1"]}]}"#, ATTRIBUTES), "Unrecognized match type a");
        // A reserved keyword inside a branch: the objects are read as match expressions.
        assert_eq!(
            error(r#"{"$or": [{"numeric": 123}, {"prefix": "abc"}]}"#, ATTRIBUTES),
            "Value of numeric must be an array."
        );
        let filter = policy(r#"{"$or": [{"prefix": "ab"}, {"suffix": "yz"}]}"#);
        assert!(filter.matches_attributes(&[string("$or", "abc")]));
        assert!(!filter.matches_attributes(&[string("$or", "mmm")]));
    }

    // ----- nested body keys ------------------------------------------------------------------------------

    #[test]
    fn nested_body_keys_follow_nested_objects() {
        let filter = body_policy(r#"{"object": {"key": [{"prefix": "auto-"}]}}"#);
        assert!(filter.matches_body(r#"{"object": {"key": "auto-test"}}"#));
        assert!(!filter.matches_body(r#"{"object": {"key": "manual"}}"#));
        assert!(!filter.matches_body(r#"{"key": "auto-test"}"#));
        assert!(!filter.matches_body(r#"{"object": "auto-test"}"#));
    }

    #[test]
    fn nested_body_keys_cross_arrays() {
        let filter = body_policy(r#"{"headers": {"route-to": ["queue1"]}}"#);
        assert!(filter.matches_body(r#"{"headers": {"route-to": ["queue1", "queue2"]}}"#));
        assert!(!filter.matches_body(r#"{"headers": {"route-to": ["queue2"]}}"#));

        let filter = body_policy(r#"{"Records": {"s3": {"object": {"key": [{"prefix": "auto-"}]}}}}"#);
        let records = r#"{"Records": [
            {"eventName": "ObjectCreated:Put", "s3": {"object": [[{"key": "auto-insurance-2314.xml"}]]}},
            {"eventName": "ObjectRemoved:Delete", "s3": {"object": {"key": "home-insurance-2314.xml"}}}
        ]}"#;
        assert!(filter.matches_body(records));
        assert!(!filter.matches_body(r#"{"Records": [{"s3": {"object": {"key": "home.xml"}}}, {"s3": {}}]}"#));
    }

    #[test]
    fn dotted_keys_are_the_same_path_as_nested_keys() {
        let nested = body_policy(r#"{"object": {"nested": ["string.value"]}}"#);
        let dotted = body_policy(r#"{"object.nested": ["string.value"]}"#);
        for filter in [&nested, &dotted] {
            assert!(filter.matches_body(r#"{"object": {"nested": "string.value"}}"#));
            assert!(filter.matches_body(r#"{"object.nested": "string.value"}"#));
            assert!(!filter.matches_body(r#"{"object": {"nested": "other"}}"#));
            assert!(!filter.matches_body(r#"{"objectnested": "string.value"}"#));
        }
        let deep = body_policy(r#"{"object": {"nested": {"test": ["v"]}}}"#);
        assert!(deep.matches_body(r#"{"object.nested.test": "v"}"#));
        assert!(deep.matches_body(r#"{"object.nested": {"test": "v"}}"#));
        assert!(deep.matches_body(r#"{"object": {"nested.test": "v"}}"#));
    }

    #[test]
    fn empty_key_names_are_paths_too() {
        let filter = body_policy(r#"{"": {"a": ["x"]}}"#);
        assert!(filter.matches_body(r#"{"": {"a": "x"}}"#));
        assert!(!filter.matches_body(r#"{"a": "x"}"#));
    }

    #[test]
    fn bodies_that_are_not_json_objects_match_nothing() {
        let filter = body_policy(r#"{"a": [{"exists": false}]}"#);
        for body in ["", "plain text", "[]", "[{\"b\": 1}]", "42", "\"text\"", "null", "{\"a\": "] {
            assert!(!filter.matches_body(body), "{body}");
        }
        assert!(filter.matches_body(r#"{"b": 1}"#));
    }

    #[test]
    fn parsed_bodies_can_be_shared() {
        let body = ParsedBody::parse(r#"{"a": "x", "n": 3}"#);
        assert!(body_policy(r#"{"a": ["x"]}"#).matches_parsed_body(&body));
        assert!(body_policy(r#"{"n": [{"numeric": ["<", 4]}]}"#).matches_parsed_body(&body));
        assert!(!body_policy(r#"{"a": ["y"]}"#).matches_parsed_body(&body));
        assert!(body_policy("{}").matches_parsed_body(&ParsedBody::parse("not json")));
        assert!(!body_policy(r#"{"a": ["x"]}"#).matches_parsed_body(&ParsedBody::parse("not json")));
    }

    // ----- validation: document ---------------------------------------------------------------------------

    #[test]
    fn refuses_text_that_is_not_json() {
        for text in ["", "{invalidjson}", "{\"a\": [}", "{\"a\": [\"x\"]} trailing", "{\"a\": [1e400]}"] {
            assert!(error_both(text).starts_with("failed to parse JSON."), "{text}");
        }
    }

    #[test]
    fn refuses_documents_that_are_not_objects() {
        for text in ["[]", "\"policy\"", "5", "null", "true"] {
            assert_eq!(error_both(text), "Filter is not an object", "{text}");
        }
    }

    #[test]
    fn refuses_policies_over_256_kib() {
        let filler = "x".repeat(POLICY_BYTES_MAX);
        let text = format!(r#"{{"a": ["{filler}"]}}"#);
        assert_eq!(error_both(&text), "Filter policy is too long");
        // Exactly at the limit is fine.
        let at_limit = format!(r#"{{"a": ["{}"]}}"#, "x".repeat(POLICY_BYTES_MAX - 11));
        assert_eq!(at_limit.len(), POLICY_BYTES_MAX);
        assert!(FilterPolicy::parse(&at_limit, ATTRIBUTES).is_ok());
    }

    #[test]
    fn refuses_malformed_structure() {
        assert_eq!(error_both(r#"{"key": []}"#), "Empty arrays are not allowed");
        assert_eq!(error(r#"{"key": {}}"#, BODY), "Empty objects are not allowed");
        assert_eq!(error(r#"{"$or": [{}, {"a": ["1"]}]}"#, BODY), "Empty objects are not allowed");
        assert_eq!(error_both(r#"{"key_a": "value_one"}"#), r#""key_a" must be an object or an array"#);
        assert_eq!(error_both(r#"{"key_a": 5}"#), r#""key_a" must be an object or an array"#);
        assert_eq!(error_both(r#"{"key": {"suffix": "value"}}"#), r#""suffix" must be an object or an array"#);
        assert_eq!(error_both(r#"{"key": [["value"]]}"#), "Match value must be String, number, true, false, or null");
        assert_eq!(error_both(r#"{"key": [{}]}"#), "Match expression name not found");
    }

    #[test]
    fn refuses_nesting_in_the_attribute_scope() {
        assert_eq!(
            error(r#"{"object": {"key": [{"prefix": "auto-"}]}}"#, ATTRIBUTES),
            "Filter policy scope MessageAttributes does not support nested filter policy"
        );
        assert_eq!(
            error(r#"{"$or": [{"a": ["1"]}, {"b": {"c": ["2"]}}]}"#, ATTRIBUTES),
            "Filter policy scope MessageAttributes does not support nested filter policy"
        );
        assert!(FilterPolicy::parse(r#"{"object": {"key": [{"prefix": "auto-"}]}}"#, BODY).is_ok());
    }

    #[test]
    fn refuses_nesting_deeper_than_the_depth_limit() {
        let depth_ok = format!("{}[\"x\"]{}", "{\"a\":".repeat(POLICY_DEPTH_MAX), "}".repeat(POLICY_DEPTH_MAX));
        assert!(FilterPolicy::parse(&depth_ok, BODY).is_ok());
        let too_deep = format!("{}[\"x\"]{}", "{\"a\":".repeat(POLICY_DEPTH_MAX + 2), "}".repeat(POLICY_DEPTH_MAX + 2));
        assert_eq!(error(&too_deep, BODY), "Filter policy is too complex");
        // Beyond serde_json's own limit the text is refused while parsing, without recursion trouble.
        let absurd = format!("{}[\"x\"]{}", "{\"a\":".repeat(1_000), "}".repeat(1_000));
        assert!(error(&absurd, BODY).starts_with("failed to parse JSON."));
    }

    // ----- validation: operators ------------------------------------------------------------------------------

    #[test]
    fn refuses_unknown_operators_and_extra_keys() {
        assert_eq!(error_both(r#"{"key": [{"wrong-operator": true}]}"#), "Unrecognized match type wrong-operator");
        assert_eq!(error_both(r#"{"key": [{"wildcard": "a*"}]}"#), "Unrecognized match type wildcard");
        assert_eq!(
            error_both(r#"{"key": [{"suffix": "value", "prefix": "value2"}]}"#),
            "Only one key allowed in match expression"
        );
        assert_eq!(
            error_both(r#"{"key": [{"exists": true, "prefix": "a"}]}"#),
            "Only one key allowed in match expression"
        );
        assert_eq!(
            error_both(r#"{"key": [{"numeric": [">", 1], "prefix": "a"}]}"#),
            "Too many elements in numeric expression"
        );
        assert_eq!(
            error_both(r#"{"key": [{"anything-but": "a", "prefix": "a"}]}"#),
            "Too many elements in numeric expression"
        );
    }

    #[test]
    fn refuses_string_operators_without_a_string() {
        for operator in ["prefix", "suffix", "equals-ignore-case"] {
            for operand in ["100", "null", "[]", "[\"test\", \"test2\"]", "{}", "true"] {
                let text = format!(r#"{{"key": [{{"{operator}": {operand}}}]}}"#);
                assert_eq!(error_both(&text), format!("{operator} match pattern must be a string"), "{text}");
            }
        }
    }

    #[test]
    fn refuses_exists_without_a_boolean() {
        for operand in ["null", "\"no\"", "1", "[true]"] {
            let text = format!(r#"{{"key": [{{"exists": {operand}}}]}}"#);
            assert_eq!(error_both(&text), "exists match pattern must be either true or false.", "{text}");
        }
    }

    #[test]
    fn refuses_malformed_numeric_expressions() {
        let cases = [
            (r#"[]"#, "Invalid member in numeric match: ]"),
            (r#"["operator"]"#, "Unrecognized numeric range operator: operator"),
            (r#"[1, "<="]"#, "Invalid member in numeric match: 1"),
            (r#"[["<"]]"#, "Invalid member in numeric match: ["),
            (r#"["=", "000"]"#, "Value of equals must be numeric"),
            (r#"["=", 1, 2]"#, "Too many elements in numeric expression"),
            (r#"[">="]"#, "Value of >= must be numeric"),
            (r#"["<", 100, ">", 10]"#, "Too many elements in numeric expression"),
            (r#"[">=", 1, ">", 2]"#, "Bad numeric range operator: >"),
            (r#"[">", 5, ">", 6]"#, "Bad numeric range operator: >"),
            (r#"[">", 3, "<", 1]"#, "Bottom must be less than top"),
            (r#"[">=", 3, "<=", 3]"#, "Bottom must be less than top"),
            (r#"[">", 20, "<="]"#, "Value of <= must be numeric"),
            (r#"[">", 20, 30]"#, "Bad value in numeric range: 30"),
            (r#"[">", 20, "test"]"#, "Bad numeric range operator: test"),
            (r#"[">", "20", "<", "30"]"#, "Value of > must be numeric"),
            (r#"[">", 20, "<", "30"]"#, "Value of < must be numeric"),
            (r#"[">", 20, "<", 30, "<", 50]"#, "Too many terms in numeric range expression"),
            (r#"["=", 1000000001]"#, "Value must be between -1.0E9 and 1.0E9, inclusive"),
            (r#"[">", -1e10]"#, "Value must be between -1.0E9 and 1.0E9, inclusive"),
            (r#"[">", 0, "<", 1e10]"#, "Value must be between -1.0E9 and 1.0E9, inclusive"),
        ];
        for (terms, reason) in cases {
            let text = format!(r#"{{"key": [{{"numeric": {terms}}}]}}"#);
            assert_eq!(error_both(&text), reason, "{text}");
        }
        assert_eq!(error_both(r#"{"key": [{"numeric": ">"}]}"#), "Value of numeric must be an array.");
        // The limits themselves are inclusive.
        assert!(FilterPolicy::parse(r#"{"key": [{"numeric": [">=", -1e9, "<=", 1e9]}]}"#, ATTRIBUTES).is_ok());
    }

    #[test]
    fn refuses_malformed_anything_but() {
        let cases = [
            (r#"{"wrong-operator": null}"#, "Unsupported anything-but pattern: wrong-operator"),
            (r#"{"exists": false}"#, "Unsupported anything-but pattern: exists"),
            (r#"{}"#, "Anything-But expression name not found"),
            (r#"{"prefix": false}"#, "prefix match pattern must be a string"),
            (r#"{"suffix": 1}"#, "suffix match pattern must be a string"),
            (r#"{"prefix": ""}"#, "Null prefix/suffix not allowed"),
            (r#"{"prefix": "a", "suffix": "b"}"#, "Only one key allowed in match expression"),
            (
                r#"{"equals-ignore-case": 5}"#,
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
            ),
            (
                r#"{"equals-ignore-case": ["a", null]}"#,
                "Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.",
            ),
            (
                r#"{"equals-ignore-case": true}"#,
                "Value of anything-but must be an array or single string/number value.",
            ),
            (r#"["a", null]"#, "Inside anything but list, start|null|boolean is not supported."),
            (r#"[["a"]]"#, "Inside anything but list, start|null|boolean is not supported."),
            (
                r#"["a", 1]"#,
                "Inside anything but list, either all values are number or string, mixed type is not supported",
            ),
            (r#"[]"#, "Inside anything but list, either all values are number or string, mixed type is not supported"),
            (r#"true"#, "Value of anything-but must be an array or single string/number value."),
            (r#"null"#, "Value of anything-but must be an array or single string/number value."),
            (r#"[5e9]"#, "Value must be between -1.0E9 and 1.0E9, inclusive"),
            (r#"-5e9"#, "Value must be between -1.0E9 and 1.0E9, inclusive"),
        ];
        for (operand, reason) in cases {
            let text = format!(r#"{{"key": [{{"anything-but": {operand}}}]}}"#);
            assert_eq!(error_both(&text), reason, "{text}");
        }
    }

    #[test]
    fn refuses_invalid_cidr() {
        let cases = [
            (r#"5"#, "prefix match pattern must be a string"),
            (r#""10.0.0.0""#, "Malformed CIDR, one '/' required"),
            (r#""10.0.0.0/""#, "Malformed CIDR, one '/' required"),
            (r#""10.0.0.0/8/8""#, "Malformed CIDR, one '/' required"),
            (r#""10.0.0.0/x""#, "Malformed CIDR, mask bits must be an integer"),
            (r#""10.0.0.0/-1""#, "Malformed CIDR, mask bits must not be negative"),
            (r#""10.0.0/8""#, "Nonstandard IP address: 10.0.0"),
            (r#""example.com/8""#, "Nonstandard IP address: example.com"),
            (r#""10.0.0.1/32""#, "IPv4 mask bits must be < 32"),
            (r#""::1/128""#, "IPv6 mask bits must be < 128"),
        ];
        for (operand, reason) in cases {
            let text = format!(r#"{{"key": [{{"cidr": {operand}}}]}}"#);
            assert_eq!(error_both(&text), reason, "{text}");
        }
    }

    // ----- validation: keys and combinations ------------------------------------------------------------------

    #[test]
    fn refuses_more_than_five_keys() {
        let six = r#"{"key1": ["v"], "key2": ["v"], "key3": ["v"], "key4": ["v"], "key5": ["v"], "key6": ["v"]}"#;
        assert_eq!(error_both(six), "Filter policy can not have more than 5 keys");
        let five = r#"{"key1": ["v"], "key2": ["v"], "key3": ["v"], "key4": ["v"], "key5": ["v"]}"#;
        assert!(FilterPolicy::parse(five, ATTRIBUTES).is_ok());
        // Attribute names inside $or count too (once each).
        let or_six = r#"{"a": ["v"], "$or": [{"b": ["v"], "c": ["v"]}, {"d": ["v"], "e": ["v"], "f": ["v"]}]}"#;
        assert_eq!(error(or_six, ATTRIBUTES), "Filter policy can not have more than 5 keys");
        let or_five = r#"{"a": ["v"], "$or": [{"b": ["v"], "c": ["v"]}, {"b": ["w"], "d": ["v"], "e": ["v"]}]}"#;
        assert!(FilterPolicy::parse(or_five, ATTRIBUTES).is_ok());
    }

    #[test]
    fn body_scope_counts_only_top_level_keys() {
        let nested = r#"{"state": ["SUCCESS"], "severity": [{"exists": true}], "message": [{"exists": true}],
            "finding": {"standard_control": [{"exists": true}], "region": [{"exists": true}], "account": [{"exists": true}]}}"#;
        assert!(FilterPolicy::parse(nested, BODY).is_ok());
        let six = r#"{"a": ["v"], "b": ["v"], "c": ["v"], "d": ["v"], "e": {"x": ["v"]}, "f": {"y": ["v"]}}"#;
        assert_eq!(error(six, BODY), "Filter policy can not have more than 5 keys");
    }

    #[test]
    fn refuses_more_than_150_combinations() {
        let values = |count: usize| (0..count).map(|index| format!("\"value{index}\"")).collect::<Vec<_>>().join(",");
        assert_eq!(error_both(&format!(r#"{{"key": [{}]}}"#, values(151))), "Filter policy is too complex");
        assert!(FilterPolicy::parse(&format!(r#"{{"key": [{}]}}"#, values(150)), ATTRIBUTES).is_ok());
        let two = format!(r#"{{"key1": [{}], "key2": [{}]}}"#, values(100), values(51));
        assert_eq!(error_both(&two), "Filter policy is too complex");
        let three = format!(r#"{{"a": [{}], "b": [{}], "c": [{}]}}"#, values(5), values(5), values(6));
        assert!(FilterPolicy::parse(&three, ATTRIBUTES).is_ok());
    }

    #[test]
    fn combinations_multiply_by_nesting_depth() {
        // The documented example: 4 values three levels deep and 3 values two levels deep: 3×4 × 2×3 = 72.
        let documented =
            r#"{"key_a": {"key_b": {"key_c": ["1", "2", "3", "4"]}}, "key_d": {"key_e": ["1", "2", "3"]}}"#;
        assert!(FilterPolicy::parse(documented, BODY).is_ok());
        // 76 values two levels deep weigh 152.
        let values = (0..76).map(|index| format!("\"v{index}\"")).collect::<Vec<_>>().join(",");
        assert_eq!(error(&format!(r#"{{"a": {{"b": [{values}]}}}}"#), BODY), "Filter policy is too complex");
    }

    #[test]
    fn combinations_add_up_across_or_branches() {
        // 4 × (6 + 4 × (4 + 4)) = 152.
        let flat = r#"{"source": ["a", "b", "c", "d"], "$or": [
            {"metricName": ["1", "2", "3", "4", "5", "6"]},
            {"metricType": ["1", "2", "3", "4"], "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4]}]}]}"#;
        assert_eq!(error(flat, ATTRIBUTES), "Filter policy is too complex");
        // 3 × (6 + 4 × (4 + 7)) = 150.
        let at_limit = r#"{"source": ["a", "b", "c"], "$or": [
            {"metricName": ["1", "2", "3", "4", "5", "6"]},
            {"metricType": ["1", "2", "3", "4"], "$or": [{"metricId": [1, 2, 3, 4]}, {"spaceId": [1, 2, 3, 4, 5, 6, 7]}]}]}"#;
        assert!(FilterPolicy::parse(at_limit, ATTRIBUTES).is_ok());
        // (3 + 2) × (2×2) × (1×2 + 3×2) = 160.
        let nested = r#"{"$or": [{"metricName": ["a", "b", "c"]}, {"namespace": ["x", "y"]}],
            "detail": {"scope": ["Service", "Test"], "$or": [{"source": ["s"]}, {"type": ["t1", "t2", "t3"]}]}}"#;
        assert_eq!(error(nested, BODY), "Filter policy is too complex");
    }

    #[test]
    fn combinations_never_overflow() {
        let values = (0..150).map(|index| format!("{index}")).collect::<Vec<_>>().join(",");
        let text =
            format!(r#"{{"a": [{values}], "b": [{values}], "c": [{values}], "d": [{values}], "e": [{values}]}}"#);
        assert_eq!(error(&text, ATTRIBUTES), "Filter policy is too complex");
    }

    // ----- robustness --------------------------------------------------------------------------------------------

    #[test]
    fn hostile_documents_never_panic() {
        let filter = body_policy(r#"{"a": {"b": [{"exists": false}, "x", {"numeric": [">", 1]}]}}"#);
        let deep_array = format!("{{\"a\": {}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        let deep_object = format!("{}1{}", "{\"a\":".repeat(100_000), "}".repeat(100_000));
        let within_limit = format!("{{\"a\": {}{{\"b\": \"x\"}}{}}}", "[".repeat(120), "]".repeat(120));
        assert!(!filter.matches_body(&deep_array));
        assert!(!filter.matches_body(&deep_object));
        assert!(filter.matches_body(&within_limit));

        let attribute_filter =
            policy(r#"{"a": [{"anything-but": ["x"]}, {"numeric": ["<", 0]}, {"cidr": "10.0.0.0/8"}]}"#);
        for value in ["", "[", "[[[[[[", &deep_array, "1e999999", "-", "10.0.0.1/8", "\u{0}"] {
            for data_type in ["String", "Number", "String.Array", "Binary", "", "Number."] {
                let _ = attribute_filter.matches_attributes(&[AttributeView { name: "a", data_type, value }]);
            }
        }
        for text in [
            "{",
            "}",
            "{\"a\": [{\"numeric\": [\">\"",
            "{\"a\": [{\"anything-but\": {\"prefix\"",
            "\u{0}",
            "{\"\": [\"\"]}",
        ] {
            let _ = FilterPolicy::parse(text, ATTRIBUTES);
            let _ = FilterPolicy::parse(text, BODY);
        }
    }

    #[test]
    fn errors_display_their_reason() {
        let reason = FilterPolicy::parse(r#"{"key": []}"#, ATTRIBUTES).unwrap_err();
        assert_eq!(reason.to_string(), "Empty arrays are not allowed");
    }
}
