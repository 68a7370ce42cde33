//! The scan Lambda's executable, named `bootstrap` as the `provided.al2023` runtime expects: it configures itself
//! from the environment, then serves invocations from the Lambda Runtime API (`AWS_LAMBDA_RUNTIME_API`) until the
//! execution environment is shut down.
//!
//! A configuration error ends the process before the first invocation is taken, with the reason on stderr and in
//! the log: Lambda reports that as an init failure (`Runtime.ExitError`) instead of running scans half-configured.
use lambda_runtime::{service_fn, LambdaEvent};
use lambdas::aws::{ScanEventError, ScanLambda, ScanSummary};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    init_logging();
    let lambda = match ScanLambda::from_env().await {
        Ok(lambda) => lambda,
        Err(e) => {
            tracing::error!(error = %e, "the scan Lambda cannot start");
            eprintln!("bootstrap: the scan Lambda cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let lambda = &lambda;
    let handler = service_fn(move |event: LambdaEvent<serde_json::Value>| async move {
        let result: Result<ScanSummary, ScanEventError> = lambda.handle_payload(event.payload).await;
        result
    });
    match lambda_runtime::run(handler).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "the Lambda runtime stopped");
            eprintln!("bootstrap: the Lambda runtime stopped: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// JSON lines on stdout, which Lambda forwards to CloudWatch Logs as they are (one event per line, fields
/// searchable with Logs Insights). `RUST_LOG` overrides the default level.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .with_span_list(false)
        .with_writer(std::io::stdout)
        .init();
}
