//! Properties over random and malformed filter policies: any JSON text either compiles or is
//! refused with a [`FilterPolicyError`]; compiled policies evaluate any attribute set or message
//! body without panicking, and consistently.

use proptest::prelude::*;
use serde_json::{json, Map, Number, Value};
use wharf_domain::filter_policy::{AttributeView, FilterPolicy, FilterScope, ParsedBody};

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

/// Attribute and body key names: a few shared ones so policies and messages meet.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["store", "price", "ip", "event", "a", "b", "$or"]).prop_map(str::to_owned),
        1 => "\\PC{0,6}",
    ]
}

/// Operator names and other keys an operator object may hold.
fn operator_key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "anything-but", "cidr", "equals-ignore-case", "exact", "exists", "numeric", "prefix", "suffix",
            "wildcard", "$or",
        ])
        .prop_map(str::to_owned),
        1 => key(),
    ]
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        prop::sample::select(vec![0_i64, 1, -1, 100, 1_000_000_000, 1_000_000_001, i64::MAX, i64::MIN])
            .prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", Number::from_f64).prop_map(Value::Number),
        prop::sample::select(vec![
            "",
            "<",
            ">",
            "=",
            "<=",
            ">=",
            "10.0.0.0/24",
            "::1/128",
            "300.1.1.1/8",
            "10.0.0.1",
            "abc",
            "ABC",
            "a*c",
            "*",
            "**",
            "example_corp",
            "1e9",
            "NaN",
        ])
        .prop_map(|text| Value::String(text.to_owned())),
        "\\PC{0,8}".prop_map(Value::String),
    ]
}

/// JSON shaped like filter policies (operators, arrays of conditions, nested keys), mostly
/// wrong in one detail or another.
fn policy_like() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(5, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((operator_key(), inner.clone()), 0..3)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
            prop::collection::vec((key(), inner), 0..4)
                .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Policy texts: JSON shaped like policies, arbitrary text, and truncated or mutated policies.
fn policy_text() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::collection::vec((key(), policy_like()), 0..6)
            .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>()).to_string()),
        1 => "\\PC{0,64}",
        2 => (policy_like(), any::<prop::sample::Index>()).prop_map(|(value, cut)| {
            let text = value.to_string();
            let mut end = cut.index(text.len() + 1);
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            text[..end].to_owned()
        }),
    ]
}

fn attributes() -> impl Strategy<Value = Vec<(String, String, String)>> {
    prop::collection::vec(
        (
            key(),
            prop_oneof![
                prop::sample::select(vec!["String", "Number", "String.Array", "Binary", "String.custom", "Number.x"])
                    .prop_map(str::to_owned),
                "\\PC{0,8}",
            ],
            prop_oneof![
                scalar().prop_map(|value| match value {
                    Value::String(text) => text,
                    other => other.to_string(),
                }),
                prop::collection::vec(scalar(), 0..4).prop_map(|items| Value::Array(items).to_string()),
                "\\PC{0,16}",
            ],
        ),
        0..6,
    )
}

fn body() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::collection::vec((key(), policy_like()), 0..6)
            .prop_map(|members| Value::Object(members.into_iter().collect::<Map<_, _>>()).to_string()),
        1 => "\\PC{0,32}",
    ]
}

fn check(policy_text: &str, attributes: &[(String, String, String)], body: &str) {
    let views: Vec<AttributeView<'_>> =
        attributes.iter().map(|(name, data_type, value)| AttributeView { name, data_type, value }).collect();
    for scope in [FilterScope::MessageAttributes, FilterScope::MessageBody] {
        match FilterPolicy::parse(policy_text, scope) {
            Ok(policy) => {
                assert_eq!(policy.scope(), scope);
                let by_attributes = policy.matches_attributes(&views);
                assert_eq!(policy.matches_attributes(&views), by_attributes, "evaluation is deterministic");
                let by_body = policy.matches_body(body);
                assert_eq!(policy.matches_parsed_body(&ParsedBody::parse(body)), by_body);
            }
            Err(error) => assert!(!error.message.is_empty(), "a refusal says why"),
        }
    }
}

proptest! {
    #![proptest_config(config(4000))]

    #[test]
    fn arbitrary_policies_compile_or_are_refused_and_never_panic(
        policy in policy_text(),
        attributes in attributes(),
        body in body(),
    ) {
        check(&policy, &attributes, &body);
    }

    #[test]
    fn valid_policies_evaluate_any_message(
        name in key(),
        condition in prop_oneof![
            scalar().prop_map(|value| json!([value])),
            prop::collection::vec(scalar(), 1..4).prop_map(|values| json!({ "anything-but": values })),
            scalar().prop_map(|value| json!([{ "prefix": value }])),
            scalar().prop_map(|value| json!([{ "suffix": value }])),
            scalar().prop_map(|value| json!([{ "equals-ignore-case": value }])),
            scalar().prop_map(|value| json!([{ "cidr": value }])),
            any::<bool>().prop_map(|flag| json!([{ "exists": flag }])),
            (scalar(), scalar()).prop_map(|(a, b)| json!([{ "numeric": [">", a, "<=", b] }])),
            (scalar(), scalar()).prop_map(|(op, a)| json!([{ "numeric": [op, a] }])),
        ],
        attributes in attributes(),
        body in body(),
    ) {
        let policy = json!({ name: condition }).to_string();
        check(&policy, &attributes, &body);
        let nested = json!({ "outer": { "inner": json!({ "x": 1 }), "other": [1, 2] } }).to_string();
        check(&nested, &attributes, &body);
    }
}

#[test]
fn the_generators_reach_compiled_policies() {
    let policy = r#"{"store":["example_corp"],"price":[{"numeric":[">",0,"<=",100]}],"ip":[{"cidr":"10.0.0.0/24"}]}"#;
    for scope in [FilterScope::MessageAttributes, FilterScope::MessageBody] {
        assert!(FilterPolicy::parse(policy, scope).is_ok());
    }
    let attributes = [
        AttributeView { name: "store", data_type: "String", value: "example_corp" },
        AttributeView { name: "price", data_type: "Number", value: "50" },
        AttributeView { name: "ip", data_type: "String", value: "10.0.0.7" },
    ];
    let compiled = FilterPolicy::parse(policy, FilterScope::MessageAttributes).expect("valid policy");
    assert!(compiled.matches_attributes(&attributes));
}

#[test]
fn deeply_nested_policies_and_bodies_are_refused_or_evaluated() {
    let mut policy = json!(["x"]);
    for _ in 0..200 {
        policy = json!({ "a": policy });
    }
    let deep_body = format!("{}1{}", "{\"a\":".repeat(200), "}".repeat(200));
    check(&policy.to_string(), &[], &deep_body);
    let mut or = json!({ "a": ["x"] });
    for _ in 0..100 {
        or = json!({ "$or": [or, { "b": ["y"] }] });
    }
    check(&or.to_string(), &[], &deep_body);
}
