//! `git-webhook`: Git servers' webhooks start CodePipeline pipelines.

use herald::{settings::Settings, startup};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    startup::init_logging();
    startup::log_cold_start("git-webhook");
    let settings = Settings::from_env().inspect_err(startup::log_fatal)?;
    let sdk = herald::aws::sdk_config(herald::aws::CallBudget::WEBHOOK).await;
    let config = startup::load_config(&settings, &sdk).await.inspect_err(startup::log_fatal)?;
    let service = startup::webhook_service(&settings, &sdk, config).inspect_err(startup::log_fatal)?;
    service.warm_up().await;
    herald::http::serve(service).await
}
