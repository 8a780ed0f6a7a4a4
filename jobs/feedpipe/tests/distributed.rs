//! `feedpipe convert --distributed` against the local AWS stand-in's Step Functions
//! (moto, started by tests/run.sh). moto keeps the state machine and its executions
//! but never runs them (an execution stays RUNNING until stopped), so this checks
//! what the CLI does: the refusal of another bucket than the one the state machine
//! lists, the start with the prefix as input, the following, and the report and
//! exit code of an execution that ends other than SUCCEEDED. The Distributed Map's
//! run itself needs AWS.
//!
//! The CLI signs as the operator, through the recording proxy, and every call it
//! makes must be one the operator policy of infra/modules/backfill allows
//! (tests/infra/iam_check.py).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{:x}", nanos & 0xffff_ffff_ffff)
}

#[tokio::test]
async fn distributed_backfill_starts_the_state_machine_and_follows_it_to_its_end() {
    let endpoint = std::env::var("FEEDPIPE_TEST_AWS_ENDPOINT").expect(
        "FEEDPIPE_TEST_AWS_ENDPOINT is not set: this test needs the local AWS stand-in; run it with ./tests/run.sh",
    );
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(&endpoint)
        .load()
        .await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let bucket = unique("raw");
    let name = unique("backfill");
    let recorder = feedpipe_e2e::principals::Recorder::start();
    let operator = feedpipe_e2e::principals::Principal::new("operator");
    // The shape of infra/modules/backfill's definition.
    let definition = json!({
        "StartAt": "ConvertRawObjects",
        "States": { "ConvertRawObjects": {
            "Type": "Map",
            "ItemReader": { "Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": { "Bucket": bucket, "Prefix.$": "$.prefix" } },
            "ItemBatcher": { "MaxItemsPerBatch": 20, "BatchInput": { "bucket": bucket, "source": "backfill" } },
            "MaxConcurrency": 10,
            "ItemProcessor": {
                "ProcessorConfig": { "Mode": "DISTRIBUTED", "ExecutionType": "STANDARD" },
                "StartAt": "ConvertBatch",
                "States": { "ConvertBatch": { "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
                    "Parameters": { "FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:raw-to-parquet", "Payload.$": "$" }, "End": true } }
            },
            "End": true
        } }
    });
    let machine = sfn
        .create_state_machine()
        .name(&name)
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/feedpipe-backfill")
        .send()
        .await
        .unwrap()
        .state_machine_arn()
        .to_owned();
    let feedpipe = |input: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_feedpipe"));
        command
            .args([
                "convert",
                "--distributed",
                "--state-machine",
                &machine,
                "--poll-seconds",
                "1",
                "--input",
                input,
            ])
            .env("AWS_ENDPOINT_URL", &recorder.endpoint)
            .env("AWS_ACCESS_KEY_ID", &operator.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &operator.secret_access_key);
        command
    };

    // Another bucket than the one the machine lists: refused, nothing started.
    let out = feedpipe("s3://another-bucket/raw/").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("lists the bucket {bucket}, not another-bucket")),
        "{stderr}"
    );
    let executions = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert!(executions.executions().is_empty());

    // Started with the prefix as input, and followed.
    let mut child = feedpipe(&format!("s3://{bucket}/raw/2026/11/"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    let next = |what: &str| loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no line with {what}"));
        if line.contains(what) {
            return line;
        }
    };
    let line = next("started execution ");
    let execution = line["started execution ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_owned();
    let described = sfn
        .describe_execution()
        .execution_arn(&execution)
        .send()
        .await
        .unwrap();
    let input: Value = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(input, json!({ "prefix": "raw/2026/11/" }));
    next("running: ");

    // An execution that ends other than SUCCEEDED: reported, exit code 1.
    sfn.stop_execution()
        .execution_arn(&execution)
        .error("Operator.Stopped")
        .cause("stopped by the test")
        .send()
        .await
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    // (moto's DescribeExecution leaves out the error and cause of a stopped
    // execution, which AWS returns; the CLI prints them when given.)
    assert!(stdout.starts_with("backfill ABORTED: "), "{stdout}");
    assert!(
        stdout
            .trim_end()
            .ends_with(&format!("execution {execution}")),
        "{stdout}"
    );

    // Every call of the CLI, under the operator policy infra/ gives it.
    let names =
        json!({ "account_id": "123456789012", "region": "us-east-1", "state_machine": name });
    println!("{}", recorder.check(&names, &["operator"]));
}
