//! Secrets Manager adapter: the webhook secret for [`SecretSource`].

use super::classify;
use crate::ports::{AwsError, BoxFuture, SecretSource};
use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueError;
use aws_sdk_secretsmanager::Client;

#[derive(Clone, Debug)]
pub struct SecretsManagerSource {
    client: Client,
    secret_id: String,
}

impl SecretsManagerSource {
    pub fn new(client: Client, secret_id: impl Into<String>) -> Self {
        Self { client, secret_id: secret_id.into() }
    }
}

impl SecretSource for SecretsManagerSource {
    fn load(&self) -> BoxFuture<'_, Result<Option<String>, AwsError>> {
        Box::pin(async move {
            match self.client.get_secret_value().secret_id(&self.secret_id).send().await {
                Ok(out) => Ok(out.secret_string),
                // A deleted secret is a missing secret: fail closed (401), not 503 forever.
                Err(e) if matches!(e.as_service_error(), Some(GetSecretValueError::ResourceNotFoundException(_))) => {
                    tracing::error!(secret = %self.secret_id, "webhook secret not found; every request will be rejected");
                    Ok(None)
                }
                Err(e) => Err(classify("GetSecretValue", e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::mock_client;
    use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
    use aws_sdk_secretsmanager::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{mock, RuleMode};

    #[tokio::test]
    async fn reads_the_secret_string_and_treats_missing_as_none() {
        let found = mock!(Client::get_secret_value)
            .match_requests(|r| r.secret_id() == Some("arn:secret"))
            .then_output(|| GetSecretValueOutput::builder().secret_string("s3cret").build());
        let missing = mock!(Client::get_secret_value).then_error(|| {
            GetSecretValueError::ResourceNotFoundException(ResourceNotFoundException::builder().build())
        });
        let client = mock_client!(aws_sdk_secretsmanager, RuleMode::Sequential, &[&found, &missing]);
        let source = SecretsManagerSource::new(client, "arn:secret");
        assert_eq!(source.load().await, Ok(Some("s3cret".into())));
        assert_eq!(source.load().await, Ok(None));
    }
}
