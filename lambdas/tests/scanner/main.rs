//! The scanner port against a real clamd (with the test signatures of scripts/clamd.sh) and the built-in fallback:
//! the same behaviour through both, plus what only one of them has (clamd's failures, the built-in magic checks).
mod builtin;
mod cases;
mod clamd;
mod support;
