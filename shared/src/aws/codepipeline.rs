//! CodePipeline adapter: `StartPipelineExecution` for [`PipelineStarter`].

use super::classify;
use crate::ports::{AwsError, BoxFuture, PipelineStarter};
use crate::trigger::StartPlan;
use aws_sdk_codepipeline::types::{PipelineVariable, SourceRevisionOverride, SourceRevisionType};
use aws_sdk_codepipeline::Client;

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
            if let Some(revision) = &plan.source_revision {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::mock_client;
    use crate::trigger::{RevisionType, SourceRevision};
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
            source_revision: Some(SourceRevision {
                action_name: "Source".into(),
                revision_type: RevisionType::CommitId,
                revision_value: "0123456789abcdef0123456789abcdef01234567".into(),
            }),
            variables: vec![("BRANCH".into(), "main".into()), ("COMMIT_ID".into(), "0123456".into())],
            notes: vec![],
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
        p.source_revision = None;
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
}
