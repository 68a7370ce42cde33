//! One AWS SDK configuration for every client (SQS, SES, later S3 and DynamoDB), built from [`Config`].
//!
//! In AWS the default provider chain finds the credentials (IRSA web identity on EKS, the instance role, or the
//! usual environment variables). Against a local stand-in (`aws_endpoint_url`, e.g. a moto server) the endpoint is
//! overridden and, when the environment holds no keys, fixed dummy keys are used: such servers accept any key, and
//! looking for real ones would wait on the instance metadata service that a laptop does not have.
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sqs::config::Credentials;

use crate::Config;

/// The shared SDK configuration for `config`'s region and endpoint.
pub async fn sdk_config(config: &Config) -> SdkConfig {
    sdk_config_for(&config.aws_region, config.aws_endpoint_url.as_deref()).await
}

/// The shared SDK configuration for a region and an optional endpoint override.
pub async fn sdk_config_for(region: &str, endpoint_url: Option<&str>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(Region::new(region.to_owned()));
    if let Some(url) = endpoint_url {
        loader = loader.endpoint_url(url);
        if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
            loader = loader.credentials_provider(Credentials::new("local", "local", None, None, "taskforge-local"));
        }
    }
    loader.load().await
}
