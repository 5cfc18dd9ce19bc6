//! The configuration as it is now. A document given inline is fixed for the instance's life; one
//! read from SSM is read again every `HERALD_CONFIG_REFRESH_SECONDS` (at the first invocation
//! after that): a valid new version takes effect without a restart, an invalid one is refused
//! with an ERROR line and a `ConfigRejected` metric, and the last valid one keeps serving.

use crate::config::Config;
use crate::metrics;
use crate::ports::DocumentSource;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How often a document from SSM is read again, unless `HERALD_CONFIG_REFRESH_SECONDS` says.
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(300);

/// The configuration in force, and where a newer one comes from.
pub struct LiveConfig {
    current: RwLock<(Arc<Config>, Instant)>,
    refresh: Option<(Arc<dyn DocumentSource>, Duration)>,
    /// One refresh at a time.
    refreshing: tokio::sync::Mutex<()>,
    /// What a new document must also pass on this function (a table it needs, ...).
    check: fn(&Config) -> Result<(), String>,
}

impl From<Arc<Config>> for LiveConfig {
    fn from(config: Arc<Config>) -> Self {
        Self {
            current: RwLock::new((config, Instant::now())),
            refresh: None,
            refreshing: tokio::sync::Mutex::new(()),
            check: |_| Ok(()),
        }
    }
}

impl LiveConfig {
    /// `config`, read again from `source` every `every`.
    pub fn refreshed(config: Arc<Config>, source: Arc<dyn DocumentSource>, every: Duration) -> Self {
        Self { refresh: Some((source, every)), ..Self::from(config) }
    }

    /// Refuses a refreshed document that fails `check` as it refuses an invalid one.
    pub fn with_check(self, check: fn(&Config) -> Result<(), String>) -> Self {
        Self { check, ..self }
    }

    fn snapshot(&self) -> (Arc<Config>, Instant) {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The configuration in force, refreshed first when it is due.
    pub async fn get(&self) -> Arc<Config> {
        let (config, read_at) = self.snapshot();
        let Some((source, every)) = &self.refresh else { return config };
        if read_at.elapsed() < *every {
            return config;
        }
        let _one = self.refreshing.lock().await;
        let (config, read_at) = self.snapshot();
        if read_at.elapsed() < *every {
            return config;
        }
        let next = match source.read().await {
            Err(e) => {
                tracing::warn!(error = %e, "could not read the configuration again; the current one keeps serving");
                config
            }
            Ok(text) => match Config::from_json(&text)
                .map_err(|e| e.to_string())
                .and_then(|fresh| (self.check)(&fresh).map(|()| fresh))
            {
                Ok(fresh) => {
                    tracing::info!(
                        triggers = fresh.triggers.len(),
                        alerts = fresh.alerts.len(),
                        "configuration refreshed"
                    );
                    for warning in &fresh.warnings {
                        tracing::warn!(field = %warning.field, "configuration: {}", warning.message);
                    }
                    Arc::new(fresh)
                }
                Err(e) => {
                    tracing::error!(error = %e, "new configuration refused; the last valid one keeps serving");
                    metrics::count("ConfigRejected", 1, &[]);
                    config
                }
            },
        };
        if let Ok(mut guard) = self.current.write() {
            *guard = (next.clone(), Instant::now());
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ports::fakes::FakeDocument;

    #[tokio::test]
    async fn a_valid_new_document_takes_effect_and_an_invalid_one_is_refused() {
        let first = Arc::new(Config::from_json(r#"{"triggers": []}"#).unwrap());
        let source = Arc::new(FakeDocument::new(
            r#"{"triggers": [{"name": "t", "pipeline": "p", "git": {"repository": "a/b"}}]}"#,
        ));
        let live = LiveConfig::refreshed(first, source.clone(), Duration::ZERO);
        assert_eq!(live.get().await.triggers.len(), 1, "refreshed");
        source.set("{ not json");
        assert_eq!(live.get().await.triggers.len(), 1, "the last valid one keeps serving");
        let checked = LiveConfig::refreshed(Arc::new(Config::from_json("{}").unwrap()), source.clone(), Duration::ZERO)
            .with_check(|c| if c.triggers.is_empty() { Ok(()) } else { Err("no triggers here".into()) });
        source.set(r#"{"triggers": [{"name": "t", "pipeline": "p", "git": {"repository": "a/b"}}]}"#);
        assert!(checked.get().await.triggers.is_empty(), "a document the function cannot serve is refused");
        let fixed = LiveConfig::from(Arc::new(Config::from_json("{}").unwrap()));
        assert!(fixed.get().await.triggers.is_empty());
    }
}
