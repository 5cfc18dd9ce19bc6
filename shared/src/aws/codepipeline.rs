//! CodePipeline adapter: `StartPipelineExecution` for [`PipelineStarter`]; `GetPipelineExecution`,
//! `ListActionExecutions` and `ListPipelineExecutions` for [`PipelineHistory`]; `GetPipelineState`,
//! `RetryStageExecution`, `StopPipelineExecution` and `PutApprovalResult` for [`PipelineControl`].

use super::classify;
use crate::ports::{
    ActionDefinition, ActionRun, ApprovalAnswer, ArtifactRevision, AwsError, BoxFuture, ExecutionDetails,
    ExecutionSummary, ExecutionTrigger, PipelineControl, PipelineDefinition, PipelineDefinitions, PipelineHistory,
    PipelineStarter, Retried, SourceAction, StageState, StartPlan, StopAnswer, StopRequest,
};
use aws_sdk_codepipeline::operation::retry_stage_execution::RetryStageExecutionError;
use aws_sdk_codepipeline::operation::stop_pipeline_execution::StopPipelineExecutionError;
use aws_sdk_codepipeline::types::{
    ActionExecutionFilter, PipelineDeclaration, PipelineVariable, SourceRevisionOverride, SourceRevisionType,
};
use aws_sdk_codepipeline::Client;

/// `StopPipelineExecution`'s `reason` limit (API reference: `StopPipelineExecutionReason`).
const STOP_REASON_CHARS: usize = 200;

/// Starts executions with the plan's token, source revision and variables.
#[derive(Clone, Debug)]
pub struct CodePipelineStarter {
    client: Client,
}

impl CodePipelineStarter {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl PipelineStarter for CodePipelineStarter {
    fn start<'a>(&'a self, plan: &'a StartPlan) -> BoxFuture<'a, Result<String, AwsError>> {
        Box::pin(async move {
            let invalid = |e: aws_sdk_codepipeline::error::BuildError| {
                AwsError::Permanent(format!("StartPipelineExecution: {e}"))
            };
            let mut request = self
                .client
                .start_pipeline_execution()
                .name(&plan.pipeline)
                .client_request_token(&plan.client_request_token);
            for (name, value) in &plan.variables {
                request =
                    request.variables(PipelineVariable::builder().name(name).value(value).build().map_err(invalid)?);
            }
            for revision in &plan.source_revisions {
                request = request.source_revisions(
                    SourceRevisionOverride::builder()
                        .action_name(&revision.action_name)
                        .revision_type(SourceRevisionType::from(revision.revision_type.as_str()))
                        .revision_value(&revision.revision_value)
                        .build()
                        .map_err(invalid)?,
                );
            }
            let output = request.send().await.map_err(|e| classify("StartPipelineExecution", e))?;
            output
                .pipeline_execution_id
                .ok_or_else(|| AwsError::Transient("StartPipelineExecution answered without an execution id".into()))
        })
    }
}

/// Acts on executions for commands from pull requests.
#[derive(Clone, Debug)]
pub struct CodePipelineControl {
    client: Client,
}

impl CodePipelineControl {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// CodePipeline's approval summary limit (characters).
pub const APPROVAL_SUMMARY_CHARS: usize = 512;

impl PipelineControl for CodePipelineControl {
    fn state<'a>(&'a self, pipeline: &'a str) -> BoxFuture<'a, Result<Vec<StageState>, AwsError>> {
        Box::pin(async move {
            let out = self
                .client
                .get_pipeline_state()
                .name(pipeline)
                .send()
                .await
                .map_err(|e| classify("GetPipelineState", e))?;
            Ok(out
                .stage_states()
                .iter()
                .map(|stage| StageState {
                    stage: stage.stage_name().unwrap_or_default().to_owned(),
                    execution_id: stage.latest_execution().map(|e| e.pipeline_execution_id().to_owned()),
                    status: stage.latest_execution().map(|e| e.status().as_str().to_owned()),
                    approvals: stage
                        .action_states()
                        .iter()
                        .filter_map(|action| {
                            let latest = action.latest_execution()?;
                            let waiting = latest.status()
                                == Some(&aws_sdk_codepipeline::types::ActionExecutionStatus::InProgress);
                            let token = latest.token().filter(|_| waiting)?;
                            Some((action.action_name()?.to_owned(), token.to_owned()))
                        })
                        .collect(),
                })
                .collect())
        })
    }

    fn retry_stage<'a>(
        &'a self,
        pipeline: &'a str,
        stage: &'a str,
        execution_id: &'a str,
    ) -> BoxFuture<'a, Result<Retried, AwsError>> {
        Box::pin(async move {
            let sent = self
                .client
                .retry_stage_execution()
                .pipeline_name(pipeline)
                .stage_name(stage)
                .pipeline_execution_id(execution_id)
                .retry_mode(aws_sdk_codepipeline::types::StageRetryMode::FailedActions)
                .send()
                .await;
            match sent {
                Ok(out) => Ok(Retried::Retrying(out.pipeline_execution_id().unwrap_or(execution_id).to_owned())),
                Err(e) => match e.as_service_error() {
                    Some(
                        refused @ (RetryStageExecutionError::NotLatestPipelineExecutionException(_)
                        | RetryStageExecutionError::StageNotRetryableException(_)),
                    ) => Ok(Retried::NotRetryable(refused.to_string())),
                    _ => Err(classify("RetryStageExecution", e)),
                },
            }
        })
    }

    fn stop<'a>(&'a self, stop: &'a StopRequest) -> BoxFuture<'a, Result<StopAnswer, AwsError>> {
        Box::pin(async move {
            let sent = self
                .client
                .stop_pipeline_execution()
                .pipeline_name(&stop.pipeline)
                .pipeline_execution_id(&stop.execution_id)
                .abandon(stop.abandon)
                .reason(crate::template::truncate_chars(&stop.reason, STOP_REASON_CHARS))
                .send()
                .await;
            match sent {
                Ok(_) => Ok(StopAnswer::Stopping),
                Err(e) => match e.as_service_error() {
                    Some(StopPipelineExecutionError::PipelineExecutionNotStoppableException(_)) => {
                        Ok(StopAnswer::AlreadyEnded)
                    }
                    Some(StopPipelineExecutionError::DuplicatedStopRequestException(_)) => {
                        Ok(StopAnswer::AlreadyStopping)
                    }
                    _ => Err(classify("StopPipelineExecution", e)),
                },
            }
        })
    }

    fn answer_approval<'a>(&'a self, approval: &'a ApprovalAnswer) -> BoxFuture<'a, Result<(), AwsError>> {
        Box::pin(async move {
            use aws_sdk_codepipeline::types::{ApprovalResult, ApprovalStatus};
            let status = if approval.approved { ApprovalStatus::Approved } else { ApprovalStatus::Rejected };
            let result = ApprovalResult::builder()
                .summary(crate::template::truncate_chars(&approval.summary, APPROVAL_SUMMARY_CHARS))
                .status(status)
                .build()
                .map_err(|e| AwsError::Permanent(format!("PutApprovalResult: {e}")))?;
            self.client
                .put_approval_result()
                .pipeline_name(&approval.pipeline)
                .stage_name(&approval.stage)
                .action_name(&approval.action)
                .token(&approval.token)
                .result(result)
                .send()
                .await
                .map_err(|e| classify("PutApprovalResult", e))?;
            Ok(())
        })
    }
}

/// Reads source actions from pipeline definitions (`GetPipeline`).
#[derive(Clone, Debug)]
pub struct CodePipelineDefinitions {
    client: Client,
}

impl CodePipelineDefinitions {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl PipelineDefinitions for CodePipelineDefinitions {
    fn source_action<'a>(
        &'a self,
        pipeline: &'a str,
        action: &'a str,
    ) -> BoxFuture<'a, Result<Option<SourceAction>, AwsError>> {
        Box::pin(async move {
            let out = self.client.get_pipeline().name(pipeline).send().await.map_err(|e| classify("GetPipeline", e))?;
            let found =
                out.pipeline.as_ref().map(definition).and_then(|d| d.actions.into_iter().find(|a| a.name == action));
            Ok(found.as_ref().map(SourceAction::from_action))
        })
    }
}

/// A `GetPipeline` declaration in Herald's terms (also `herald doctor`'s, `aws::inspect`).
pub(crate) fn definition(declaration: &PipelineDeclaration) -> PipelineDefinition {
    let actions = declaration
        .stages()
        .iter()
        .flat_map(|stage| {
            stage.actions().iter().map(|a| ActionDefinition {
                stage: stage.name().to_owned(),
                name: a.name().to_owned(),
                category: a.action_type_id().map(|t| t.category().as_str().to_owned()).unwrap_or_default(),
                provider: a.action_type_id().map(|t| t.provider().to_owned()).unwrap_or_default(),
                configuration: a.configuration().cloned().unwrap_or_default().into_iter().collect(),
            })
        })
        .collect();
    PipelineDefinition {
        name: declaration.name().to_owned(),
        pipeline_type: declaration.pipeline_type().map(|t| t.as_str().to_owned()).unwrap_or_else(|| "V1".into()),
        variables: declaration.variables().iter().map(|v| v.name().to_owned()).collect(),
        triggers: declaration.triggers().len(),
        actions,
        execution_mode: declaration.execution_mode().map_or_else(|| "SUPERSEDED".into(), |m| m.as_str().to_owned()),
    }
}

/// Reads executions for alert enrichment.
#[derive(Clone, Debug)]
pub struct CodePipelineHistory {
    client: Client,
}

impl CodePipelineHistory {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

/// How many action runs of one execution are read (one page).
const ACTION_RUNS_PAGE: i32 = 100;

impl PipelineHistory for CodePipelineHistory {
    fn execution<'a>(
        &'a self,
        pipeline: &'a str,
        execution_id: &'a str,
    ) -> BoxFuture<'a, Result<ExecutionDetails, AwsError>> {
        Box::pin(async move {
            let out = self
                .client
                .get_pipeline_execution()
                .pipeline_name(pipeline)
                .pipeline_execution_id(execution_id)
                .send()
                .await
                .map_err(|e| classify("GetPipelineExecution", e))?;
            let Some(execution) = out.pipeline_execution else { return Ok(ExecutionDetails::default()) };
            Ok(ExecutionDetails {
                revisions: execution
                    .artifact_revisions
                    .unwrap_or_default()
                    .into_iter()
                    .map(|r| ArtifactRevision {
                        revision_id: r.revision_id,
                        summary: r.revision_summary,
                        url: r.revision_url,
                    })
                    .collect(),
                trigger: execution.trigger.and_then(|t| {
                    Some(ExecutionTrigger {
                        trigger_type: t.trigger_type?.as_str().to_owned(),
                        detail: t.trigger_detail.filter(|d| !d.is_empty()),
                    })
                }),
                status_summary: execution.status_summary.filter(|s| !s.is_empty()),
                status: execution.status.map(|s| s.as_str().to_owned()),
            })
        })
    }

    fn action_runs<'a>(
        &'a self,
        pipeline: &'a str,
        execution_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ActionRun>, AwsError>> {
        Box::pin(async move {
            let out = self
                .client
                .list_action_executions()
                .pipeline_name(pipeline)
                .filter(ActionExecutionFilter::builder().pipeline_execution_id(execution_id).build())
                .max_results(ACTION_RUNS_PAGE)
                .send()
                .await
                .map_err(|e| classify("ListActionExecutions", e))?;
            Ok(out
                .action_execution_details
                .unwrap_or_default()
                .into_iter()
                .map(|d| {
                    let result = d.output.and_then(|o| o.execution_result);
                    let (error_message, external_summary, external_url) = match result {
                        Some(r) => (
                            r.error_details.and_then(|e| e.message).filter(|m| !m.is_empty()),
                            r.external_execution_summary.filter(|s| !s.is_empty()),
                            r.external_execution_url,
                        ),
                        None => (None, None, None),
                    };
                    ActionRun {
                        stage: d.stage_name.unwrap_or_default(),
                        action: d.action_name.unwrap_or_default(),
                        status: d.status.map(|s| s.as_str().to_owned()).unwrap_or_default(),
                        error_message,
                        external_summary,
                        external_url,
                        last_update: d.last_update_time.map(|t| t.secs()),
                    }
                })
                .collect())
        })
    }

    fn recent_executions<'a>(
        &'a self,
        pipeline: &'a str,
        depth: i32,
    ) -> BoxFuture<'a, Result<Vec<ExecutionSummary>, AwsError>> {
        Box::pin(async move {
            let out = self
                .client
                .list_pipeline_executions()
                .pipeline_name(pipeline)
                .max_results(depth)
                .send()
                .await
                .map_err(|e| classify("ListPipelineExecutions", e))?;
            Ok(out
                .pipeline_execution_summaries
                .unwrap_or_default()
                .into_iter()
                .filter_map(|s| {
                    Some(ExecutionSummary {
                        execution_id: s.pipeline_execution_id?,
                        status: s.status.map(|st| st.as_str().to_owned()).unwrap_or_default(),
                        start: s.start_time.map(|t| t.secs()),
                        last_update: s.last_update_time.map(|t| t.secs()),
                    })
                })
                .collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::mock_client;
    use crate::ports::{RevisionType, SourceRevision};
    use aws_sdk_codepipeline::operation::start_pipeline_execution::{
        StartPipelineExecutionError, StartPipelineExecutionOutput,
    };
    use aws_sdk_codepipeline::types::error::{ConflictException, PipelineNotFoundException};
    use aws_smithy_mocks::{mock, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn plan() -> StartPlan {
        StartPlan {
            pipeline: "app-pipeline".into(),
            client_request_token: "a".repeat(64),
            source_revisions: vec![SourceRevision {
                action_name: "Source".into(),
                revision_type: RevisionType::CommitId,
                revision_value: "0123456789abcdef0123456789abcdef01234567".into(),
            }],
            variables: vec![("BRANCH".into(), "main".into()), ("COMMIT_ID".into(), "0123456".into())],
            notes: vec![],
            change_token: None,
            group: None,
        }
    }

    #[tokio::test]
    async fn sends_token_revision_and_variables() {
        let rule = mock!(Client::start_pipeline_execution)
            .match_requests(|r| {
                let revision = &r.source_revisions()[0];
                r.name() == Some("app-pipeline")
                    && r.client_request_token() == Some("a".repeat(64).as_str())
                    && revision.action_name() == "Source"
                    && revision.revision_type() == &SourceRevisionType::CommitId
                    && revision.revision_value() == "0123456789abcdef0123456789abcdef01234567"
                    && r.variables().len() == 2
                    && r.variables()[0].name() == "BRANCH"
                    && r.variables()[0].value() == "main"
                    && r.variables()[1].name() == "COMMIT_ID"
            })
            .then_output(|| StartPipelineExecutionOutput::builder().pipeline_execution_id("exec-1").build());
        let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&rule]);
        assert_eq!(CodePipelineStarter::new(client).start(&plan()).await, Ok("exec-1".into()));
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn no_source_action_sends_no_revision() {
        let rule = mock!(Client::start_pipeline_execution)
            .match_requests(|r| r.source_revisions().is_empty())
            .then_output(|| StartPipelineExecutionOutput::builder().pipeline_execution_id("exec-2").build());
        let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&rule]);
        let mut p = plan();
        p.source_revisions.clear();
        assert_eq!(CodePipelineStarter::new(client).start(&p).await, Ok("exec-2".into()));
    }

    #[tokio::test]
    async fn errors_are_classified() {
        let not_found = mock!(Client::start_pipeline_execution).then_error(|| {
            StartPipelineExecutionError::PipelineNotFoundException(
                PipelineNotFoundException::builder()
                    .message("no such pipeline")
                    .meta(ErrorMetadata::builder().code("PipelineNotFoundException").build())
                    .build(),
            )
        });
        let conflict = mock!(Client::start_pipeline_execution).then_error(|| {
            StartPipelineExecutionError::ConflictException(
                ConflictException::builder()
                    .message("busy")
                    .meta(ErrorMetadata::builder().code("ConflictException").build())
                    .build(),
            )
        });
        let throttled = mock!(Client::start_pipeline_execution).then_error(|| {
            StartPipelineExecutionError::generic(
                ErrorMetadata::builder().code("ThrottlingException").message("Rate exceeded").build(),
            )
        });
        let unavailable = mock!(Client::start_pipeline_execution).then_http_response(|| {
            aws_smithy_runtime_api::http::Response::new(
                aws_smithy_runtime_api::http::StatusCode::try_from(503).unwrap(),
                aws_smithy_types::body::SdkBody::from(r#"{"__type":"ServiceUnavailableException"}"#),
            )
        });
        let client = mock_client!(
            aws_sdk_codepipeline,
            RuleMode::Sequential,
            &[&not_found, &conflict, &throttled, &unavailable],
            |c| c.retry_config(aws_smithy_types::retry::RetryConfig::disabled())
        );
        let starter = CodePipelineStarter::new(client);
        let e = starter.start(&plan()).await.unwrap_err();
        assert!(matches!(&e, AwsError::Permanent(m) if m.contains("PipelineNotFoundException")), "{e:?}");
        let e = starter.start(&plan()).await.unwrap_err();
        assert!(matches!(&e, AwsError::Transient(m) if m.contains("ConflictException")), "{e:?}");
        let e = starter.start(&plan()).await.unwrap_err();
        assert!(matches!(&e, AwsError::Transient(m) if m.contains("ThrottlingException")), "{e:?}");
        let e = starter.start(&plan()).await.unwrap_err();
        assert!(e.is_transient(), "{e:?}");
    }

    mod history {
        use super::super::*;
        use crate::aws::mock_client;
        use aws_sdk_codepipeline::operation::get_pipeline_execution::GetPipelineExecutionOutput;
        use aws_sdk_codepipeline::operation::list_action_executions::{
            ListActionExecutionsError, ListActionExecutionsOutput,
        };
        use aws_sdk_codepipeline::operation::list_pipeline_executions::ListPipelineExecutionsOutput;
        use aws_sdk_codepipeline::types::{
            ActionExecutionDetail, ActionExecutionOutput, ActionExecutionResult, ActionExecutionStatus, ErrorDetails,
            ExecutionTrigger, PipelineExecution, PipelineExecutionStatus, PipelineExecutionSummary, TriggerType,
        };
        use aws_smithy_mocks::{mock, RuleMode};
        use aws_smithy_types::error::ErrorMetadata;
        use aws_smithy_types::DateTime;

        #[tokio::test]
        async fn get_pipeline_execution_reads_revisions_and_trigger() {
            let rule = mock!(Client::get_pipeline_execution)
                .match_requests(|r| r.pipeline_name() == Some("prod-api") && r.pipeline_execution_id() == Some("x1"))
                .then_output(|| {
                    GetPipelineExecutionOutput::builder()
                        .pipeline_execution(
                            PipelineExecution::builder()
                                .pipeline_execution_id("x1")
                                .status(PipelineExecutionStatus::Failed)
                                .status_summary("")
                                .artifact_revisions(
                                    aws_sdk_codepipeline::types::ArtifactRevision::builder()
                                        .name("SourceArtifact")
                                        .revision_id("9fceb02")
                                        .revision_summary(r#"{"ProviderType":"GitHub","CommitMessage":"Fix it"}"#)
                                        .revision_url("https://github.com/acme/api/commit/9fceb02")
                                        .build(),
                                )
                                .trigger(
                                    ExecutionTrigger::builder()
                                        .trigger_type(TriggerType::Webhook)
                                        .trigger_detail("acme/api")
                                        .build(),
                                )
                                .build(),
                        )
                        .build()
                });
            let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&rule]);
            let details = CodePipelineHistory::new(client).execution("prod-api", "x1").await.unwrap();
            assert_eq!(details.revisions.len(), 1);
            assert_eq!(details.revisions[0].revision_id.as_deref(), Some("9fceb02"));
            assert_eq!(details.revisions[0].url.as_deref(), Some("https://github.com/acme/api/commit/9fceb02"));
            let trigger = details.trigger.unwrap();
            assert_eq!((trigger.trigger_type.as_str(), trigger.detail.as_deref()), ("Webhook", Some("acme/api")));
            assert_eq!(details.status_summary, None, "empty summaries are no summaries");
        }

        #[tokio::test]
        async fn list_action_executions_filters_by_execution_and_reads_errors() {
            let detail = |action: &str, status: ActionExecutionStatus, error: Option<&str>| {
                let mut result = ActionExecutionResult::builder()
                    .external_execution_summary("Build terminated with state: FAILED")
                    .external_execution_url(format!("https://log/{action}"));
                if let Some(message) = error {
                    result = result.error_details(ErrorDetails::builder().code("JobFailed").message(message).build());
                }
                ActionExecutionDetail::builder()
                    .pipeline_execution_id("x1")
                    .stage_name("Build")
                    .action_name(action)
                    .status(status)
                    .last_update_time(DateTime::from_secs(1_800_000_000))
                    .output(ActionExecutionOutput::builder().execution_result(result.build()).build())
                    .build()
            };
            let rule = mock!(Client::list_action_executions)
                .match_requests(|r| {
                    r.pipeline_name() == Some("prod-api")
                        && r.filter().and_then(|f| f.pipeline_execution_id()) == Some("x1")
                        && r.max_results() == Some(100)
                })
                .then_output(move || {
                    ListActionExecutionsOutput::builder()
                        .action_execution_details(detail(
                            "Compile",
                            ActionExecutionStatus::Failed,
                            Some("exit status 2"),
                        ))
                        .action_execution_details(detail("Lint", ActionExecutionStatus::Succeeded, None))
                        .build()
                });
            let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&rule]);
            let runs = CodePipelineHistory::new(client).action_runs("prod-api", "x1").await.unwrap();
            assert_eq!(runs.len(), 2);
            assert_eq!(runs[0].status, "Failed");
            assert_eq!(runs[0].error_message.as_deref(), Some("exit status 2"));
            assert_eq!(runs[0].external_url.as_deref(), Some("https://log/Compile"));
            assert_eq!(runs[0].last_update, Some(1_800_000_000));
            assert_eq!(runs[1].error_message, None);
            assert_eq!(runs[1].external_summary.as_deref(), Some("Build terminated with state: FAILED"));
        }

        #[tokio::test]
        async fn list_pipeline_executions_reads_status_and_times() {
            let summary = |id: &str, status: PipelineExecutionStatus, start: i64| {
                PipelineExecutionSummary::builder()
                    .pipeline_execution_id(id)
                    .status(status)
                    .start_time(DateTime::from_secs(start))
                    .last_update_time(DateTime::from_secs(start + 300))
                    .build()
            };
            let rule = mock!(Client::list_pipeline_executions)
                .match_requests(|r| r.pipeline_name() == Some("prod-api") && r.max_results() == Some(25))
                .then_output(move || {
                    ListPipelineExecutionsOutput::builder()
                        .pipeline_execution_summaries(summary("x2", PipelineExecutionStatus::Succeeded, 2000))
                        .pipeline_execution_summaries(summary("x1", PipelineExecutionStatus::Failed, 1000))
                        .build()
                });
            let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&rule]);
            let list = CodePipelineHistory::new(client).recent_executions("prod-api", 25).await.unwrap();
            assert_eq!(list.len(), 2);
            assert_eq!((list[0].execution_id.as_str(), list[0].status.as_str()), ("x2", "Succeeded"));
            assert_eq!((list[1].start, list[1].last_update), (Some(1000), Some(1300)));
        }

        #[tokio::test]
        async fn failures_are_classified_for_the_caller_to_log() {
            let denied = mock!(Client::list_action_executions).then_error(|| {
                ListActionExecutionsError::generic(
                    ErrorMetadata::builder().code("AccessDeniedException").message("not allowed").build(),
                )
            });
            let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&denied]);
            let e = CodePipelineHistory::new(client).action_runs("prod-api", "x1").await.unwrap_err();
            assert!(e.to_string().starts_with("ListActionExecutions: AccessDeniedException"), "{e}");
        }
    }

    mod control {
        use super::super::*;
        use crate::aws::mock_client;
        use aws_sdk_codepipeline::operation::get_pipeline_state::GetPipelineStateOutput;
        use aws_sdk_codepipeline::operation::put_approval_result::PutApprovalResultOutput;
        use aws_sdk_codepipeline::operation::retry_stage_execution::RetryStageExecutionOutput;
        use aws_sdk_codepipeline::operation::stop_pipeline_execution::StopPipelineExecutionOutput;
        use aws_sdk_codepipeline::types::error::{
            DuplicatedStopRequestException, PipelineExecutionNotStoppableException, StageNotRetryableException,
        };
        use aws_sdk_codepipeline::types::{
            ActionExecution, ActionExecutionStatus, ActionState, ApprovalStatus, StageExecution, StageExecutionStatus,
            StageRetryMode, StageState as SdkStage,
        };
        use aws_smithy_mocks::{mock, RuleMode};

        #[tokio::test]
        async fn the_state_names_each_stage_s_execution_and_waiting_approvals() {
            let state =
                mock!(Client::get_pipeline_state).match_requests(|r| r.name() == Some("app")).then_output(|| {
                    let stage = |name: &str, status, actions: Vec<ActionState>| {
                        SdkStage::builder()
                            .stage_name(name)
                            .latest_execution(
                                StageExecution::builder().pipeline_execution_id("e-1").status(status).build().unwrap(),
                            )
                            .set_action_states(Some(actions))
                            .build()
                    };
                    let action = |name: &str, status, token: Option<&str>| {
                        ActionState::builder()
                            .action_name(name)
                            .latest_execution(
                                ActionExecution::builder().status(status).set_token(token.map(str::to_owned)).build(),
                            )
                            .build()
                    };
                    GetPipelineStateOutput::builder()
                        .stage_states(stage(
                            "Build",
                            StageExecutionStatus::Failed,
                            vec![action("Compile", ActionExecutionStatus::Failed, None)],
                        ))
                        .stage_states(stage(
                            "Release",
                            StageExecutionStatus::InProgress,
                            vec![
                                action("Gate", ActionExecutionStatus::InProgress, Some("tok-1")),
                                action("Old", ActionExecutionStatus::Succeeded, Some("tok-0")),
                            ],
                        ))
                        .build()
                });
            let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&state]);
            let stages = CodePipelineControl::new(client).state("app").await.unwrap();
            assert_eq!(stages[0].status.as_deref(), Some("Failed"));
            assert!(stages[0].approvals.is_empty());
            assert_eq!(stages[1].approvals, [("Gate".to_owned(), "tok-1".to_owned())], "only the one waiting");
            assert_eq!(stages[1].execution_id.as_deref(), Some("e-1"));
        }

        #[tokio::test]
        async fn a_retry_retries_failed_actions_and_a_refusal_says_to_start_again() {
            let retried = mock!(Client::retry_stage_execution)
                .match_requests(|r| {
                    r.retry_mode() == Some(&StageRetryMode::FailedActions)
                        && r.stage_name() == Some("Build")
                        && r.pipeline_execution_id() == Some("e-1")
                })
                .then_output(|| RetryStageExecutionOutput::builder().pipeline_execution_id("e-1").build());
            let refused = mock!(Client::retry_stage_execution).then_error(|| {
                RetryStageExecutionError::StageNotRetryableException(
                    StageNotRetryableException::builder().message("the stage is not retryable").build(),
                )
            });
            let client = mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, &[&retried, &refused]);
            let control = CodePipelineControl::new(client);
            assert_eq!(control.retry_stage("app", "Build", "e-1").await, Ok(Retried::Retrying("e-1".into())));
            let Ok(Retried::NotRetryable(why)) = control.retry_stage("app", "Build", "e-1").await else { panic!() };
            assert!(why.contains("not retryable"), "{why}");
        }

        #[tokio::test]
        async fn stop_lets_actions_finish_and_an_answer_names_its_status() {
            let stop = mock!(Client::stop_pipeline_execution)
                .match_requests(|r| r.abandon() == Some(false) && r.pipeline_execution_id() == Some("e-1"))
                .then_output(|| StopPipelineExecutionOutput::builder().pipeline_execution_id("e-1").build());
            let approve = mock!(Client::put_approval_result)
                .match_requests(|r| {
                    r.token() == Some("tok-1")
                        && r.result().is_some_and(|a| {
                            a.status() == &ApprovalStatus::Rejected
                                && a.summary().chars().count() == APPROVAL_SUMMARY_CHARS
                        })
                })
                .then_output(|| PutApprovalResultOutput::builder().build());
            let abandoned = mock!(Client::stop_pipeline_execution)
                .match_requests(|r| r.abandon() == Some(true) && r.reason().is_some_and(|s| s.chars().count() == 200))
                .then_output(|| StopPipelineExecutionOutput::builder().pipeline_execution_id("e-2").build());
            let ended = mock!(Client::stop_pipeline_execution).then_error(|| {
                StopPipelineExecutionError::PipelineExecutionNotStoppableException(
                    PipelineExecutionNotStoppableException::builder().message("already succeeded").build(),
                )
            });
            let stopping = mock!(Client::stop_pipeline_execution).then_error(|| {
                StopPipelineExecutionError::DuplicatedStopRequestException(
                    DuplicatedStopRequestException::builder().message("already stopping").build(),
                )
            });
            let client = mock_client!(
                aws_sdk_codepipeline,
                RuleMode::Sequential,
                &[&stop, &approve, &abandoned, &ended, &stopping]
            );
            let control = CodePipelineControl::new(client);
            let request = |id: &str, reason: String, abandon| StopRequest {
                pipeline: "app".into(),
                execution_id: id.into(),
                reason,
                abandon,
            };
            let first = request("e-1", "stopped by ann in acme/app #3".into(), false);
            assert_eq!(control.stop(&first).await, Ok(StopAnswer::Stopping));
            let answer = ApprovalAnswer {
                pipeline: "app".into(),
                stage: "Release".into(),
                action: "Gate".into(),
                token: "tok-1".into(),
                approved: false,
                summary: "x".repeat(600),
            };
            assert_eq!(control.answer_approval(&answer).await, Ok(()), "the summary is cut to CodePipeline's limit");
            let abandon = request("e-2", "r".repeat(300), true);
            assert_eq!(control.stop(&abandon).await, Ok(StopAnswer::Stopping), "abandons, the reason cut to 200");
            let finished = request("e-3", "superseded by abc1234 (herald)".into(), false);
            assert_eq!(control.stop(&finished).await, Ok(StopAnswer::AlreadyEnded), "not a failure");
            assert_eq!(control.stop(&finished).await, Ok(StopAnswer::AlreadyStopping), "not a failure");
        }
    }
}
