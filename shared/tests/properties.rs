//! Properties of Herald's public contract, checked over generated inputs (proptest; the number
//! of cases is `PROPTEST_CASES`, 256 by default, `make fuzz` raises it).

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use herald::alert::enrich::{Enrichment, Failure, Revision};
use herald::alert::event::{parse_event, Input};
use herald::alert::render::Alert;
use herald::alert::{matches, tokens, Previous};
use herald::auth::{hmac_sha256, sign_hex, sign_standard_webhook, verify_hex_hmac, verify_standard_webhook, Secret};
use herald::change::ProviderKind;
use herald::config::Config;
use herald::providers::{self, Headers};
use herald::secrets::WebhookSecrets;
use proptest::prelude::*;
use serde_json::json;

fn key() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 16..64)
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..512)
}

fn headers(pairs: &[(&str, String)]) -> Headers {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// The Standard Webhooks secret written for `key`, and the shared secret written for `text`.
fn whsec(key: &[u8]) -> String {
    format!("whsec_{}", BASE64.encode(key))
}

proptest! {
    /// A hex signature verifies, and no single bit of it can change without failing.
    #[test]
    fn every_single_bit_mutation_of_a_hex_signature_is_rejected(key in key(), body in body(), bit in 0usize..256) {
        let secret = Secret::from_key(herald::auth::Scheme::Shared, key.clone());
        let signature = sign_hex(&secret, &body);
        prop_assert!(verify_hex_hmac(&key, &body, &signature));
        let mut raw = hex::decode(&signature).unwrap();
        raw[bit / 8] ^= 1 << (bit % 8);
        prop_assert!(!verify_hex_hmac(&key, &body, &hex::encode(raw)));
    }

    /// The same for Standard Webhooks, and for every bit of the signed id and timestamp.
    #[test]
    fn every_single_bit_mutation_of_a_standard_signature_is_rejected(
        key in key(), body in body(), id in "[a-z0-9_]{1,24}", ts in 1_000_000_000i64..4_000_000_000, bit in 0usize..256
    ) {
        let secret = Secret::from_key(herald::auth::Scheme::StandardWebhooks, key.clone());
        let signature = sign_standard_webhook(&secret, &id, ts, &body);
        prop_assert!(verify_standard_webhook(&key, &id, &ts.to_string(), &body, &signature, ts).is_ok());
        let mut raw = BASE64.decode(&signature[3..]).unwrap();
        raw[bit / 8] ^= 1 << (bit % 8);
        let flipped = format!("v1,{}", BASE64.encode(raw));
        prop_assert!(verify_standard_webhook(&key, &id, &ts.to_string(), &body, &flipped, ts).is_err());
        let other_id = format!("{}x", id);
        prop_assert!(verify_standard_webhook(&key, &other_id, &ts.to_string(), &body, &signature, ts).is_err());
    }

    /// A signature made for one scheme never verifies under another, through `authenticate`.
    #[test]
    fn a_signature_of_one_scheme_never_verifies_under_another(key in key(), body in body(), ts in 1_700_000_000i64..1_800_000_000) {
        // A Standard Webhooks key: its HMAC as a GitHub / Bitbucket / Gitea signature fails.
        let standard = WebhookSecrets::parse(&whsec(&key)).unwrap();
        let signed = [b"msg_1.".as_slice(), ts.to_string().as_bytes(), b".", &body].concat();
        let hex = hex::encode(hmac_sha256(&key, &signed));
        for (provider, header, value) in [
            (ProviderKind::GitHub, "x-hub-signature-256", format!("sha256={hex}")),
            (ProviderKind::BitbucketCloud, "x-hub-signature", format!("sha256={hex}")),
            (ProviderKind::Gitea, "x-gitea-signature", hex.clone()),
        ] {
            let h = headers(&[(header, value)]);
            prop_assert_eq!(providers::authenticate(provider, &h, &signed, &standard, ts), None);
        }
        // A shared secret: its HMAC as a Standard Webhooks signature fails.
        let text = hex::encode(&key);
        let shared = WebhookSecrets::parse(&text).unwrap();
        let v1 = format!("v1,{}", BASE64.encode(hmac_sha256(text.as_bytes(), &signed)));
        let h = headers(&[("webhook-id", "msg_1".into()), ("webhook-timestamp", ts.to_string()), ("webhook-signature", v1)]);
        prop_assert_eq!(providers::authenticate(ProviderKind::Generic, &h, &body, &shared, ts), None);
        // ...and as a GitLab token or a Basic password the Standard Webhooks key is refused.
        let token = headers(&[("x-gitlab-token", whsec(&key))]);
        prop_assert_eq!(providers::authenticate(ProviderKind::GitLab, &token, &body, &standard, ts), None);
        let basic = headers(&[("authorization", format!("Basic {}", BASE64.encode(format!("u:{}", whsec(&key)))))]);
        prop_assert_eq!(providers::authenticate(ProviderKind::AzureDevOps, &basic, &body, &standard, ts), None);
    }

    /// Tokens are deterministic and always fit CodePipeline's `clientRequestToken`.
    #[test]
    fn tokens_are_deterministic_and_valid_client_request_tokens(parts in proptest::collection::vec(".*", 0..6)) {
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        let token = herald::token::deterministic(&refs);
        prop_assert_eq!(&token, &herald::token::deterministic(&refs));
        prop_assert!((1..=128).contains(&token.len()));
        prop_assert!(token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    }

    /// Subjects are printable ASCII of at most 99 characters; messages stay under SNS's 256 KB,
    /// whatever the pipeline, stage, commit message or error text.
    #[test]
    fn subjects_are_valid_and_messages_fit_sns(
        pipeline in "[A-Za-z0-9.@_-]{1,100}",
        stage in "\\PC{0,300}",
        message in "\\PC{0,2000}",
        repeat in 1usize..400,
        summary in "\\PC{0,1000}",
    ) {
        let mut raw: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
            concat!(env!("CARGO_MANIFEST_DIR"), "/../events/pipeline-notifier/stage-failed.json"),
        ).unwrap()).unwrap();
        raw["detail"]["pipeline"] = json!(pipeline);
        // A stage event names its stage (an empty one is malformed and ignored).
        let stage = format!("S{stage}");
        raw["detail"]["stage"] = json!(stage);
        let Input::Event(event) = parse_event(&raw) else { panic!("the sample is an event") };
        let config = Config::from_json(r#"{"alerts":[{"name":"all","pipelines":["**"],"on":["STAGE_FAILED"]}]}"#).unwrap();
        let rules: Vec<_> = config.alerts.iter().collect();
        let found = matches(&rules, &tokens(&event, None));
        prop_assert_eq!(found.len(), 1);
        let enrichment = Enrichment {
            revision: Some(Revision { commit: Some("9fceb02d".into()), message: Some(message.repeat(repeat)), url: None }),
            failure: Some(Failure { stage: Some(stage.clone()), action: Some("a".into()), summary: Some(summary.repeat(repeat)), external_url: None }),
            previous: Some(Previous::Failed),
            ..Enrichment::default()
        };
        let alert = Alert::new(&found[0], &event, &enrichment);
        let subject = alert.subject();
        prop_assert!(!subject.is_empty() && subject.len() <= 99, "{:?}", subject);
        prop_assert!(subject.bytes().all(|b| (0x20..0x7f).contains(&b)), "{:?}", subject);
        let sns = alert.to_sns("arn:aws:sns:us-east-1:111122223333:t");
        let size = sns.message.len() + sns.subject.len()
            + sns.attributes.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>();
        prop_assert!(size < 256 * 1024, "{} bytes", size);
    }
}
