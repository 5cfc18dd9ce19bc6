//! `pipeline-notifier`: CodePipeline execution, stage and action state changes, approvals
//! waiting and CloudTrail-recorded pipeline changes become enriched SNS alerts.

use herald::{settings::Settings, startup};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    startup::init_logging();
    startup::log_cold_start("pipeline-notifier");
    let settings = Settings::from_env().inspect_err(startup::log_fatal)?;
    let sdk = herald::aws::sdk_config(herald::aws::CallBudget::ASYNC).await;
    let config = startup::load_config(&settings, &sdk).await.inspect_err(startup::log_fatal)?;
    let service = Arc::new(startup::notifier_service(&settings, &sdk, config).inspect_err(startup::log_fatal)?);
    service.warm_up().await;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let service = service.clone();
        async move { startup::before_deadline(event.context.deadline, service.handle(&event.payload)).await }
    }))
    .await
}
