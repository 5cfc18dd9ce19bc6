//! `redeliver`: on a schedule, asks the Git servers to send again the webhook deliveries that
//! failed there and that `git-webhook` did not process (docs/operations.md "Missed deliveries").

use herald::{settings::RedeliverSettings, startup};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    startup::init_logging();
    startup::log_cold_start("redeliver");
    let settings = RedeliverSettings::from_env().inspect_err(startup::log_fatal)?;
    let sdk = herald::aws::sdk_config(herald::aws::CallBudget::ASYNC).await;
    let service = Arc::new(startup::redelivery_service(&settings, &sdk).inspect_err(startup::log_fatal)?);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let service = service.clone();
        let now = herald::clock::unix_now();
        async move { startup::before_deadline(event.context.deadline, service.handle(now)).await }
    }))
    .await
}
