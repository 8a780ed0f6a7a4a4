//! The shared harness of the end-to-end tests: clients for the local AWS-compatible
//! server that `tests/run.sh` starts, unique resource names, and S3 events shaped as
//! AWS sends them.
//!
//! The tests need `FEEDPIPE_TEST_AWS_ENDPOINT` (set by `tests/run.sh`, with the
//! standard `AWS_*` variables pointing every client at the local server). Without it
//! they fail with a message saying how to run them, rather than pass without testing.

pub mod chain;
pub mod principals;

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;

/// The local server's endpoint; panics with instructions when the suite was not
/// started by `tests/run.sh`.
pub fn endpoint() -> String {
    match std::env::var("FEEDPIPE_TEST_AWS_ENDPOINT") {
        Ok(e) if !e.is_empty() => e,
        _ => panic!(
            "FEEDPIPE_TEST_AWS_ENDPOINT is not set: these tests need the local AWS-compatible server; run them with ./tests/run.sh"
        ),
    }
}

/// The Python with DuckDB that `tests/run.sh` installs (an independent Parquet
/// reader); panics with instructions when the suite was not started by it.
pub fn python() -> String {
    match std::env::var("FEEDPIPE_TEST_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "FEEDPIPE_TEST_PYTHON is not set: this test reads Parquet with DuckDB from the venv tests/run.sh installs; run it with ./tests/run.sh"
        ),
    }
}

/// The Python with fakesnow that `tests/run.sh` installs (the Snowflake stand-in).
pub fn snowflake_python() -> String {
    match std::env::var("FEEDPIPE_TEST_SNOWFLAKE_PYTHON") {
        Ok(p) if !p.is_empty() => p,
        _ => panic!(
            "FEEDPIPE_TEST_SNOWFLAKE_PYTHON is not set: this test loads into the Snowflake stand-in (fakesnow) that tests/run.sh installs; run it with ./tests/run.sh"
        ),
    }
}

/// Runs the project's `sql/` (rendered with `vars`) against the Snowflake stand-in,
/// loads every curated file under the stage as the pipe would (twice: the second
/// pass must load nothing, by the load history), then runs `queries`; returns the
/// rows of each (through `tests/py/snowflake_load.py`).
pub fn snowflake(vars: &serde_json::Value, queries: &[&str]) -> Vec<Vec<serde_json::Value>> {
    snowflake_as(vars, queries, &endpoint(), None)
}

/// As [`snowflake`], the curated bucket read at `s3_endpoint` with the keys of
/// `reader` (Snowflake's role), else the suite's.
pub fn snowflake_as(
    vars: &serde_json::Value,
    queries: &[&str],
    s3_endpoint: &str,
    reader: Option<&principals::Principal>,
) -> Vec<Vec<serde_json::Value>> {
    let sql = concat!(env!("CARGO_MANIFEST_DIR"), "/../sql");
    snowflake_in(
        std::path::Path::new(sql),
        vars,
        queries,
        s3_endpoint,
        reader,
    )
}

/// As [`snowflake_as`], with the scripts of `sql` (a folder `feedpipe sql render`
/// wrote, say) in place of the project's `sql/`.
pub fn snowflake_in(
    sql: &std::path::Path,
    vars: &serde_json::Value,
    queries: &[&str],
    s3_endpoint: &str,
    reader: Option<&principals::Principal>,
) -> Vec<Vec<serde_json::Value>> {
    let queries: Vec<String> = queries.iter().map(|q| (*q).to_owned()).collect();
    // Two passes of the pipe: the second must load nothing, by the load history.
    let mut session = SnowflakeSession::start_with(sql, vars, &queries, s3_endpoint, reader, 2);
    let results = queries.iter().map(|_| session.next_rows()).collect();
    session.finish();
    results
}

/// The Snowflake stand-in kept running between its queries: a test reads each
/// query's rows as they come, changes the buckets, and lets the stand-in go on at a
/// `@wait PATH` step by creating PATH ([`SnowflakeSession::go_on`]). Steps and
/// queries as `tests/py/snowflake_load.py` documents them.
pub struct SnowflakeSession {
    child: std::process::Child,
    stdout: std::io::BufReader<std::process::ChildStdout>,
    stderr: Option<std::thread::JoinHandle<String>>,
}

impl SnowflakeSession {
    /// Starts the stand-in on the scripts of `sql`, as [`snowflake_in`] does (one
    /// pass of the pipe before the queries).
    pub fn start(
        sql: &std::path::Path,
        vars: &serde_json::Value,
        queries: &[String],
        s3_endpoint: &str,
        reader: Option<&principals::Principal>,
    ) -> Self {
        Self::start_with(sql, vars, queries, s3_endpoint, reader, 1)
    }

    fn start_with(
        sql: &std::path::Path,
        vars: &serde_json::Value,
        queries: &[String],
        s3_endpoint: &str,
        reader: Option<&principals::Principal>,
        passes: u32,
    ) -> Self {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/snowflake_load.py");
        let mut command = std::process::Command::new(snowflake_python());
        command
            .arg(script)
            .arg("--sql-dir")
            .arg(sql)
            .args([
                "--s3-endpoint",
                s3_endpoint,
                "--passes",
                &passes.to_string(),
            ])
            .arg("--vars")
            .arg(vars.to_string())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for q in queries {
            command.arg("--query").arg(q);
        }
        if let Some(reader) = reader {
            command
                .env("AWS_ACCESS_KEY_ID", &reader.access_key_id)
                .env("AWS_SECRET_ACCESS_KEY", &reader.secret_access_key);
        }
        let mut child = command.spawn().expect("run python");
        let stdout = std::io::BufReader::new(child.stdout.take().expect("stdout"));
        let mut err = child.stderr.take().expect("stderr");
        let stderr = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            text
        });
        Self {
            child,
            stdout,
            stderr: Some(stderr),
        }
    }

    /// The rows of the next query (or step: none), as they come.
    pub fn next_rows(&mut self) -> Vec<serde_json::Value> {
        let mut rows = Vec::new();
        loop {
            let mut line = String::new();
            let read = std::io::BufRead::read_line(&mut self.stdout, &mut line).expect("read");
            if read == 0 {
                let _ = self.child.wait();
                let stderr = self.stderr.take().and_then(|t| t.join().ok());
                panic!(
                    "the Snowflake stand-in stopped early:\n{}",
                    stderr.unwrap_or_default()
                );
            }
            let line = line.trim_end_matches('\n');
            if line.is_empty() {
                return rows;
            }
            rows.push(serde_json::from_str(line).expect("a JSON line"));
        }
    }

    /// Lets the stand-in go on past `@wait PATH`.
    pub fn go_on(&self, flag: &std::path::Path) {
        std::fs::write(flag, b"go").expect("write the flag");
    }

    /// Waits for the end; every step and query must have run.
    pub fn finish(mut self) {
        let status = self.child.wait().expect("wait for python");
        let stderr = self
            .stderr
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        assert!(status.success(), "the Snowflake stand-in failed:\n{stderr}");
    }
}

/// Runs `sql` in DuckDB (through `tests/py/duckdb_query.py`) and returns one JSON
/// object per row.
pub fn duckdb(sql: &str) -> Vec<serde_json::Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/duckdb_query.py");
    let out = std::process::Command::new(python())
        .arg(script)
        .arg(sql)
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "duckdb failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// SDK configuration for the local server (the `AWS_*` environment set by run.sh).
pub async fn aws_config() -> aws_config::SdkConfig {
    let endpoint = endpoint();
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .load()
        .await
}

/// An S3 client with path-style addressing (as local servers want).
pub async fn s3_client() -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::config::Builder::from(&aws_config().await)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

/// A Kinesis client.
pub async fn kinesis_client() -> aws_sdk_kinesis::Client {
    aws_sdk_kinesis::Client::new(&aws_config().await)
}

/// Creates the provisioned stream `name` of `shards` shards (the local server makes
/// it active at once).
pub async fn create_stream(kinesis: &aws_sdk_kinesis::Client, name: &str, shards: i32) {
    use aws_sdk_kinesis::types::{StreamMode, StreamModeDetails};
    let provisioned = StreamModeDetails::builder()
        .stream_mode(StreamMode::Provisioned)
        .build()
        .expect("the stream mode is set");
    kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(shards)
        .stream_mode_details(provisioned)
        .send()
        .await
        .expect("create stream");
}

/// A Kinesis client of another endpoint (a fault-injecting proxy), retries off as
/// for the others: the code under test must do its own.
pub async fn kinesis_client_at(endpoint: &str) -> aws_sdk_kinesis::Client {
    let config = aws_sdk_kinesis::config::Builder::from(&aws_config().await)
        .endpoint_url(endpoint)
        .build();
    aws_sdk_kinesis::Client::from_conf(config)
}

/// An SQS client (reads the S3 notifications the local server sends).
pub async fn sqs_client() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&aws_config().await)
}

/// Every quarantine entry (one JSON object per line) in the objects under
/// `bucket`/`prefix`, read through the S3 API.
pub async fn quarantine_entries(
    s3: &aws_sdk_s3::Client,
    bucket: &str,
    prefix: &str,
) -> Vec<serde_json::Value> {
    let listed = s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .send()
        .await
        .expect("list the quarantine");
    let mut out = Vec::new();
    for object in listed.contents() {
        let body = s3
            .get_object()
            .bucket(bucket)
            .key(object.key().unwrap_or_default())
            .send()
            .await
            .expect("get a quarantine object");
        let bytes = body.body.collect().await.expect("read it").into_bytes();
        out.extend(
            bytes
                .split(|b| *b == b'\n')
                .filter(|l| !l.is_empty())
                .map(|l| serde_json::from_slice(l).expect("a JSON line")),
        );
    }
    out
}

/// A name no other test uses: `prefix-<random>`, valid for buckets and streams.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{:012x}", fastrand::u64(..) & 0xffff_ffff_ffff)
}

/// Encodes a key the way S3 event notifications do (`quote_plus`: space → `+`).
pub fn event_key(key: &str) -> String {
    let mut out = String::new();
    for b in key.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(*b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The S3 `ObjectCreated:Put` event AWS would send for `bucket`/`key`.
pub fn s3_put_event(bucket: &str, key: &str, size: u64, etag: &str) -> serde_json::Value {
    serde_json::json!({
        "Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "awsRegion": "us-east-1",
            "eventTime": "2026-11-23T12:00:00.000Z",
            "eventName": "ObjectCreated:Put",
            "userIdentity": { "principalId": "AWS:AIDAEXAMPLE" },
            "requestParameters": { "sourceIPAddress": "127.0.0.1" },
            "responseElements": { "x-amz-request-id": "EXAMPLE123", "x-amz-id-2": "EXAMPLE456" },
            "s3": {
                "s3SchemaVersion": "1.0",
                "configurationId": "feedpipe-test",
                "bucket": { "name": bucket, "ownerIdentity": { "principalId": "EXAMPLE" }, "arn": format!("arn:aws:s3:::{bucket}") },
                "object": { "key": event_key(key), "size": size, "eTag": etag.trim_matches('"'), "sequencer": "0055AED6DCD90281E5" }
            }
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_quote_plus_encoded() {
        assert_eq!(
            event_key("in/orders d'été.jsonl"),
            "in/orders+d%27%C3%A9t%C3%A9.jsonl"
        );
        assert_eq!(event_key("a+b"), "a%2Bb");
    }
}
