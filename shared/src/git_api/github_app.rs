//! GitHub App installation tokens: a JWT signed with the App's private key (RS256, ring) buys an
//! installation token (`POST /app/installations/{id}/access_tokens` at the credential's own API
//! base), cached until shortly before it expires (GitHub issues them for one hour); concurrent
//! statuses share one mint.

use super::endpoint::Endpoint;
use super::{GitApi, Host, PostError, GITHUB_API_VERSION, USER_AGENT};
use crate::ports::OutboundRequest;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use futures_util::future::{BoxFuture, FutureExt, Shared};
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// How long a minted token is used: GitHub's hour, less a margin for clocks and slow calls.
pub const TOKEN_LIFETIME_SECS: i64 = 50 * 60;

/// A GitHub App installation.
pub struct GitHubApp {
    /// The App id or client id (the JWT's `iss`).
    pub app_id: String,
    pub installation_id: u64,
    key: RsaKeyPair,
}

impl GitHubApp {
    /// Reads `app_id`, `installation_id` and `private_key` (PEM, PKCS#1 as GitHub downloads it,
    /// or PKCS#8).
    pub fn from_fields(fields: &Map<String, Value>) -> Result<Self, String> {
        let app_id = match fields.get("app_id") {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            _ => return Err("app_id must be the App's id (a number) or client id".into()),
        };
        let installation_id = match fields.get("installation_id") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        }
        .ok_or("installation_id must be a number")?;
        let pem = fields.get("private_key").and_then(Value::as_str).ok_or("private_key must be the App's PEM key")?;
        Ok(Self { app_id, installation_id, key: read_key(pem)? })
    }

    /// The App's JWT for `now`: issued a minute early (clock drift), valid nine minutes (GitHub
    /// accepts at most ten).
    pub fn jwt(&self, now: i64) -> Result<String, PostError> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = json!({ "iat": now - 60, "exp": now + 540, "iss": self.app_id });
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims.to_string()));
        let mut signature = vec![0; self.key.public().modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), signing_input.as_bytes(), &mut signature)
            .map_err(|_| PostError::Refused("could not sign the GitHub App JWT".into()))?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature)))
    }

    /// The public key (DER), for tests that verify the JWT.
    #[cfg(test)]
    pub fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair;
        self.key.public_key().as_ref().to_vec()
    }
}

/// The private key of a PEM document; never echoes it.
fn read_key(pem: &str) -> Result<RsaKeyPair, String> {
    let pkcs1 = pem.contains("BEGIN RSA PRIVATE KEY");
    let body: String = pem.lines().map(str::trim).filter(|l| !l.starts_with("-----")).collect();
    let der = STANDARD.decode(body).map_err(|_| "private_key is not a PEM document".to_owned())?;
    let key = if pkcs1 { RsaKeyPair::from_der(&der) } else { RsaKeyPair::from_pkcs8(&der) };
    key.map_err(|_| "private_key is not an RSA private key (PKCS#1 or PKCS#8 PEM)".into())
}

/// A mint under way, shared by every status that needs the same installation's token meanwhile.
type Mint = Shared<BoxFuture<'static, Result<(String, i64), PostError>>>;

enum Slot {
    /// A token and the time it is used until.
    Ready(String, i64),
    Minting(Mint),
}

/// Minted tokens by (host, installation): one mint at a time per installation, and no lock held
/// while it runs (the map's lock is taken only to look and to store).
#[derive(Default)]
pub struct AppTokens {
    slots: Mutex<HashMap<(String, u64), Slot>>,
}

impl AppTokens {
    /// A valid installation token for `app` on the server at `host` whose API is at `base`
    /// (its credentials entry's): cached, or minted at `POST {base}/app/installations/{id}/access_tokens`
    /// (the base from configuration alone).
    pub(super) async fn token(
        &self,
        api: &GitApi,
        base: &str,
        host: &Host,
        app: Arc<GitHubApp>,
        now: i64,
    ) -> Result<String, PostError> {
        let key = (host.0.clone(), app.installation_id);
        let mint = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.get(&key) {
                Some(Slot::Ready(token, until)) if now < *until => return Ok(token.clone()),
                Some(Slot::Minting(mint)) => mint.clone(),
                _ => {
                    let mint = mint(api, base, host, app, now)?;
                    slots.insert(key.clone(), Slot::Minting(mint.clone()));
                    mint
                }
            }
        };
        let minted = mint.await;
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if matches!(slots.get(&key), Some(Slot::Minting(_))) {
            match &minted {
                Ok((token, until)) => slots.insert(key, Slot::Ready(token.clone(), *until)),
                Err(_) => slots.remove(&key),
            };
        }
        minted.map(|(token, _)| token)
    }
}

/// The request that mints a token, as a future any number of callers can await.
fn mint(api: &GitApi, base: &str, host: &Host, app: Arc<GitHubApp>, now: i64) -> Result<Mint, PostError> {
    let request = OutboundRequest {
        method: "POST",
        url: Endpoint::InstallationToken { installation_id: app.installation_id }.url(base),
        headers: vec![
            ("authorization", format!("Bearer {}", app.jwt(now)?)),
            ("accept", "application/vnd.github+json".into()),
            ("x-github-api-version", GITHUB_API_VERSION.into()),
            ("user-agent", USER_AGENT.into()),
        ],
        body: Vec::new(),
        limit: super::STATUS_ANSWER_LIMIT,
    };
    let (http, policy, host) = (api.http.clone(), api.policy, host.clone());
    let future = async move {
        let response = super::send(&*http, policy, &request, &host).await?;
        let token = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
            .ok_or_else(|| PostError::Transient(format!("{}: the installation token answer has no token", host.0)))?;
        Ok((token, now + TOKEN_LIFETIME_SECS))
    };
    Ok(future.boxed().shared())
}
