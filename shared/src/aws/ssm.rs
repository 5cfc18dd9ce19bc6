//! SSM Parameter Store adapter: the configuration document named by `HERALD_CONFIG_PARAMETER`.

use super::classify;
use crate::ports::{AwsError, BoxFuture, DocumentSource};
use aws_sdk_ssm::Client;

/// The parameter holding the configuration, read again on refresh.
pub struct SsmDocument {
    pub client: Client,
    pub name: String,
}

impl DocumentSource for SsmDocument {
    fn read(&self) -> BoxFuture<'_, Result<String, AwsError>> {
        Box::pin(read_parameter(&self.client, &self.name))
    }
}

/// Reads a (possibly SecureString) parameter's value.
pub async fn read_parameter(client: &Client, name: &str) -> Result<String, AwsError> {
    let out = client
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| classify("GetParameter", e))?;
    out.parameter
        .and_then(|p| p.value)
        .ok_or_else(|| AwsError::Permanent(format!("GetParameter: parameter {name} has no value")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::mock_client;
    use aws_sdk_ssm::operation::get_parameter::GetParameterOutput;
    use aws_sdk_ssm::types::Parameter;
    use aws_smithy_mocks::{mock, RuleMode};

    #[tokio::test]
    async fn reads_with_decryption() {
        let rule = mock!(Client::get_parameter)
            .match_requests(|r| r.name() == Some("/herald/config") && r.with_decryption() == Some(true))
            .then_output(|| GetParameterOutput::builder().parameter(Parameter::builder().value("{}").build()).build());
        let client = mock_client!(aws_sdk_ssm, RuleMode::Sequential, &[&rule]);
        assert_eq!(read_parameter(&client, "/herald/config").await, Ok("{}".into()));
    }
}
