//! Copies ClamAV's databases between a directory and an S3 prefix, for the scan Lambda's container:
//!
//!   definitions pull s3://bucket/clamav/ /tmp/clamav/db   (the entrypoint, before it starts clamd)
//!   definitions push /tmp/clamav/db s3://bucket/clamav/   (the scheduled refresh, after freshclam)
//!
//! AWS configuration comes from the usual environment; exit status 2 is a usage error, 1 a failed copy.
use std::path::Path;
use std::process::ExitCode;

use aws_config::BehaviorVersion;
use lambdas::aws::definitions::{pull, push, DefinitionsError, DefinitionsLocation};
use lambdas::aws::s3_client;

const USAGE: &str = "usage: definitions pull s3://BUCKET/PREFIX/ DIR | definitions push DIR s3://BUCKET/PREFIX/";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (pulling, dir, location) = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["pull", location, dir] => (true, dir, location),
        ["push", dir, location] => (false, dir, location),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match copy(pulling, Path::new(dir), location).await {
        Ok(names) => {
            let direction = if pulling { "pulled" } else { "pushed" };
            println!("definitions: {direction} {} file(s): {}", names.len(), names.join(" "));
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("definitions: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn copy(pulling: bool, dir: &Path, location: &str) -> Result<Vec<String>, DefinitionsError> {
    let location = DefinitionsLocation::parse(location)?;
    let s3 = s3_client(&aws_config::load_defaults(BehaviorVersion::latest()).await);
    if pulling {
        pull(&s3, &location, dir).await
    } else {
        push(&s3, dir, &location).await
    }
}
