//! `herald sign`: the headers that make a file a valid delivery of a Git server, signed as that
//! server signs (the webhook's own verification accepts them: the tests check it).

use crate::delivery::{event_of, provider_headers, Sender};
use crate::output::Outcome;
use base64::Engine;
use herald::auth::{sign_hex, sign_standard_webhook, Scheme, Secret};
use herald::change::ProviderKind;
use serde_json::{json, Value};
use std::fmt::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// github, gitlab (token), gitlab-signing (Standard Webhooks), bitbucket-cloud (or
    /// bitbucket), bitbucket-server (or bitbucket-dc), gitea, forgejo, gogs, azure-devops (or
    /// azure; Basic auth), generic (Standard Webhooks)
    #[arg(long, value_parser = Sender::parse)]
    pub provider: Sender,
    /// The secret (a `whsec_…` key for gitlab-signing and generic); never empty
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

/// The headers of a delivery of `body` from `sender`, signed with `secret` at `now`.
pub fn headers(
    sender: Sender,
    secret: &str,
    body: &[u8],
    event: Option<&str>,
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    if secret.is_empty() {
        return Err("--secret is empty: a delivery signed with an empty key verifies against no stack".into());
    }
    let provider = sender.kind();
    let key = Secret::new(secret);
    let standard = || {
        if key.scheme() != Scheme::StandardWebhooks {
            return Err(format!("{} signs with a Standard Webhooks key, written whsec_<base64>", sender.as_str()));
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
    if matches!(sender, Sender::GitLabSigning | Sender::Server(ProviderKind::Generic)) {
        let (id, signed) = standard()?;
        let mut out = match sender {
            // The signed webhook-id is GitLab's delivery id too.
            Sender::GitLabSigning => provider_headers(provider, event, &id),
            _ => Vec::new(),
        };
        out.extend(signed);
        out.push(("Content-Type".into(), "application/json".into()));
        return Ok(out);
    }
    if key.scheme() == Scheme::StandardWebhooks {
        return Err(format!("{} signs with a shared secret, not a whsec_ key", sender.as_str()));
    }
    let hex = sign_hex(&key, body);
    let delivery = herald::token::deterministic(&[&now.to_string(), &hex])[..32].to_owned();
    let mut out = match provider {
        ProviderKind::AzureDevOps => vec![(
            "Authorization".to_owned(),
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("herald:{secret}"))),
        )],
        _ => provider_headers(provider, event, &delivery),
    };
    let signature = match provider {
        ProviderKind::GitLab => Some(secret.to_owned()),
        ProviderKind::GitHub | ProviderKind::BitbucketCloud | ProviderKind::BitbucketServer => {
            Some(format!("sha256={hex}"))
        }
        ProviderKind::Gitea | ProviderKind::Forgejo | ProviderKind::Gogs => Some(hex),
        ProviderKind::AzureDevOps | ProviderKind::Generic => None,
    };
    if let Some(value) = signature {
        out.push((crate::delivery::signature_header(provider).to_owned(), value));
    }
    out.push(("Content-Type".into(), "application/json".into()));
    Ok(out)
}

fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

pub fn run(args: &Args) -> Outcome {
    let body = match std::fs::read(&args.file) {
        Ok(b) => b,
        Err(e) => return Outcome::usage(format!("{}: {e}", args.file)),
    };
    let event = args.event.clone().or_else(|| event_of(args.provider.kind(), &body));
    let event = event.as_deref();
    let headers = match headers(args.provider, &args.secret, &body, event, herald::clock::unix_now()) {
        Ok(h) => h,
        Err(e) => return Outcome::usage(e),
    };
    let mut text = String::new();
    let curl = args.url.as_ref().map(|url| {
        // The answer, then its HTTP code on a line of its own (the code is half the answer).
        let mut command = format!("curl -sS -w '\\nHTTP %{{http_code}}\\n' -X POST {}", shell_quote(url));
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
    Outcome::ok(text, json!({ "provider": args.provider.as_str(), "headers": map, "curl": curl }))
}
