//! The SAM template and the code agree on the environment: every variable the code reads is
//! set by the template (for the functions that use it), and the template sets nothing the code
//! does not read. Local-only variables are the exception, and the template must not set them.

use herald_tests::workspace;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Read by the code, never set by the template: local runs, tests and the demo only.
const LOCAL_ONLY: [&str; 3] = ["HERALD_WEBHOOK_SECRET", "HERALD_DRY_RUN", "AWS_ENDPOINT_URL"];

/// What each function's environment must hold (beyond the configuration source).
const PER_FUNCTION: [(&str, &[&str]); 3] = [
    ("GitWebhookFunction", &["HERALD_WEBHOOK_SECRET_ARN", "HERALD_DEDUP_TABLE", "HERALD_EVENT_BUS"]),
    ("S3TriggerFunction", &["HERALD_DEDUP_TABLE", "HERALD_EVENT_BUS"]),
    ("PipelineNotifierFunction", &["HERALD_TOPIC_ARN", "HERALD_DEDUP_TABLE"]),
];

/// `Environment: Variables:` of each function resource in template.yaml, by logical id.
fn template_variables() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(workspace().join("template.yaml")).expect("template.yaml");
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut resource = String::new();
    let mut in_variables: Option<usize> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if indent == 2 && trimmed.ends_with(':') && !trimmed.starts_with('#') {
            resource = trimmed.trim_end_matches(':').to_owned();
        }
        if let Some(depth) = in_variables {
            if indent <= depth && !trimmed.is_empty() {
                in_variables = None;
            } else if let Some((name, _)) = trimmed.split_once(':') {
                out.entry(resource.clone()).or_default().insert(name.to_owned());
                continue;
            }
        }
        if trimmed == "Variables:" {
            in_variables = Some(indent);
        }
    }
    out
}

/// Every `"HERALD_..."` / `"AWS_ENDPOINT_URL"` string literal in non-test code of `dir`.
fn code_variables(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        if path.is_dir() {
            code_variables(&path, found);
            continue;
        }
        if path.extension().is_none_or(|e| e != "rs") || path.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for piece in code.split('"').skip(1).step_by(2) {
            let is_name = piece.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
            if is_name && (piece.starts_with("HERALD_") || piece == "AWS_ENDPOINT_URL") {
                found.insert(piece.to_owned());
            }
        }
    }
}

#[test]
fn the_template_sets_exactly_what_the_code_reads() {
    let mut code = BTreeSet::new();
    for dir in ["shared/src", "functions"] {
        code_variables(&workspace().join(dir), &mut code);
    }
    assert!(
        code.contains("HERALD_CONFIG") && code.contains("HERALD_TOPIC_ARN"),
        "the scan found the code's names: {code:?}"
    );
    let template = template_variables();
    let set: BTreeSet<String> = template.values().flatten().cloned().collect();
    let local: BTreeSet<String> = LOCAL_ONLY.iter().map(|s| s.to_string()).collect();

    let unset: Vec<_> = code.difference(&set).filter(|v| !local.contains(*v)).collect();
    assert!(unset.is_empty(), "the code reads {unset:?} but the template never sets them");
    let unread: Vec<_> = set.difference(&code).collect();
    assert!(unread.is_empty(), "the template sets {unread:?} but the code never reads them");
    let leaked: Vec<_> = set.intersection(&local).collect();
    assert!(leaked.is_empty(), "the template sets local-only variables {leaked:?}");

    for (function, needs) in PER_FUNCTION {
        let vars = template.get(function).unwrap_or_else(|| panic!("{function} has no environment in the template"));
        for name in needs.iter().chain(&["HERALD_CONFIG", "HERALD_CONFIG_PARAMETER"]) {
            assert!(vars.contains(*name), "{function} does not set {name}");
        }
    }
}
