//! The built Lambda binary refuses to start without its configuration, and says which
//! variable is missing.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::process::Command;

#[test]
fn missing_configuration_fails_the_cold_start_naming_the_variable() {
    let out = Command::new(env!("CARGO_BIN_EXE_raw-to-parquet-lambda"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9") // never reached
        .env("FEEDPIPE_QUARANTINE_URL", "s3://raw/quarantine")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("FEEDPIPE_CURATED_URL is required but not set"),
        "{text}"
    );
}
