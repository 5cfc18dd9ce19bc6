//! The source actions S3 triggers pin, read with `GetPipeline` and cached per instance for
//! [`SOURCE_TTL`]: a pipeline's definition changes rarely, writes come in bursts.

use crate::ports::{AwsError, PipelineDefinitions, SourceAction};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a source action read from `GetPipeline` is trusted.
pub const SOURCE_TTL: Duration = Duration::from_secs(300);

type Entry = (Instant, Option<SourceAction>);

/// Source actions by (pipeline, action), read through [`PipelineDefinitions`] and cached.
pub struct SourceActions {
    definitions: Arc<dyn PipelineDefinitions>,
    cache: Mutex<HashMap<(String, String), Entry>>,
}

impl SourceActions {
    pub fn new(definitions: Arc<dyn PipelineDefinitions>) -> Self {
        Self { definitions, cache: Mutex::new(HashMap::new()) }
    }

    /// The action `action` of `pipeline` (`None`: no action of that name).
    pub async fn get(&self, pipeline: &str, action: &str) -> Result<Option<SourceAction>, AwsError> {
        let key = (pipeline.to_owned(), action.to_owned());
        if let Some((at, found)) = self.cache.lock().await.get(&key) {
            if at.elapsed() < SOURCE_TTL {
                return Ok(found.clone());
            }
        }
        let found = self.definitions.source_action(pipeline, action).await?;
        self.cache.lock().await.insert(key, (Instant::now(), found.clone()));
        Ok(found)
    }
}
