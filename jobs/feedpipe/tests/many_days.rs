//! End to end, through the `feedpipe` binary: a feed spanning more days than the
//! converter keeps files open (`ConvertConfig::max_open_files`, 64) goes through
//! `local`, so days are written in several files each, and `reconcile` (which checks
//! every manifest's files and rows) and a `query` still account for every record
//! once. Kept apart from `local.rs`, whose runs are of a few days.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_feedpipe"))
        .env("FEEDPIPE_LOG", "warn")
        .args(args)
        .output()
        .unwrap();
    eprintln!(
        "$ feedpipe {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_feed_over_300_days_is_written_in_several_files_per_day_and_reconciles() {
    const DAYS: u64 = 300;
    const ROWS: u64 = 24_000;
    let tmp = tempfile::tempdir().unwrap();
    let feed = tmp.path().join("history.jsonl");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&feed).unwrap());
    let first = chrono::NaiveDate::from_ymd_opt(2000, 1, 1).unwrap();
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for i in 0..ROWS {
        // Every day comes back after all the others.
        let day = first + chrono::Days::new(i % DAYS);
        writeln!(file, r#"{{"n":{i},"at":"{day}T08:00:00Z"}}"#).unwrap();
        *expected.entry(day.to_string()).or_default() += 1;
    }
    drop(file);
    let schema = tmp.path().join("history.schema.json");
    std::fs::write(
        &schema,
        r#"{"table": "history", "event_time": "at", "columns": [
            {"name": "n", "type": "int64", "nullable": false},
            {"name": "at", "type": "timestamp", "nullable": false}]}"#,
    )
    .unwrap();
    let work = tmp.path().join("work");
    let out = run(&[
        "local",
        "--workdir",
        s(&work),
        "--schema",
        s(&schema),
        s(&feed),
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("reconcile: OK"), "{stdout}");

    // More Parquet files than days: at most 64 are open, so days were closed early
    // and went on in `<stem>-2.parquet`, ….
    let parquet: Vec<String> = walk(&work.join("curated/history"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(parquet.len() as u64 > DAYS, "{} files", parquet.len());
    assert!(parquet.iter().any(|n| n.ends_with("-2.parquet")));

    // Per day, the rows of the input, and every `n` once.
    let query = run(&[
        "query",
        "--data",
        s(&work.join("curated")),
        "--format",
        "csv",
        "SELECT dt, count(*) AS n, count(DISTINCT n) AS distinct_n FROM history GROUP BY dt ORDER BY dt",
    ]);
    assert!(query.status.success());
    let text = String::from_utf8(query.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("dt,n,distinct_n"));
    let got: BTreeMap<String, u64> = lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            assert_eq!(f[1], f[2], "a row twice on {}", f[0]);
            (f[0].to_owned(), f[1].parse().unwrap())
        })
        .collect();
    assert_eq!(got, expected);
}
