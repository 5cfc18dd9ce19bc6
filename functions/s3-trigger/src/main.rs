//! `s3-trigger`: S3 writes (CloudTrail, EventBridge "Object Created", S3 notifications) start
//! CodePipeline pipelines pinned to the object version.

use herald::{settings::Settings, startup};
use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use std::sync::Arc;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    startup::init_logging();
    startup::log_cold_start("s3-trigger");
    let settings = Settings::from_env().inspect_err(startup::log_fatal)?;
    let sdk = herald::aws::sdk_config(herald::aws::CallBudget::ASYNC).await;
    let config = startup::load_config(&settings, &sdk).await.inspect_err(startup::log_fatal)?;
    let service = Arc::new(startup::s3_trigger_service(&settings, &sdk, config));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let service = service.clone();
        async move { startup::before_deadline(event.context.deadline, service.handle(&event.payload)).await }
    }))
    .await
}
