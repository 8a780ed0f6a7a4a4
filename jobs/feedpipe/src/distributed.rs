//! `feedpipe convert --distributed`: the backfill on AWS, for backfills too large for
//! one machine. It starts the backfill state machine (infra/modules/backfill: a
//! Distributed Map over the raw bucket's objects under a prefix, batches handed to
//! the raw-to-parquet Lambda with bounded concurrency) with the prefix of `--input`,
//! and follows the execution to its end, printing the Map Run's item counts. Exit
//! code 0 only when the execution succeeded. The conversion itself is the Lambda's:
//! the same core, names and manifests as `feedpipe convert` on this machine.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_sfn::types::ExecutionStatus;
use feedpipe_shared::storage::s3_bucket_and_key;
use serde_json::{Value, json};

/// `s3://bucket/prefix` → (bucket, prefix).
fn s3_prefix(input: &str) -> anyhow::Result<(&str, &str)> {
    let Some((bucket, prefix)) = s3_bucket_and_key(input) else {
        bail!(
            "--distributed needs an s3:// --input (the raw bucket and the prefix to backfill), not {input}"
        );
    };
    if bucket.is_empty() {
        bail!("no bucket in --input {input}");
    }
    Ok((bucket, prefix))
}

/// The bucket the state machine's `ItemReader` lists (fixed when it was deployed).
fn listed_bucket(definition: &Value) -> Option<&str> {
    match definition {
        Value::Object(map) => map
            .get("ItemReader")
            .and_then(|r| r.pointer("/Parameters/Bucket"))
            .and_then(Value::as_str)
            .or_else(|| map.values().find_map(listed_bucket)),
        Value::Array(items) => items.iter().find_map(listed_bucket),
        _ => None,
    }
}

/// "3 of 10 batches succeeded, 1 failed, 2 running, 4 pending" from the Map Run, if
/// it has started.
async fn map_run_progress(sfn: &aws_sdk_sfn::Client, execution: &str) -> Option<String> {
    let runs = sfn
        .list_map_runs()
        .execution_arn(execution)
        .send()
        .await
        .ok()?;
    let run = runs.map_runs().first()?;
    let described = sfn
        .describe_map_run()
        .map_run_arn(run.map_run_arn())
        .send()
        .await
        .ok()?;
    let c = described.item_counts()?;
    Some(format!(
        "{} of {} batches succeeded, {} failed, {} running, {} pending",
        c.succeeded(),
        c.total(),
        c.failed() + c.timed_out() + c.aborted(),
        c.running(),
        c.pending()
    ))
}

/// Starts the backfill of `input` (`s3://raw-bucket/prefix`) on `state_machine` and
/// follows it, polling every `poll`.
pub async fn run(state_machine: &str, input: &str, poll: Duration) -> anyhow::Result<ExitCode> {
    let (bucket, prefix) = s3_prefix(input)?;
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let sfn = aws_sdk_sfn::Client::new(&config);
    let machine = sfn
        .describe_state_machine()
        .state_machine_arn(state_machine)
        .send()
        .await
        .with_context(|| format!("cannot describe the state machine {state_machine}"))?;
    let definition: Value = serde_json::from_str(machine.definition())
        .with_context(|| format!("the definition of {state_machine} is not JSON"))?;
    match listed_bucket(&definition) {
        Some(listed) if listed != bucket => bail!(
            "{state_machine} lists the bucket {listed}, not {bucket}: give --input s3://{listed}/<prefix>"
        ),
        Some(_) => {}
        None => bail!(
            "{state_machine} has no ItemReader listing a bucket: is it the backfill state machine (Terraform output backfill_state_machine_arn)?"
        ),
    }

    let name = format!(
        "feedpipe-backfill-{}",
        chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
    );
    let name = name.replace('.', "-");
    let started = sfn
        .start_execution()
        .state_machine_arn(state_machine)
        .name(&name)
        .input(json!({ "prefix": prefix }).to_string())
        .send()
        .await
        .with_context(|| format!("cannot start {state_machine}"))?;
    let execution = started.execution_arn().to_owned();
    eprintln!("started execution {execution} over s3://{bucket}/{prefix}");
    eprintln!(
        "(Ctrl-C stops following, not the backfill: `aws stepfunctions stop-execution --execution-arn {execution}` stops it)"
    );
    let t = Instant::now();
    loop {
        let described = sfn
            .describe_execution()
            .execution_arn(&execution)
            .send()
            .await
            .with_context(|| format!("cannot describe {execution}"))?;
        let progress = map_run_progress(&sfn, &execution)
            .await
            .unwrap_or_else(|| "no Map Run yet".into());
        match described.status() {
            ExecutionStatus::Running | ExecutionStatus::PendingRedrive => {
                eprintln!("{:>7.0} s  running: {progress}", t.elapsed().as_secs_f64());
                tokio::time::sleep(poll).await;
            }
            ExecutionStatus::Succeeded => {
                println!(
                    "backfill succeeded in {:.0} s: {progress}; execution {execution}",
                    t.elapsed().as_secs_f64()
                );
                return Ok(ExitCode::SUCCESS);
            }
            other => {
                println!(
                    "backfill {}: {}: {} ({progress}); execution {execution}",
                    other.as_str(),
                    described.error().unwrap_or("no error given"),
                    described.cause().unwrap_or("no cause given")
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_listed_bucket_is_found_in_a_nested_definition() {
        let definition = json!({ "StartAt": "A", "States": { "A": { "Type": "Map",
            "ItemReader": { "Resource": "arn:aws:states:::s3:listObjectsV2", "Parameters": { "Bucket": "raw-b", "Prefix.$": "$.prefix" } } } } });
        assert_eq!(listed_bucket(&definition), Some("raw-b"));
        assert_eq!(listed_bucket(&json!({ "States": {} })), None);
    }

    #[test]
    fn inputs_must_be_s3_prefixes() {
        assert_eq!(
            s3_prefix("s3://raw/raw/2026/").ok(),
            Some(("raw", "raw/2026/"))
        );
        assert_eq!(s3_prefix("s3://raw").ok(), Some(("raw", "")));
        assert!(s3_prefix("raw/2026").is_err());
        assert!(s3_prefix("s3:///x").is_err());
    }
}
