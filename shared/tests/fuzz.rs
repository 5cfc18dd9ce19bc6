//! Fuzz harnesses: every parser that reads outside input, fed random bytes, random JSON and
//! mutated real samples. None may panic; each must answer a value or a clear error.
//!
//! These are proptest harnesses (random, not coverage-guided: `cargo fuzz` needs a nightly
//! toolchain, which this project's machines do not have). `make test` runs 256 cases each;
//! `make fuzz` runs `FUZZ_CASES` (default 20000) each; `PROPTEST_CASES=N cargo test -p herald
//! --test fuzz` runs any number.

use herald::change::ProviderKind;
use herald::providers::{self, Headers};
use herald::secrets::WebhookSecrets;
use proptest::prelude::*;
use serde_json::Value;

const PROVIDERS: [(ProviderKind, &str, &str); 9] = [
    (ProviderKind::GitHub, "x-github-event", "github/push.json"),
    (ProviderKind::GitLab, "x-gitlab-event", "gitlab/push-event.json"),
    (ProviderKind::BitbucketCloud, "x-event-key", "bitbucket/repo-push.json"),
    (ProviderKind::BitbucketServer, "x-event-key", "bitbucket-server/repo-refs-changed.json"),
    (ProviderKind::Gitea, "x-gitea-event", "gitea/push-event.json"),
    (ProviderKind::Forgejo, "x-forgejo-event", "gitea/pull-request-event.json"),
    (ProviderKind::Gogs, "x-gogs-event", "gogs/push-event.json"),
    (ProviderKind::AzureDevOps, "authorization", "azuredevops/git.push.json"),
    (ProviderKind::Generic, "webhook-id", "github/push.json"),
];

const EVENTS: [&str; 6] = ["push", "pull_request", "Push Hook", "Merge Request Hook", "repo:push", "pr:opened"];

fn fixture(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/fixtures/webhooks/{path}", env!("CARGO_MANIFEST_DIR"))).expect("fixture")
}

fn sample(path: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../events/{path}", env!("CARGO_MANIFEST_DIR"))).expect("sample")
}

/// `base` with a few random edits: bytes flipped, inserted or removed.
fn mutated(base: Vec<u8>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec((any::<usize>(), any::<u8>(), 0u8..3), 1..8).prop_map(move |edits| {
        let mut bytes = base.clone();
        for (at, byte, kind) in edits {
            let i = if bytes.is_empty() { 0 } else { at % bytes.len() };
            match kind {
                0 if !bytes.is_empty() => bytes[i] ^= byte | 1,
                1 => bytes.insert(i.min(bytes.len()), byte),
                _ if !bytes.is_empty() => {
                    bytes.remove(i);
                }
                _ => {}
            }
        }
        bytes
    })
}

/// Arbitrary JSON, nested a few levels.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("source".to_owned()),
                    Just("detail-type".to_owned()),
                    Just("detail".to_owned()),
                    Just("Records".to_owned()),
                    Just("eventName".to_owned()),
                    Just("pipeline".to_owned()),
                    Just("state".to_owned()),
                    ".{0,8}".prop_map(|s| s),
                ],
                inner,
                0..8
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn parse_never_panics(provider: ProviderKind, header: &str, event: &str, body: &[u8]) {
    let headers: Headers =
        [(header, event), ("content-type", "application/json"), ("webhook-id", "m")].into_iter().collect();
    let _ = providers::parse(provider, &headers, body);
}

proptest! {
    #[test]
    fn provider_parsers_take_random_bytes(which in 0usize..PROVIDERS.len(), event in 0usize..EVENTS.len(), body in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let (provider, header, _) = PROVIDERS[which];
        parse_never_panics(provider, header, EVENTS[event], &body);
    }

    #[test]
    fn provider_parsers_take_mutated_payloads(
        (which, body) in (0usize..PROVIDERS.len()).prop_flat_map(|i| (Just(i), mutated(fixture(PROVIDERS[i].2))))
    ) {
        let (provider, header, _) = PROVIDERS[which];
        for event in EVENTS {
            parse_never_panics(provider, header, event, &body);
        }
    }

    #[test]
    fn provider_parsers_take_random_json(which in 0usize..PROVIDERS.len(), doc in json()) {
        let (provider, header, _) = PROVIDERS[which];
        let body = doc.to_string();
        for event in EVENTS {
            parse_never_panics(provider, header, event, body.as_bytes());
        }
    }

    #[test]
    fn s3_event_parser_takes_anything(doc in json(), mutated_sample in mutated(sample("s3-trigger/cloudtrail-put-object.json"))) {
        let _ = herald::s3::event::parse_event(&doc);
        if let Ok(doc) = serde_json::from_slice::<Value>(&mutated_sample) {
            let _ = herald::s3::event::parse_event(&doc);
        }
    }

    #[test]
    fn codepipeline_event_parser_takes_anything(doc in json(), mutated_sample in mutated(sample("pipeline-notifier/action-failed.json"))) {
        let _ = herald::alert::event::parse_event(&doc);
        if let Ok(doc) = serde_json::from_slice::<Value>(&mutated_sample) {
            let _ = herald::alert::event::parse_event(&doc);
        }
    }

    /// Basic and Standard Webhooks headers, any text: an answer, never a panic.
    #[test]
    fn auth_header_parsers_take_anything(value in "\\PC{0,200}", bytes in proptest::collection::vec(any::<u8>(), 0..200), id in ".{0,40}", ts in ".{0,30}") {
        let secrets = WebhookSecrets::parse(r#"{"secrets": ["shared-secret-0123456789", "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk="]}"#).unwrap();
        let basic_b64 = format!("Basic {}", base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &bytes));
        for auth in [value.as_str(), basic_b64.as_str()] {
            let h: Headers = [("authorization", auth)].into_iter().collect();
            prop_assert_eq!(providers::authenticate(ProviderKind::AzureDevOps, &h, b"{}", &secrets, 0), None);
        }
        let h: Headers = [("webhook-id", id.as_str()), ("webhook-timestamp", ts.as_str()), ("webhook-signature", value.as_str())].into_iter().collect();
        prop_assert_eq!(providers::authenticate(ProviderKind::Generic, &h, &bytes, &secrets, 1_700_000_000), None);
        let _ = herald::auth::verify_standard_webhook(b"k", &id, &ts, &bytes, &value, i64::MIN);
        let _ = herald::auth::verify_standard_webhook(b"k", &id, &ts, &bytes, &value, i64::MAX);
    }

    /// Secret documents, any text: a document or an error that never quotes it.
    #[test]
    fn secret_documents_take_anything(text in "\\PC{0,200}") {
        if let Err(e) = WebhookSecrets::parse(&text) {
            let message = e.to_string();
            let quoted = text.len() >= 8 && !text.trim().starts_with('{') && message.contains(text.trim());
            prop_assert!(!quoted, "{}", message);
        }
    }
}

proptest! {
    /// The Git server credentials document (`HERALD_STATUS_SECRET_ARN`): any text or JSON is a
    /// document or an error naming where, never a panic.
    #[test]
    fn credential_documents_take_anything(doc in json(), text in "\\PC{0,300}", key in "[a-z:.0-9-]{0,30}") {
        let _ = herald::git_api::credentials::Credentials::parse(&doc.to_string());
        let _ = herald::git_api::credentials::Credentials::parse(&text);
        let keyed = serde_json::json!({ key: doc });
        let _ = herald::git_api::credentials::Credentials::parse(&keyed.to_string());
    }
}
