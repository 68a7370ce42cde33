//! The scanner port. The engines live in the `lambdas` library, which the scan Lambda runs on S3 events and the
//! embedded mode runs in-process, so both paths judge a file with the same code; see [`lambdas::scanner`].
use std::sync::Arc;

use crate::Config;

pub use lambdas::scanner::*;

/// The scanner the configuration asks for: clamd at `clamd_addr` when set, else the built-in fallback. The SHA-256
/// block list applies in both cases.
pub fn scanner_from_config(config: &Config) -> Arc<dyn Scanner> {
    let blocklist = Blocklist::new(config.scan_blocklist_sha256.iter().copied());
    match &config.clamd_addr {
        Some(addr) => {
            Arc::new(ClamdScanner::new(addr.clone()).with_timeout(config.clamd_timeout).with_blocklist(blocklist))
        }
        None => Arc::new(BuiltinScanner::new(blocklist)),
    }
}
