//! SNS adapter: `Publish` for [`AlertPublisher`].

use super::classify;
use crate::ports::{AlertPublisher, AwsError, BoxFuture, SnsMessage};
use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sns::Client;

/// Publishes alerts with `MessageStructure: json` and string message attributes.
#[derive(Clone, Debug)]
pub struct SnsPublisher {
    client: Client,
}

impl SnsPublisher {
    pub fn new(client: Client) -> Self {
        Self { client }
    }
}

impl AlertPublisher for SnsPublisher {
    fn publish<'a>(&'a self, message: &'a SnsMessage) -> BoxFuture<'a, Result<String, AwsError>> {
        Box::pin(async move {
            let mut request = self
                .client
                .publish()
                .topic_arn(&message.topic_arn)
                .subject(&message.subject)
                .message_structure("json")
                .message(&message.message);
            for (name, value) in &message.attributes {
                let value = MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(value)
                    .build()
                    .map_err(|e| AwsError::Permanent(format!("Publish: {e}")))?;
                request = request.message_attributes(*name, value);
            }
            let out = request.send().await.map_err(|e| classify("Publish", e))?;
            Ok(out.message_id.unwrap_or_default())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::mock_client;
    use aws_sdk_sns::operation::publish::{PublishError, PublishOutput};
    use aws_smithy_mocks::{mock, RuleMode};
    use aws_smithy_types::error::ErrorMetadata;

    fn message() -> SnsMessage {
        SnsMessage {
            topic_arn: "arn:aws:sns:us-east-1:111122223333:alerts".into(),
            subject: "FAILED: prod-api (exec 3f2a9c1e)".into(),
            message: r#"{"default":"text"}"#.into(),
            attributes: vec![("pipeline", "prod-api".into()), ("state", "FAILED".into())],
        }
    }

    #[tokio::test]
    async fn publishes_a_json_structured_message_with_attributes() {
        let rule = mock!(Client::publish)
            .match_requests(|r| {
                r.topic_arn() == Some("arn:aws:sns:us-east-1:111122223333:alerts")
                    && r.message_structure() == Some("json")
                    && r.subject() == Some("FAILED: prod-api (exec 3f2a9c1e)")
                    && r.message_attributes().and_then(|a| a.get("state")).and_then(|v| v.string_value())
                        == Some("FAILED")
                    && r.message_attributes().and_then(|a| a.get("pipeline")).map(|v| v.data_type()) == Some("String")
            })
            .then_output(|| PublishOutput::builder().message_id("m-1").build());
        let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, &[&rule]);
        assert_eq!(SnsPublisher::new(client).publish(&message()).await, Ok("m-1".into()));
        assert_eq!(rule.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_throttled_publish_is_transient() {
        let rule = mock!(Client::publish).then_error(|| {
            PublishError::generic(ErrorMetadata::builder().code("Throttling").message("Rate exceeded").build())
        });
        let client = mock_client!(aws_sdk_sns, RuleMode::Sequential, &[&rule], |c| c
            .retry_config(aws_smithy_types::retry::RetryConfig::disabled()));
        let e = SnsPublisher::new(client).publish(&message()).await.unwrap_err();
        assert!(e.is_transient(), "{e:?}");
    }
}
