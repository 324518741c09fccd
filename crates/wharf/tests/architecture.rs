//! The dependency rules of docs/ARCHITECTURE.md, checked against `cargo metadata`.

use std::collections::BTreeMap;
use std::process::Command;

/// For each workspace crate, the workspace crates it may depend on (normal dependencies).
const ALLOWED: &[(&str, &[&str])] = &[
    (
        "wharf",
        &[
            "wharf-aws",
            "wharf-sqs",
            "wharf-sns",
            "wharf-kinesis",
            "wharf-domain",
            "wharf-store",
            "wharf-store-embedded",
        ],
    ),
    ("wharf-sqs", &["wharf-aws", "wharf-domain"]),
    ("wharf-kinesis", &["wharf-aws", "wharf-domain"]),
    ("wharf-sns", &["wharf-aws", "wharf-domain"]),
    ("wharf-aws", &[]),
    ("wharf-domain", &["wharf-store"]),
    ("wharf-store", &[]),
    ("wharf-store-embedded", &["wharf-store"]),
    // Only for the pure SigV4 signer (`wharf_aws::sigv4::sign`), so SigV4 is written once; the
    // bench must not reach the domain, the stores or a front-end.
    ("wharf-bench", &["wharf-aws"]),
];

/// Crates that name no protocol and carry no wire shapes may not use these.
const PROTOCOL_NEUTRAL: &[&str] = &["wharf-domain", "wharf-store", "wharf-store-embedded"];
const WIRE_CRATES: &[&str] = &["serde", "serde_json", "hyper", "http", "quick-xml"];
/// The one exception: the domain reads JSON because the filter-policy language and the message
/// bodies it matches are JSON documents (docs/decisions/0006-filter-policies-in-the-domain.md).
const JSON_IN_THE_DOMAIN: (&str, &str) = ("wharf-domain", "serde_json");

#[test]
fn dependencies_point_down() {
    let output = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--offline"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo metadata runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).expect("metadata is JSON");
    let allowed: BTreeMap<&str, &[&str]> = ALLOWED.iter().copied().collect();
    let packages = metadata["packages"].as_array().expect("packages");
    for package in packages {
        let name = package["name"].as_str().expect("name");
        let permitted = allowed.get(name).unwrap_or_else(|| panic!("{name} is not in the architecture table"));
        for dependency in package["dependencies"].as_array().expect("dependencies") {
            let dependency_name = dependency["name"].as_str().expect("dependency name");
            let normal = dependency["kind"].is_null();
            if normal && dependency_name.starts_with("wharf") {
                assert!(permitted.contains(&dependency_name), "{name} must not depend on {dependency_name}");
            }
            if PROTOCOL_NEUTRAL.contains(&name) && (name, dependency_name) != JSON_IN_THE_DOMAIN {
                assert!(!WIRE_CRATES.contains(&dependency_name), "{name} must not use {dependency_name}");
            }
        }
    }
    assert_eq!(packages.len(), ALLOWED.len(), "every workspace crate is in the table");
}
