//! Running start plans: exactly-once claims, concurrent bounded starts, and the result of each.
//! Shared by the Git and S3 entry points.

use crate::once::{once, Once};
use crate::ports::{BoxFuture, BusEvent, DedupStore, EventPublisher, PipelineStarter};
use crate::trigger::StartPlan;
use futures_util::stream::{self, StreamExt};
use std::sync::Arc;

/// How many starts of one delivery run at once: twenty triggers finish in a few round trips.
pub const START_CONCURRENCY: usize = 8;

/// What became of one plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartResult {
    /// Started now, or earlier for the same token (`duplicate`); in dry-run mode no id.
    Started { execution_id: Option<String>, duplicate: bool },
    /// Not started; `transient` failures are worth a retry (503 / invocation error).
    Failed { error: String, transient: bool },
}

/// Starts plans through the ports, once per token.
#[derive(Clone)]
pub struct StartRunner {
    starter: Arc<dyn PipelineStarter>,
    dedup: Option<Arc<dyn DedupStore>>,
    dry_run: bool,
}

impl StartRunner {
    pub fn new(starter: Arc<dyn PipelineStarter>, dedup: Option<Arc<dyn DedupStore>>, dry_run: bool) -> Self {
        Self { starter, dedup, dry_run }
    }

    pub fn dry_run(&self) -> bool {
        self.dry_run
    }

    /// Runs every plan, at most [`START_CONCURRENCY`] at a time; results in plan order.
    pub async fn run_all(&self, plans: &[&StartPlan], now: i64) -> Vec<StartResult> {
        // Boxed so the stream's type does not carry a higher-ranked closure (keeps it `Send`).
        let runs: Vec<BoxFuture<'_, StartResult>> =
            plans.iter().map(|plan| Box::pin(self.run(plan, now)) as BoxFuture<'_, _>).collect();
        stream::iter(runs).buffered(START_CONCURRENCY).collect().await
    }

    /// Runs one plan.
    pub async fn run(&self, plan: &StartPlan, now: i64) -> StartResult {
        if self.dry_run {
            return StartResult::Started { execution_id: None, duplicate: false };
        }
        let key = format!("start#{}", plan.client_request_token);
        // The execution may have started even when its record fails: the token still keeps
        // CodePipeline from a second one.
        match once(self.dedup.as_deref(), &key, now, self.starter.start(plan)).await {
            Ok(Once::Done(id)) => StartResult::Started { execution_id: Some(id), duplicate: false },
            Ok(Once::Recorded(id)) => StartResult::Started { execution_id: Some(id), duplicate: true },
            Ok(Once::InProgress) => StartResult::Started { execution_id: None, duplicate: true },
            Err(e) => StartResult::Failed { transient: e.is_transient(), error: e.to_string() },
        }
    }
}

/// Current Unix time in seconds.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or_default()
}

/// `object` with the fields of `more` added (both JSON objects): a decision's summary entry or
/// event grows its outcome's fields.
pub fn with_fields(mut object: serde_json::Value, more: serde_json::Value) -> serde_json::Value {
    if let (Some(fields), serde_json::Value::Object(more)) = (object.as_object_mut(), more) {
        fields.extend(more);
    }
    object
}

/// Publishes decision events (none in dry-run mode); a failure is logged and never fails the
/// caller (SPEC §3.6).
pub async fn publish_decisions(bus: Option<&Arc<dyn EventPublisher>>, dry_run: bool, events: &[BusEvent]) {
    let Some(bus) = bus else { return };
    if dry_run || events.is_empty() {
        return;
    }
    if let Err(e) = bus.publish(events).await {
        tracing::error!(error = %e, "could not publish decision events");
    }
}

#[cfg(test)]
pub(crate) mod fakes {
    //! In-memory ports for tests.
    use super::*;
    use crate::ports::{AwsError, Claim};
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Records every start; fails pipelines named in `fail`.
    #[derive(Default)]
    pub struct FakeStarter {
        pub started: Mutex<Vec<StartPlan>>,
        pub fail: HashMap<String, AwsError>,
    }

    impl PipelineStarter for FakeStarter {
        fn start<'a>(&'a self, plan: &'a StartPlan) -> BoxFuture<'a, Result<String, AwsError>> {
            Box::pin(async move {
                if let Some(e) = self.fail.get(&plan.pipeline) {
                    return Err(e.clone());
                }
                let mut started = self.started.lock().unwrap();
                started.push(plan.clone());
                Ok(format!("exec-{}", started.len()))
            })
        }
    }

    #[derive(Default)]
    pub struct FakeDedup {
        pub records: Mutex<HashMap<String, Option<String>>>,
    }

    impl DedupStore for FakeDedup {
        fn claim<'a>(&'a self, key: &'a str, _now: i64) -> BoxFuture<'a, Result<Claim, AwsError>> {
            Box::pin(async move {
                let mut records = self.records.lock().unwrap();
                Ok(match records.get(key) {
                    Some(Some(id)) => Claim::Completed(id.clone()),
                    Some(None) => Claim::InProgress,
                    None => {
                        records.insert(key.to_owned(), None);
                        Claim::Claimed
                    }
                })
            })
        }
        fn complete<'a>(&'a self, key: &'a str, value: &'a str, _now: i64) -> BoxFuture<'a, Result<(), AwsError>> {
            Box::pin(async move {
                self.records.lock().unwrap().insert(key.to_owned(), Some(value.to_owned()));
                Ok(())
            })
        }
        fn release<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<(), AwsError>> {
            Box::pin(async move {
                self.records.lock().unwrap().remove(key);
                Ok(())
            })
        }
    }

    #[derive(Default)]
    pub struct FakeBus {
        pub events: Mutex<Vec<BusEvent>>,
        pub fail: bool,
    }

    impl EventPublisher for FakeBus {
        fn publish<'a>(&'a self, events: &'a [BusEvent]) -> BoxFuture<'a, Result<(), AwsError>> {
            Box::pin(async move {
                if self.fail {
                    return Err(AwsError::Transient("bus down".into()));
                }
                self.events.lock().unwrap().extend_from_slice(events);
                Ok(())
            })
        }
    }
}
