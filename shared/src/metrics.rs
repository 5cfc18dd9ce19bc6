//! CloudWatch Embedded Metric Format: one JSON line per count, printed to stdout, where the
//! Lambda log pipeline turns it into a metric without an API call.

use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Set by [`silence`]: no count is printed in this process.
static SILENT: AtomicBool = AtomicBool::new(false);

/// Stops every count of this process. The `herald` CLI calls it first: metrics belong to the
/// functions' logs, and its stdout is for people or for one JSON document.
pub fn silence() {
    SILENT.store(true, Ordering::Relaxed);
}

/// The CloudWatch namespace of every Herald metric.
pub const NAMESPACE: &str = "Herald";

/// Prints one EMF line counting `value` of `metric` with the given dimensions.
pub fn count(metric: &str, value: u64, dimensions: &[(&str, &str)]) {
    if SILENT.load(Ordering::Relaxed) {
        return;
    }
    println!("{}", emf_line(metric, value, dimensions, now_millis()));
}

fn now_millis() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis()).unwrap_or_default()
}

/// The EMF document for one count.
pub fn emf_line(metric: &str, value: u64, dimensions: &[(&str, &str)], timestamp_ms: u128) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms as u64,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                // With its dimensions, and without: alarms watch the total (they cannot search).
                "Dimensions": [dimensions.iter().map(|(k, _)| *k).collect::<Vec<_>>(), Vec::<&str>::new()],
                "Metrics": [{ "Name": metric, "Unit": "Count" }]
            }]
        }),
    );
    for (k, v) in dimensions {
        doc.insert((*k).into(), Value::String((*v).into()));
    }
    doc.insert(metric.into(), json!(value));
    Value::Object(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_shape() {
        let line = emf_line("Deliveries", 1, &[("provider", "github"), ("outcome", "processed")], 42);
        assert_eq!(line["_aws"]["Timestamp"], 42);
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Namespace"], "Herald");
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Dimensions"][0], json!(["provider", "outcome"]));
        assert_eq!(line["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"], "Deliveries");
        assert_eq!(line["provider"], "github");
        assert_eq!(line["Deliveries"], 1);
    }
}
