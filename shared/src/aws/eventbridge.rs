//! EventBridge adapter: decision events for [`EventPublisher`] (docs/operations.md "Logs and metrics", decision events).

use super::classify;
use crate::ports::{AwsError, BoxFuture, BusEvent, EventPublisher};
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use aws_sdk_eventbridge::Client;

/// The `source` of every Herald event.
pub const SOURCE: &str = "herald";
/// `PutEvents` takes at most ten entries a call.
const BATCH: usize = 10;

#[derive(Clone, Debug)]
pub struct EventBridgePublisher {
    client: Client,
    bus: String,
}

impl EventBridgePublisher {
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self { client, bus: bus.into() }
    }
}

impl EventPublisher for EventBridgePublisher {
    fn publish<'a>(&'a self, events: &'a [BusEvent]) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            for batch in events.chunks(BATCH) {
                let entries = batch.iter().map(|e| {
                    PutEventsRequestEntry::builder()
                        .event_bus_name(&self.bus)
                        .source(SOURCE)
                        .detail_type(e.detail_type)
                        .detail(e.detail.to_string())
                        .build()
                });
                let out = self
                    .client
                    .put_events()
                    .set_entries(Some(entries.collect()))
                    .send()
                    .await
                    .map_err(|e| classify("PutEvents", e))?;
                if out.failed_entry_count > 0 {
                    return Err(AwsError::Transient(format!("PutEvents: {} entries failed", out.failed_entry_count)));
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::mock_client;
    use aws_sdk_eventbridge::operation::put_events::PutEventsOutput;
    use aws_smithy_mocks::{mock, RuleMode};

    #[tokio::test]
    async fn batches_by_ten_with_source_and_detail_type() {
        let rule = mock!(Client::put_events)
            .match_requests(|r| {
                r.entries().iter().all(|e| {
                    e.source() == Some("herald")
                        && e.event_bus_name() == Some("bus")
                        && e.detail_type() == Some("Pipeline Triggered")
                })
            })
            .then_output(|| PutEventsOutput::builder().failed_entry_count(0).build());
        let client = mock_client!(aws_sdk_eventbridge, RuleMode::MatchAny, &[&rule]);
        let events: Vec<_> = (0..12)
            .map(|i| BusEvent { detail_type: "Pipeline Triggered", detail: serde_json::json!({ "i": i }) })
            .collect();
        EventBridgePublisher::new(client, "bus").publish(&events).await.unwrap();
        assert_eq!(rule.num_calls(), 2);
    }
}
