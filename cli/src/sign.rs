//! `herald sign`: the headers that make a file a valid delivery of a Git server, signed as that
//! server signs (the webhook's own verification accepts them: the tests check it).

use crate::explain::provider_headers;
use crate::output::Outcome;
use base64::Engine;
use herald::auth::{sign_hex, sign_standard_webhook, Scheme, Secret};
use serde_json::{json, Value};
use std::fmt::Write;

/// Every server `sign` speaks for.
pub const PROVIDERS: [&str; 10] =
    ["github", "gitlab", "gitlab-signing", "bitbucket", "bitbucket-dc", "gitea", "forgejo", "gogs", "azure", "generic"];

#[derive(clap::Args, Debug)]
pub struct Args {
    /// github, gitlab (token), gitlab-signing (Standard Webhooks), bitbucket, bitbucket-dc,
    /// gitea, forgejo, gogs, azure (Basic auth), generic (Standard Webhooks)
    #[arg(long, value_parser = clap::builder::PossibleValuesParser::new(PROVIDERS))]
    pub provider: String,
    /// The secret (a `whsec_…` key for gitlab-signing and generic)
    #[arg(long)]
    pub secret: String,
    /// The payload to send
    pub file: String,
    /// The server's event name (default: as the payload's shape says — a pull request comment on
    /// any server, GitHub's `merge_group`, `pull_request` or `ping`; else the push event)
    #[arg(long)]
    pub event: Option<String>,
    /// Print a complete curl command POSTing FILE to this URL
    #[arg(long)]
    pub url: Option<String>,
    /// Print JSON: {"headers": {...}, "curl": "..."}
    #[arg(long)]
    pub json: bool,
}

/// The headers of a delivery of `body` from `provider`, signed with `secret` at `now`.
pub fn headers(
    provider: &str,
    secret: &str,
    body: &[u8],
    event: Option<&str>,
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    let key = Secret::new(secret);
    let standard = || {
        if key.scheme() != Scheme::StandardWebhooks {
            return Err(format!("{provider} signs with a Standard Webhooks key, written whsec_<base64>"));
        }
        let id = format!("msg_{}", &herald::token::deterministic(&[&now.to_string(), &body.len().to_string()])[..24]);
        let signature = sign_standard_webhook(&key, &id, now, body);
        let headers = vec![
            ("webhook-id".to_owned(), id.clone()),
            ("webhook-timestamp".to_owned(), now.to_string()),
            ("webhook-signature".to_owned(), signature),
        ];
        Ok((id, headers))
    };
    if matches!(provider, "gitlab-signing" | "generic") {
        let (id, signed) = standard()?;
        let mut out = match provider {
            // The signed webhook-id is GitLab's delivery id too.
            "gitlab-signing" => provider_headers(provider, event, &id)?,
            _ => Vec::new(),
        };
        out.extend(signed);
        out.push(("Content-Type".into(), "application/json".into()));
        return Ok(out);
    }
    if key.scheme() == Scheme::StandardWebhooks {
        return Err(format!("{provider} signs with a shared secret, not a whsec_ key"));
    }
    let hex = sign_hex(&key, body);
    let delivery = herald::token::deterministic(&[&now.to_string(), &hex])[..32].to_owned();
    let mut out = match provider {
        "azure" => vec![(
            "Authorization".to_owned(),
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("herald:{secret}"))),
        )],
        _ => provider_headers(provider, event, &delivery)?,
    };
    match provider {
        "github" => out.push(("X-Hub-Signature-256".into(), format!("sha256={hex}"))),
        "gitlab" => out.push(("X-Gitlab-Token".into(), secret.to_owned())),
        "bitbucket" | "bitbucket-dc" => out.push(("X-Hub-Signature".into(), format!("sha256={hex}"))),
        "gitea" => out.push(("X-Gitea-Signature".into(), hex)),
        "forgejo" => out.push(("X-Forgejo-Signature".into(), hex)),
        "gogs" => out.push(("X-Gogs-Signature".into(), hex)),
        _ => {}
    }
    out.push(("Content-Type".into(), "application/json".into()));
    Ok(out)
}

/// The event a payload of `provider` is, by its shape: GitHub's (below), or a pull request
/// comment on any server (docs/commands.md "Commands from the pull request"); `None`: the push default.
pub fn event_of(provider: &str, body: &[u8]) -> Option<&'static str> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    let has = |field: &str| doc.get(field).is_some_and(Value::is_object);
    match provider {
        "github" if has("comment") && has("issue") => Some("issue_comment"),
        "github" => github_event_of(body),
        "gitlab" | "gitlab-signing" if doc["object_kind"] == "note" => Some("Note Hook"),
        "bitbucket" if has("comment") && has("pullrequest") => Some("pullrequest:comment_created"),
        "bitbucket-dc" if has("comment") && has("pullRequest") => Some("pr:comment:added"),
        "gitea" | "forgejo" if has("comment") && has("issue") => Some("issue_comment"),
        _ => None,
    }
}

/// The GitHub event a payload is, by the field only that event has (`None`: not JSON, or a push).
pub fn github_event_of(body: &[u8]) -> Option<&'static str> {
    let doc: Value = serde_json::from_slice(body).ok()?;
    ["merge_group", "pull_request"]
        .into_iter()
        .find(|field| doc.get(field).is_some_and(Value::is_object))
        .or_else(|| doc.get("hook_id").map(|_| "ping"))
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

pub fn run(args: &Args) -> Outcome {
    let body = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return Outcome::usage(format!("{}: {e}", args.file)),
    };
    let event = args.event.as_deref().or_else(|| event_of(&args.provider, &body));
    let headers = match headers(&args.provider, &args.secret, &body, event, herald::clock::unix_now()) {
        Ok(h) => h,
        Err(e) => return Outcome::usage(e),
    };
    let mut text = String::new();
    let curl = args.url.as_ref().map(|url| {
        let mut command = format!("curl -sS -X POST {}", shell_quote(url));
        for (k, v) in &headers {
            let _ = write!(command, " \\\n  -H {}", shell_quote(&format!("{k}: {v}")));
        }
        let _ = write!(command, " \\\n  --data-binary @{}", shell_quote(&args.file));
        command
    });
    match &curl {
        Some(command) => {
            let _ = writeln!(text, "{command}");
        }
        None => {
            for (k, v) in &headers {
                let _ = writeln!(text, "{k}: {v}");
            }
        }
    }
    let map: serde_json::Map<String, Value> = headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    Outcome::ok(text, json!({ "provider": args.provider, "headers": map, "curl": curl }))
}
