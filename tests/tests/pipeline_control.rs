//! What commands from pull requests will do to executions, through Herald's CodePipeline adapter
//! against moto and the test shim's answers for the calls moto lacks (`GetPipelineState`,
//! `RetryStageExecution`, `StopPipelineExecution`, `PutApprovalResult`, answered as CodePipeline
//! documents them): a failed stage is found and retried, a refused retry says so, a waiting
//! approval is found with its token and answered, a running execution is stopped, and a stop of
//! one already stopping or ended is told apart (not a failure).

use herald::aws::{pipeline_control, sdk_config, CallBudget};
use herald::ports::{ApprovalAnswer, Retried, StopAnswer, StopRequest};
use herald_tests::moto::Moto;

#[tokio::test]
async fn failed_stages_are_retried_approvals_answered_and_executions_stopped() {
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", "app"]);
    // This binary holds this one test: the environment is its own.
    for (name, value) in moto.client_env() {
        std::env::set_var(name, value);
    }
    let control = pipeline_control(&sdk_config(CallBudget::ASYNC).await);
    let start = |controls: &[&str]| {
        let mut args = vec!["start-with", "app"];
        args.extend(controls);
        moto.ctl(&args)["execution_id"].as_str().unwrap().to_owned()
    };
    let status = |id: &str| moto.ctl(&["execution-status", "app", id])["status"].as_str().unwrap().to_owned();

    // A failed Build: the state names it, and a retry runs it again.
    let failed = start(&["MOTO_EXECUTION_STATUS=Failed", "MOTO_FAILED_ACTION=Build/Build"]);
    let stages = control.state("app").await.unwrap();
    let build = stages.iter().find(|s| s.stage == "Build").unwrap();
    assert_eq!((build.execution_id.as_deref(), build.status.as_deref()), (Some(failed.as_str()), Some("Failed")));
    assert_eq!(control.retry_stage("app", "Build", &failed).await, Ok(Retried::Retrying(failed.clone())));
    assert_eq!(status(&failed), "InProgress");

    // CodePipeline's refusal is told apart: the command falls back to a new start.
    let stuck = start(&["MOTO_EXECUTION_STATUS=Failed", "MOTO_FAILED_ACTION=Build/Build", "MOTO_NOT_RETRYABLE=1"]);
    let Ok(Retried::NotRetryable(why)) = control.retry_stage("app", "Build", &stuck).await else { panic!() };
    assert!(why.contains("no failed actions"), "{why}");

    // An approval waiting in Build: found with its token, answered once.
    let waiting = start(&["MOTO_WAITING_APPROVAL=Build/Build"]);
    let stages = control.state("app").await.unwrap();
    let build = stages.iter().find(|s| s.stage == "Build").unwrap();
    assert_eq!(build.approvals, [("Build".to_owned(), format!("token-{waiting}"))]);
    let answer = ApprovalAnswer {
        pipeline: "app".into(),
        stage: "Build".into(),
        action: "Build".into(),
        token: format!("token-{waiting}"),
        approved: true,
        summary: "approved by ann in acme/app #3: ship it".into(),
    };
    assert_eq!(control.answer_approval(&answer).await, Ok(()));
    assert!(control.state("app").await.unwrap().iter().all(|s| s.approvals.is_empty()), "no longer waiting");
    let wrong = ApprovalAnswer { token: "token-other".into(), ..answer };
    assert!(control.answer_approval(&wrong).await.is_err(), "a token that does not match is refused");

    // Stop, letting running actions finish.
    let stop = StopRequest {
        pipeline: "app".into(),
        execution_id: waiting.clone(),
        reason: "stopped by ann in acme/app #3".into(),
        abandon: false,
    };
    assert_eq!(control.stop(&stop).await, Ok(StopAnswer::Stopping));
    assert_eq!(status(&waiting), "Stopping");
    assert_eq!(control.stop(&stop).await, Ok(StopAnswer::AlreadyStopping), "DuplicatedStopRequestException");
    let succeeded = start(&["MOTO_EXECUTION_STATUS=Succeeded"]);
    let finished = StopRequest { execution_id: succeeded, ..stop };
    assert_eq!(control.stop(&finished).await, Ok(StopAnswer::AlreadyEnded), "PipelineExecutionNotStoppableException");
}
