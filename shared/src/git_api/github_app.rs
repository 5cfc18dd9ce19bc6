//! GitHub App installation tokens: a JWT signed with the App's private key (RS256, ring) buys an
//! installation token (`POST /app/installations/{id}/access_tokens`), cached until shortly
//! before it expires (GitHub issues them for one hour).

use super::{GitApi, Host, PostError};
use crate::ports::OutboundRequest;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use tokio::sync::Mutex;

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

/// The API root of a GitHub status URL: `https://api.github.com`, `https://ghe/api/v3`.
pub fn api_base(statuses_url: &str) -> Option<&str> {
    statuses_url.find("/repos/").map(|i| &statuses_url[..i])
}

/// Minted tokens, by (host, installation): (token, valid until).
#[derive(Default)]
pub struct AppTokens {
    cache: Mutex<HashMap<(String, u64), (String, i64)>>,
}

impl AppTokens {
    /// A valid installation token for `app` on the server at `base`.
    pub(super) async fn token(
        &self,
        api: &GitApi,
        app: &GitHubApp,
        base: &str,
        host: &Host,
        now: i64,
    ) -> Result<String, PostError> {
        let key = (host.0.clone(), app.installation_id);
        let mut cache = self.cache.lock().await;
        if let Some((token, until)) = cache.get(&key) {
            if now < *until {
                return Ok(token.clone());
            }
        }
        let request = OutboundRequest {
            method: "POST",
            url: format!("{base}/app/installations/{}/access_tokens", app.installation_id),
            headers: vec![
                ("authorization", format!("Bearer {}", app.jwt(now)?)),
                ("accept", "application/vnd.github+json".into()),
                ("x-github-api-version", super::statuses::GITHUB_API_VERSION.into()),
                ("user-agent", super::statuses::USER_AGENT.into()),
            ],
            body: Vec::new(),
        };
        let response = api.send(&request, host).await?;
        let token = serde_json::from_slice::<Value>(&response.body)
            .ok()
            .and_then(|v| v["token"].as_str().map(str::to_owned))
            .ok_or_else(|| PostError::Transient(format!("{}: the installation token answer has no token", host.0)))?;
        cache.insert(key, (token.clone(), now + TOKEN_LIFETIME_SECS));
        Ok(token)
    }
}
