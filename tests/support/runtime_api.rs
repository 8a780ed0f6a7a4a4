//! A stand-in for the Lambda Runtime API, the HTTP API a custom runtime
//! (`provided.al2023`) polls: enough to run a built handler binary on this machine as
//! Lambda would. It hands out one event at `GET /2018-06-01/runtime/invocation/next`
//! (with the request id, deadline and function ARN headers) and takes the handler's
//! answer at `POST /2018-06-01/runtime/invocation/<id>/response` (or `/error`, or
//! `/runtime/init/error` for a failed cold start). After the one event, `next` never
//! answers, as Lambda freezes an idle function. Standard library only; included by
//! the Lambda crates' tests with `#[path]`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What the handler answered: `response`, `error` or `init-error`, and the body.
pub type Answer = (String, String);

/// A Runtime API serving one event.
pub struct RuntimeApi {
    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    answers: Receiver<Answer>,
}

impl RuntimeApi {
    /// Serves `event` (JSON text) to the first `next` call, with a deadline `left`
    /// after that call (`Lambda-Runtime-Deadline-Ms`).
    pub fn serve(event: String, left: Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Runtime API");
        let address = listener.local_addr().expect("its address").to_string();
        let (tx, answers) = channel();
        let event = Arc::new(Mutex::new(Some(event)));
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (event, tx) = (Arc::clone(&event), tx.clone());
                thread::spawn(move || serve(stream, &event, &tx, left));
            }
        });
        Self { address, answers }
    }

    /// The handler's answer, waiting at most `timeout`.
    pub fn answer(&self, timeout: Duration) -> Answer {
        self.answers
            .recv_timeout(timeout)
            .expect("the handler answered nothing through the Runtime API")
    }
}

fn serve(
    stream: TcpStream,
    event: &Mutex<Option<String>>,
    answers: &Sender<Answer>,
    left: Duration,
) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    // One HTTP/1.1 request after another on the connection (the runtime keeps it alive).
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 {
                return;
            }
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let reply = if method == "GET" && path.ends_with("/runtime/invocation/next") {
            let Some(event) = event.lock().ok().and_then(|mut e| e.take()) else {
                // No more events: hold the call, as Lambda does between invocations.
                thread::sleep(Duration::from_secs(3600));
                return;
            };
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis())
                + left.as_millis();
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nLambda-Runtime-Aws-Request-Id: req-1\r\nLambda-Runtime-Deadline-Ms: {deadline}\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:123456789012:function:feedpipe-test\r\nLambda-Runtime-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1\r\nContent-Length: {}\r\n\r\n{event}",
                event.len()
            )
        } else if method == "POST" && path.contains("/runtime/") {
            let kind = if path.ends_with("/response") {
                "response"
            } else if path.ends_with("/init/error") {
                "init-error"
            } else {
                "error"
            };
            let _ = answers.send((kind.to_owned(), String::from_utf8_lossy(&body).into_owned()));
            let ok = r#"{"status":"OK"}"#;
            format!(
                "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{ok}",
                ok.len()
            )
        } else {
            "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_owned()
        };
        if writer.write_all(reply.as_bytes()).is_err() {
            return;
        }
    }
}

/// Runs the built Lambda `binary` for one invocation, as Lambda runs a function:
/// the Runtime API hands it `event`, with the function's name, version, memory and
/// log names and `env` (its configuration) in its environment, besides this
/// process's (the AWS endpoint and credentials). Returns its answer, then stops it.
pub fn invoke(binary: &str, event: &serde_json::Value, env: &[(&str, String)]) -> Answer {
    invoke_until(binary, event, env, Duration::from_secs(300))
}

/// [`invoke`] with the invocation's deadline `left` after it starts.
pub fn invoke_until(
    binary: &str,
    event: &serde_json::Value,
    env: &[(&str, String)],
    left: Duration,
) -> Answer {
    let api = RuntimeApi::serve(event.to_string(), left);
    let mut lambda = std::process::Command::new(binary)
        .env("AWS_LAMBDA_RUNTIME_API", &api.address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "feedpipe-test")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/feedpipe-test")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start the Lambda binary");
    let answer = api.answer(Duration::from_secs(120));
    let _ = lambda.kill();
    let _ = lambda.wait();
    answer
}

/// Starts the built Lambda `binary` with nothing in its environment but `env` (and a
/// Runtime API address it must not need): a cold start with a broken configuration,
/// which has to stop by itself. Returns whether it exited with success, and all it
/// printed (stdout, then stderr).
pub fn cold_start(binary: &str, env: &[(&str, &str)]) -> (bool, String) {
    let out = std::process::Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9") // never reached
        .envs(env.iter().copied())
        .output()
        .expect("run the Lambda binary");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), printed)
}

/// The local AWS stand-in that tests/run.sh starts; panics saying so when unset.
pub fn aws_endpoint() -> String {
    std::env::var("FEEDPIPE_TEST_AWS_ENDPOINT").expect(
        "FEEDPIPE_TEST_AWS_ENDPOINT is not set: this test needs the local AWS stand-in; run it with ./tests/run.sh",
    )
}

/// A name no other run uses (`prefix-<time>-<pid>`), valid for buckets and streams.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{prefix}-{:x}-{}",
        nanos & 0xffff_ffff_ffff,
        std::process::id()
    )
}

/// The S3 `ObjectCreated:Put` notification for one object, as AWS sends it
/// (`event_key` URL-encoded, as in S3 events).
pub fn s3_put_notification(
    bucket: &str,
    event_key: &str,
    size: usize,
    etag: &str,
) -> serde_json::Value {
    serde_json::json!({ "Records": [{
        "eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": "2026-11-23T10:00:05.000Z", "eventName": "ObjectCreated:Put",
        "userIdentity": { "principalId": "AWS:AIDAEXAMPLE" },
        "requestParameters": { "sourceIPAddress": "127.0.0.1" },
        "responseElements": { "x-amz-request-id": "EXAMPLE", "x-amz-id-2": "EXAMPLE" },
        "s3": {
            "s3SchemaVersion": "1.0", "configurationId": "feedpipe",
            "bucket": { "name": bucket, "ownerIdentity": { "principalId": "EXAMPLE" }, "arn": format!("arn:aws:s3:::{bucket}") },
            "object": { "key": event_key, "size": size, "eTag": etag.trim_matches('"'), "sequencer": "0055AED6DCD90281E5" }
        }
    }]})
}
