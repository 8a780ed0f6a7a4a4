//! The `feedpipe` binary as a user runs it: gen, ingest into an in-process stream,
//! and local; figures checked against the generated file, read independently.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::path::Path;
use std::process::{Command, Output};

fn feedpipe(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_feedpipe"))
        .args(args)
        .current_dir(cwd)
        .env("FEEDPIPE_LOG", "warn")
        .output()
        .expect("run feedpipe")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// (good records, malformed lines) of a JSON-lines file, by serde_json.
fn count(path: &Path) -> (u64, u64) {
    let bytes = std::fs::read(path).unwrap();
    let mut good = 0;
    let mut bad = 0;
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<serde_json::Value>(line) {
            Ok(v) if v.is_object() => good += 1,
            _ => bad += 1,
        }
    }
    (good, bad)
}

fn quarantined_lines(dir: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                n += std::fs::read_to_string(&p).unwrap().lines().count() as u64;
            }
        }
    }
    n
}

#[test]
fn gen_then_ingest_accounts_for_every_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = feedpipe(
        &[
            "gen",
            "--rows",
            "3000",
            "--bad-rate",
            "0.03",
            "--seed",
            "5",
            "--out",
            "feed.jsonl",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let (good, bad) = count(&dir.path().join("feed.jsonl"));
    assert_eq!(good, 3000);
    assert!(bad > 30);
    assert!(stdout(&out).contains(&format!("3000 records, {bad} malformed lines")));

    // Unpacked: one Kinesis record a customer record, 500 a call.
    let ingest = |pack_bytes: &str, quarantine: &str| {
        let args = [
            "ingest",
            "feed.jsonl",
            "--in-process-shards",
            "3",
            "--partition-key",
            "customer_id",
            "--quarantine",
            quarantine,
            "--pack-bytes",
            pack_bytes,
        ];
        let out = feedpipe(&args, dir.path());
        assert!(out.status.success(), "{out:?}");
        stdout(&out)
    };
    let text = ingest("0", "q");
    assert!(
        text.contains(&format!(
            "{} records read, {good} sent in {good} Kinesis records, {bad} quarantined; 6 PutRecords calls",
            good + bad
        )),
        "{text}"
    );
    assert_eq!(quarantined_lines(&dir.path().join("q")), bad);

    // Packed by default: the same records in a tenth of the Kinesis records or fewer,
    // each pack at most 25,600 bytes (so at least bytes / 25,600 of them).
    let text = ingest("25600", "q2");
    let head = format!("{} records read, {good} sent in ", good + bad);
    let kinesis: u64 = text
        .split_once(&head)
        .and_then(|(_, rest)| rest.split_once(' '))
        .map(|(n, _)| n.parse().unwrap())
        .unwrap_or_else(|| panic!("{text}"));
    let bytes: u64 = text
        .split_once("), ")
        .and_then(|(_, rest)| rest.split_once(" bytes sent"))
        .map(|(n, _)| n.parse().unwrap())
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        kinesis * 10 <= good,
        "{kinesis} Kinesis records for {good}: {text}"
    );
    assert!(
        kinesis >= bytes.div_ceil(25_600),
        "{kinesis} packs for {bytes} bytes"
    );
    assert!(
        text.contains(&format!(
            "Kinesis records, {bad} quarantined; 1 PutRecords calls"
        )),
        "{text}"
    );
    assert_eq!(quarantined_lines(&dir.path().join("q2")), bad);
    assert!(
        feedpipe(
            &[
                "ingest",
                "feed.jsonl",
                "--in-process-shards",
                "1",
                "--pack-bytes",
                "1024001"
            ],
            dir.path()
        )
        .stderr
        .starts_with(b"error: invalid value '1024001' for '--pack-bytes"),
        "more than Firehose's record limit is refused"
    );
}

#[test]
fn gen_is_deterministic_and_gzip_is_readable() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["a.jsonl", "b.jsonl"] {
        assert!(
            feedpipe(&["gen", "--rows", "500", "--out", name], dir.path())
                .status
                .success()
        );
    }
    assert_eq!(
        std::fs::read(dir.path().join("a.jsonl")).unwrap(),
        std::fs::read(dir.path().join("b.jsonl")).unwrap()
    );
    assert!(
        feedpipe(
            &["gen", "--rows", "500", "--gzip", "--out", "c.jsonl.gz"],
            dir.path()
        )
        .status
        .success()
    );
    let out = feedpipe(
        &["ingest", "c.jsonl.gz", "--in-process-shards", "1"],
        dir.path(),
    );
    assert!(
        stdout(&out).contains("500 records read, 500 sent in ")
            && stdout(&out).contains(" Kinesis records, 0 quarantined"),
        "{out:?}"
    );
}

#[test]
fn local_generates_sample_data_and_accounts_for_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = feedpipe(&["local", "--workdir", "w", "--rows", "2000"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let (good, bad) = count(&dir.path().join("w/source/sample-orders.jsonl"));
    let text = stdout(&out);
    let row = format!("sample-orders.jsonl {:>9} {good:>10} {bad:>12}", good + bad);
    assert!(text.contains(&row), "{row:?} in {text}");
    assert!(text.contains("reconcile: OK"), "{text}");
    assert_eq!(quarantined_lines(&dir.path().join("w/quarantine")), bad);

    // `feedpipe cost --workdir` measures the profile from the run: the records are the
    // good ones (in raw objects), the record size their feed bytes.
    let out = feedpipe(&["cost", "--workdir", "w", "--format", "json"], dir.path());
    assert!(out.status.success(), "{out:?}");
    let cost: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let profile = &cost["profile"];
    let good_bytes: u64 = std::fs::read(dir.path().join("w/source/sample-orders.jsonl"))
        .unwrap()
        .split(|b| *b == b'\n')
        .filter(|l| serde_json::from_slice::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
        .map(|l| l.len() as u64 + 1)
        .sum();
    let record_bytes = profile["record_bytes"].as_f64().unwrap();
    let want = good_bytes as f64 / good as f64;
    assert!(
        (record_bytes - want).abs() < 2.0,
        "{record_bytes} measured, {want} in the feed"
    );
    assert_eq!(profile["files_per_day"], 1.0);
    assert!(
        (profile["gb_per_day"].as_f64().unwrap() * 1e9 - good_bytes as f64).abs()
            < good as f64 * 2.0
    );
    let lineage = profile["lineage_bytes"].as_f64().unwrap();
    assert!((150.0..400.0).contains(&lineage), "{lineage}");
    for key in ["ingest_mb_per_s", "convert_mb_per_s", "parquet_ratio"] {
        assert!(profile[key].as_f64().unwrap() > 0.0, "{key}: {profile}");
    }
}

#[test]
fn cost_prices_each_hop_packed_and_not_from_flags_and_a_prices_file() {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "cost",
        "--gb-per-day",
        "100",
        "--record-bytes",
        "500",
        "--files-per-day",
        "24",
    ];
    let out = feedpipe(&args, dir.path());
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for hop in [
        "Kinesis on-demand",
        "Kinesis provisioned",
        "Firehose ingestion",
        "S3 requests",
        "S3 storage",
        "Lambda ingest",
        "Lambda raw-to-parquet",
        "Snowpipe",
        "Glue Spark job (seed design)",
        "Firehose JSON->Parquet conversion",
    ] {
        assert!(text.lines().any(|l| l.starts_with(hop)), "{hop} in {text}");
    }
    let json = |extra: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend_from_slice(&["--format", "json"]);
        all.extend_from_slice(extra);
        let out = feedpipe(&all, dir.path());
        assert!(out.status.success(), "{out:?}");
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let firehose = |bill: &serde_json::Value| bill["lines"][0]["usd"].as_f64().unwrap();
    let cost = json(&[]);
    let (unpacked, packed) = (&cost["unpacked"], &cost["packed"]["bill"]);
    // 200 M records a day, 760 bytes framed: unpacked, Firehose bills 5 KB each.
    let want = 30.0 * 200e6 * 5120.0 / 1e9 * 0.029;
    assert!(
        (firehose(unpacked) - want).abs() < 0.01,
        "{}",
        firehose(unpacked)
    );
    assert!(firehose(packed) * 6.0 < firehose(unpacked));
    assert!(packed["total_on_demand"].as_f64() < unpacked["total_on_demand"].as_f64());
    // A prices file replaces the prices it names; a field it does not know is refused.
    std::fs::write(dir.path().join("p.json"), r#"{"firehose_gb": 0.058}"#).unwrap();
    let doubled = json(&["--prices", "p.json"]);
    assert!((firehose(&doubled["unpacked"]) - 2.0 * want).abs() < 0.01);
    assert!(
        doubled["prices"]["source"]
            .as_str()
            .unwrap()
            .starts_with("p.json")
    );
    std::fs::write(dir.path().join("bad.json"), r#"{"firehose_gbs": 1}"#).unwrap();
    let mut bad = args.to_vec();
    bad.extend_from_slice(&["--prices", "bad.json"]);
    let out = feedpipe(&bad, dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && err.contains("bad prices file bad.json")
            && err.contains("firehose_gbs"),
        "{err}"
    );
    let out = feedpipe(&["cost", "--record-bytes", "500"], dir.path());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give --gb-per-day, or --workdir DIR"),
        "{out:?}"
    );
}

#[test]
fn bad_arguments_and_missing_feeds_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = feedpipe(
        &["gen", "--rows", "5", "--bad-rate", "1.5", "--out", "x"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`1.5` is not a share from 0 to below 1")
    );
    let out = feedpipe(
        &["ingest", "nope.jsonl", "--in-process-shards", "1"],
        dir.path(),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nope.jsonl"),
        "{out:?}"
    );
}

#[test]
fn schema_sql_of_the_checked_in_contract_is_the_checked_in_table() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = feedpipe(&["schema", "sql", "sql/contracts/feed.json"], &repo);
    assert!(out.status.success(), "{out:?}");
    let expected = std::fs::read_to_string(repo.join("sql/V5__table.sql")).unwrap();
    assert_eq!(
        stdout(&out),
        expected,
        "sql/V5__table.sql drifted: run `feedpipe schema sql sql/contracts/feed.json > sql/V5__table.sql`"
    );
}

#[test]
fn schema_infer_writes_a_contract_that_schema_sql_accepts() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        feedpipe(
            &[
                "gen",
                "--rows",
                "800",
                "--gzip",
                "--bad-rate",
                "0.02",
                "--out",
                "s.jsonl.gz"
            ],
            dir.path()
        )
        .status
        .success()
    );
    let out = feedpipe(
        &[
            "schema",
            "infer",
            "s.jsonl.gz",
            "--table",
            "orders",
            "--out",
            "orders.json",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("from 800 records"),
        "{out:?}"
    );
    let contract: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("orders.json")).unwrap())
            .unwrap();
    assert_eq!(contract["table"], "orders");
    assert_eq!(contract["event_time"], "order_ts");
    let out = feedpipe(&["schema", "sql", "orders.json"], dir.path());
    assert!(
        stdout(&out).contains("total           NUMBER(18, 2)"),
        "{}",
        stdout(&out)
    );
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"table":"t","columns":[{"name":"a","type":"int32"}]}"#,
    )
    .unwrap();
    let out = feedpipe(&["schema", "sql", "bad.json"], dir.path());
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.json") && err.contains("unknown type `int32`"),
        "{err}"
    );
}

#[test]
fn convert_backfills_a_prefix_resumes_and_filters_by_time() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        feedpipe(
            &[
                "gen",
                "--rows",
                "3000",
                "--bad-rate",
                "0.02",
                "--out",
                "feed.jsonl"
            ],
            dir.path()
        )
        .status
        .success()
    );
    let (good, bad) = count(&dir.path().join("feed.jsonl"));
    // Raw objects in Firehose's layout, two hours, written by a producer without lineage.
    let text = std::fs::read(dir.path().join("feed.jsonl")).unwrap();
    let lines: Vec<&[u8]> = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    for (i, hour) in ["10", "11"].iter().enumerate() {
        let folder = dir.path().join(format!("raw/2026/11/23/{hour}"));
        std::fs::create_dir_all(&folder).unwrap();
        let part: Vec<&[u8]> = lines.iter().skip(i).step_by(2).copied().collect();
        std::fs::write(
            folder.join(format!("feed-{i}")),
            [part.join(&b'\n'), b"\n".to_vec()].concat(),
        )
        .unwrap();
    }
    let args = [
        "convert",
        "--input",
        "raw",
        "--output",
        "curated",
        "--quarantine",
        "q",
    ];
    let out = feedpipe(
        &[&args[..], &["--since", "2026-11-23T11:00:00Z"]].concat(),
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).starts_with("converted 1 object(s), skipped 0, failed 0"),
        "{}",
        stdout(&out)
    );
    let out = feedpipe(&args, dir.path());
    let text = stdout(&out);
    assert!(
        text.starts_with("converted 1 object(s), skipped 1, failed 0"),
        "{text}"
    );
    assert_eq!(quarantined_lines(&dir.path().join("q")), bad);
    // Every good record is a row, counted from the manifests.
    let mut rows = 0;
    for e in std::fs::read_dir(dir.path().join("curated/_manifests/feed")).unwrap() {
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(e.unwrap().path()).unwrap()).unwrap();
        rows += m["rows_written"].as_u64().unwrap();
    }
    assert_eq!(rows, good);
    let out = feedpipe(
        &[
            "convert",
            "--input",
            "raw",
            "--output",
            "curated",
            "--schema",
            "missing.json",
        ],
        dir.path(),
    );
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("missing.json"));
}

#[test]
fn convert_compacts_small_raw_objects_into_fewer_files() {
    let dir = tempfile::tempdir().unwrap();
    // Twelve small raw objects, as Firehose writes them under load, all one day.
    for i in 0..12 {
        let folder = dir.path().join("raw/2026/11/23/10");
        std::fs::create_dir_all(&folder).unwrap();
        let out = feedpipe(
            &[
                "gen",
                "--rows",
                "400",
                "--seed",
                &i.to_string(),
                "--days",
                "1",
                "--framed",
                "--out",
                &format!("raw/2026/11/23/10/feedpipe-raw-1-2026-11-23-10-00-{i:02}-x"),
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{out:?}");
    }
    let files = |root: &str| -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![dir.path().join(root)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|x| x == "parquet") {
                    out.push(p);
                }
            }
        }
        out
    };
    // ~3.6 MB of raw JSON; 100 kB of Parquet per file is ~800 kB of raw per group.
    let args = [
        "convert",
        "--input",
        "raw",
        "--output",
        "a",
        "--quarantine",
        "q",
    ];
    let out = feedpipe(
        &[&args[..], &["--target-file-size", "100kB"]].concat(),
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).starts_with(
            "converted 12 object(s), skipped 0, failed 0: 4800 records read, 4800 rows written"
        ),
        "{}",
        stdout(&out)
    );
    let compacted = files("a");
    assert!((2..12).contains(&compacted.len()), "{compacted:?}");
    assert!(
        compacted
            .iter()
            .all(|p| p.to_string_lossy().contains("/feed/dt=2026-11-01/"))
    );
    // Every object is done: a second run skips all of them.
    let out = feedpipe(
        &[&args[..], &["--target-file-size", "100kB"]].concat(),
        dir.path(),
    );
    assert!(
        stdout(&out).starts_with("converted 0 object(s), skipped 12, failed 0"),
        "{}",
        stdout(&out)
    );
    // --force converts each group again under the same names, whatever the target now.
    let names: Vec<_> = {
        let mut v = compacted.clone();
        v.sort();
        v
    };
    let out = feedpipe(
        &[&args[..], &["--force", "--target-file-size", "0"]].concat(),
        dir.path(),
    );
    assert!(
        stdout(&out).starts_with("converted 12 object(s), skipped 0, failed 0"),
        "{}",
        stdout(&out)
    );
    let mut again = files("a");
    again.sort();
    assert_eq!(again, names);
    // Without compaction, one file per raw object (as the Lambda writes them).
    let out = feedpipe(
        &[
            "convert",
            "--input",
            "raw",
            "--output",
            "b",
            "--quarantine",
            "q",
            "--target-file-size",
            "0",
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(files("b").len(), 12);
    let out = feedpipe(
        &[
            "convert",
            "--input",
            "raw",
            "--output",
            "c",
            "--target-file-size",
            "lots",
        ],
        dir.path(),
    );
    assert!(
        !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("is not a size")
    );
}

#[test]
fn a_conversion_killed_half_way_shows_no_partial_file_and_a_rerun_gives_the_clean_result() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..6 {
        let out = feedpipe(
            &[
                "gen",
                "--rows",
                "5000",
                "--seed",
                &i.to_string(),
                "--framed",
                "--out",
                &format!("raw/2026/11/23/10/feedpipe-raw-1-2026-11-23-10-00-{i:02}-x"),
            ],
            dir.path(),
        );
        assert!(out.status.success(), "{out:?}");
    }
    let args = |output: &str| -> Vec<String> {
        [
            "convert",
            "--input",
            "raw",
            "--output",
            output,
            "--quarantine",
            "q",
            "--target-file-size",
            "0",
            "--parallel",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    // Every regular file under `root`, by path relative to it.
    let tree = |root: &str| -> std::collections::BTreeMap<String, Vec<u8>> {
        let base = dir.path().join(root);
        let mut out = std::collections::BTreeMap::new();
        let mut stack = vec![base.clone()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    let rel = p
                        .strip_prefix(&base)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned();
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        out
    };
    let parquet = |t: &std::collections::BTreeMap<String, Vec<u8>>| -> Vec<String> {
        t.keys()
            .filter(|k| k.ends_with(".parquet"))
            .cloned()
            .collect()
    };
    let clean = feedpipe(
        &args("clean").iter().map(String::as_str).collect::<Vec<_>>(),
        dir.path(),
    );
    assert!(clean.status.success(), "{clean:?}");
    let clean = tree("clean");

    // Killed (SIGKILL: no clean-up) once the first object is done, with the second
    // under way.
    let mut child = Command::new(env!("CARGO_BIN_EXE_feedpipe"))
        .args(args("killed"))
        .current_dir(dir.path())
        .env("FEEDPIPE_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = std::io::BufReader::new(child.stderr.take().unwrap());
    for line in std::io::BufRead::lines(stderr) {
        if line.unwrap().contains("rows written") {
            break;
        }
    }
    std::thread::sleep(std::time::Duration::from_millis(30));
    child.kill().unwrap();
    assert!(!child.wait().unwrap().success());
    let killed = tree("killed");
    let done = parquet(&killed);
    assert!(
        !done.is_empty() && done.len() < parquet(&clean).len(),
        "{done:?}"
    );
    // Whatever is visible under a Parquet name is whole: the clean run's bytes.
    for name in &done {
        assert!(
            killed[name] == clean[name],
            "{name} differs from the clean run's"
        );
    }

    // The rerun skips what is done and ends with the clean run's files, byte for byte.
    let out = feedpipe(
        &args("killed")
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(!stdout(&out).contains("skipped 0,"), "{}", stdout(&out));
    let rerun = tree("killed");
    assert_eq!(parquet(&rerun), parquet(&clean));
    for name in parquet(&clean) {
        assert!(
            rerun[&name] == clean[&name],
            "{name} differs from the clean run's"
        );
    }
}

/// `ingest --feeds`: a file under a feed's prefix goes through, one under none is
/// quarantined whole as unrouted and fails the run; the partition-key flag is refused
/// beside a feeds file (each feed names its own).
#[test]
fn ingest_with_a_feeds_file_routes_by_key_and_quarantines_a_file_of_no_feed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src/orders")).unwrap();
    std::fs::create_dir_all(dir.path().join("src/misc")).unwrap();
    std::fs::write(
        dir.path().join("src/orders/a.jsonl"),
        "{\"id\":1,\"c\":{\"id\":\"x\"}}\n{\"id\":2,\"c\":{\"id\":\"y\"}}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("src/misc/b.jsonl"), "{\"id\":3}\n").unwrap();
    std::fs::write(
        dir.path().join("feeds.toml"),
        "[[feeds]]\ntable = \"orders\"\nprefix = \"orders/\"\npartition_key = \"c.id\"\n",
    )
    .unwrap();
    let args = [
        "ingest",
        "src/orders/a.jsonl",
        "src/misc/b.jsonl",
        "--in-process-shards",
        "1",
        "--feeds",
        "feeds.toml",
        "--source-root",
        "src",
        "--quarantine",
        "q",
    ];
    let out = feedpipe(&args, dir.path());
    assert!(!out.status.success(), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no feed for key `misc/b.jsonl` in feeds.toml; quarantined whole"),
        "{err}"
    );
    assert!(
        stdout(&out).contains("1 file(s): 2 records read, 2 sent"),
        "{out:?}"
    );
    assert_eq!(quarantined_lines(&dir.path().join("q")), 1);
    let mut both = args.to_vec();
    both.extend(["--partition-key", "id"]);
    let out = feedpipe(&both, dir.path());
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be used with"));
}
