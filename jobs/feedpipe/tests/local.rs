//! End-to-end tests of the embedded pipeline, through the `feedpipe` binary: `local`
//! on generated data with malformed lines and schema drift mixed in, then `reconcile`
//! and a `query` whose answer is computed here from the input, independently of the
//! pipeline; a second run into the same workdir; and `--watch`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

fn feedpipe() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_feedpipe"));
    cmd.env("FEEDPIPE_LOG", "warn");
    cmd
}

fn run(args: &[&str]) -> Output {
    let out = feedpipe().args(args).output().unwrap();
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

/// Writes a generated feed plus hand-made drift: a record with a field the contract
/// does not know (kept in `_extra`) and one whose `total` is not a number (quarantined
/// by the conversion).
fn feed(dir: &Path, name: &str, rows: u64, seed: u64) -> PathBuf {
    let path = dir.join(name);
    let out = run(&[
        "gen",
        "--rows",
        &rows.to_string(),
        "--bad-rate",
        "0.02",
        "--seed",
        &seed.to_string(),
        "--out",
        s(&path),
    ]);
    assert!(out.status.success());
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap();
    writeln!(
        file,
        r#"{{"order_id":"ORD-DRIFT-{seed}","customer_id":"C-00001","order_ts":"2026-11-02T23:30:00-02:00","status":"paid","currency":"EUR","total":10.50,"loyalty":{{"points":7}}}}"#
    )
    .unwrap();
    writeln!(
        file,
        r#"{{"order_id":"ORD-TYPE-{seed}","customer_id":"C-00002","order_ts":"2026-11-02T10:00:00Z","status":"paid","currency":"EUR","total":"ten"}}"#
    )
    .unwrap();
    path
}

/// Orders and total cents per UTC day, from the feed files themselves: every line that
/// is a JSON object with a numeric `total` (the contract's rule for this column).
fn expected(files: &[&Path]) -> BTreeMap<String, (u64, i64)> {
    let mut days = BTreeMap::new();
    for path in files {
        let bytes = std::fs::read(path).unwrap();
        for line in bytes.split(|b| *b == b'\n') {
            let Ok(serde_json::Value::Object(record)) = serde_json::from_slice(line) else {
                continue;
            };
            let Some(total) = record.get("total").and_then(|t| t.as_f64()) else {
                continue;
            };
            let at = chrono::DateTime::parse_from_rfc3339(record["order_ts"].as_str().unwrap())
                .unwrap()
                .with_timezone(&chrono::Utc);
            let day = days
                .entry(at.format("%Y-%m-%d").to_string())
                .or_insert((0, 0));
            day.0 += 1;
            day.1 += (total * 100.0).round() as i64;
        }
    }
    days
}

/// `dt,orders,total` CSV from `feedpipe query` as the same map.
fn queried(curated: &Path) -> BTreeMap<String, (u64, i64)> {
    let out = run(&[
        "query",
        "--data",
        s(curated),
        "--format",
        "csv",
        "SELECT dt, count(*) AS orders, sum(total) AS total FROM feed GROUP BY dt ORDER BY dt",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("dt,orders,total"));
    lines
        .map(|l| {
            let f: Vec<&str> = l.split(',').collect();
            let (units, cents) = f[2].split_once('.').unwrap();
            let cents = units.parse::<i64>().unwrap() * 100 + cents.parse::<i64>().unwrap();
            (f[0].to_owned(), (f[1].parse().unwrap(), cents))
        })
        .collect()
}

fn scalar(curated: &Path, sql: &str) -> String {
    let out = run(&["query", "--data", s(curated), "--format", "csv", sql]);
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .nth(1)
        .unwrap()
        .to_owned()
}

#[test]
fn local_pipeline_reconciles_and_the_table_matches_the_input() {
    let tmp = tempfile::tempdir().unwrap();
    let a = feed(tmp.path(), "orders-a.jsonl", 2_500, 1);
    let b = feed(tmp.path(), "orders b ü.jsonl", 1_500, 2);
    let work = tmp.path().join("work");
    let out = run(&[
        "local",
        "--workdir",
        s(&work),
        "--buffer-mib",
        "1",
        "--gzip",
        s(&a),
        s(&b),
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("the built-in sample contract"), "{stdout}");
    assert!(stdout.contains("reconcile: OK"), "{stdout}");

    // Firehose's layout: YYYY/MM/DD/HH/<stream>-1-<time>-<uuid>.gz, several objects
    // (1 MiB buffers over ~2 MB).
    let raw: Vec<PathBuf> = walk(&work.join("raw"));
    assert!(raw.len() >= 2, "{raw:?}");
    for path in &raw {
        let rel = path
            .strip_prefix(work.join("raw"))
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let parts: Vec<&str> = rel.split('/').collect();
        assert_eq!(parts.len(), 5, "{rel}");
        assert!(
            parts[4].starts_with("feedpipe-local-1-") && parts[4].ends_with(".gz"),
            "{rel}"
        );
    }

    // reconcile as its own command, on the same folders.
    let out = run(&[
        "reconcile",
        "--source",
        s(&work.join("source")),
        "--curated",
        s(&work.join("curated")),
        "--quarantine",
        s(&work.join("quarantine")),
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("orders b ü.jsonl"), "{text}");

    // The table, computed independently from the input files.
    let want = expected(&[&a, &b]);
    assert_eq!(want.values().map(|d| d.0).sum::<u64>(), 4_002);
    assert_eq!(queried(&work.join("curated")), want);

    // Drift: the unknown field is kept in _extra; the type error is in the quarantine.
    assert_eq!(
        scalar(
            &work.join("curated"),
            "SELECT _extra FROM feed WHERE order_id = 'ORD-DRIFT-1'"
        ),
        r#""{""loyalty"":{""points"":7}}""#
    );
    let quarantined: String = walk(&work.join("quarantine").join("convert"))
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();
    assert_eq!(quarantined.matches("ORD-TYPE-").count(), 2, "{quarantined}");

    // Without the quarantine, the quarantined records are missing: reconcile fails.
    let out = run(&[
        "reconcile",
        "--source",
        s(&work.join("source")),
        "--curated",
        s(&work.join("curated")),
    ]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("missing at line(s)")
    );

    // A second run into the same workdir: nothing ingested twice, no duplicates.
    let rows = scalar(&work.join("curated"), "SELECT count(*) FROM feed");
    let out = run(&["local", "--workdir", s(&work), s(&a), s(&b)]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.matches("already ingested").count(), 2, "{stdout}");
    assert_eq!(
        scalar(&work.join("curated"), "SELECT count(*) FROM feed"),
        rows
    );
    assert_eq!(
        scalar(
            &work.join("curated"),
            "SELECT count(DISTINCT _record_id) FROM feed"
        ),
        rows
    );
}

#[test]
fn a_duplicated_row_fails_reconcile() {
    let tmp = tempfile::tempdir().unwrap();
    let a = feed(tmp.path(), "orders.jsonl", 300, 3);
    let work = tmp.path().join("work");
    assert!(
        run(&["local", "--workdir", s(&work), s(&a)])
            .status
            .success()
    );
    // The same raw object converted a second time under another name: every row twice.
    let raw = walk(&work.join("raw"));
    let copy = raw[0].with_file_name("feedpipe-local-1-copy");
    std::fs::copy(&raw[0], &copy).unwrap();
    let out = run(&[
        "convert",
        "--input",
        s(&copy),
        "--output",
        s(&work.join("curated")),
        "--quarantine",
        s(&work.join("quarantine")),
    ]);
    assert!(out.status.success());
    let out = run(&[
        "reconcile",
        "--source",
        s(&work.join("source")),
        "--curated",
        s(&work.join("curated")),
        "--quarantine",
        s(&work.join("quarantine")),
    ]);
    assert!(!out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("duplicated at line(s): "), "{text}");
    assert!(text.contains("MISMATCH"), "{text}");
    assert!(text.contains("reconcile: FAILED"), "{text}");
}

#[test]
fn user_feeds_of_another_shape_get_an_inferred_contract() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("events.jsonl");
    let mut file = std::fs::File::create(&path).unwrap();
    for i in 0..200 {
        writeln!(
            file,
            r#"{{"event":"click","n":{i},"score":{}.5,"at":"2026-11-0{}T12:00:00+01:00","dt":"d{i}"}}"#,
            i % 7,
            1 + i % 3
        )
        .unwrap();
    }
    writeln!(file, "{{broken").unwrap();
    drop(file);
    let work = tmp.path().join("work");
    let out = run(&[
        "local",
        "--workdir",
        s(&work),
        "--table",
        "events",
        s(&path),
    ]);
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("contract inferred from 200 record(s)"),
        "{stdout}"
    );
    let contract: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(work.join("schema.json")).unwrap()).unwrap();
    assert_eq!(contract["table"], "events");
    // A customer field named like the `dt` partition stays out of the contract (a
    // query would see two `dt`s), and is kept in `_extra`.
    let names: Vec<&str> = contract["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["event", "n", "score", "at"], "{contract}");
    assert!(
        stdout.contains("field(s) `dt` kept in `_extra`"),
        "{stdout}"
    );
    assert_eq!(
        scalar(&work.join("curated"), "SELECT count(*), sum(n) FROM events"),
        "200,19900"
    );
    assert_eq!(
        scalar(
            &work.join("curated"),
            "SELECT _extra FROM events WHERE n = 7"
        ),
        r#""{""dt"":""d7""}""#
    );
}

#[test]
fn feeds_of_one_name_are_refused_rather_than_one_replacing_the_other() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(&b).unwrap();
    let first = feed(&a, "orders.jsonl", 50, 1);
    let second = feed(&b, "orders.jsonl", 60, 2);
    let work = tmp.path().join("work");
    let out = run(&["local", "--workdir", s(&work), s(&first), s(&second)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(s(&first))
            && stderr.contains(s(&second))
            && stderr.contains("same file name"),
        "{stderr}"
    );
    assert!(
        std::fs::read_dir(work.join("source"))
            .unwrap()
            .next()
            .is_none(),
        "nothing is staged when a name clashes"
    );

    // The same file twice is one feed.
    let out = run(&["local", "--workdir", s(&work), s(&first), s(&first)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Its 50 generated orders and the drift record (the one whose `total` is text is
    // quarantined, and so is the malformed line).
    assert_eq!(
        scalar(&work.join("curated"), "SELECT count(*) FROM feed"),
        "51"
    );

    // A later run with another file of that name would replace the first for good.
    let out = run(&["local", "--workdir", s(&work), s(&second)]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains(s(&second)) && stderr.contains("already holds another file"),
        "{stderr}"
    );
    assert_eq!(
        scalar(&work.join("curated"), "SELECT count(*) FROM feed"),
        "51"
    );
}

#[test]
fn one_listing_rule_for_ingest_and_reconcile_and_a_bad_name_stops_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let source = work.join("source");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    let good = feed(&source, "good.jsonl", 40, 1);
    let nested = feed(&source.join("sub"), "nested.jsonl", 30, 2);
    std::fs::copy(&good, source.join("half.jsonl.part")).unwrap();
    std::fs::copy(&good, source.join(".hidden.jsonl")).unwrap();
    std::fs::copy(&good, source.join("batch#7")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9.jsonl");
        std::fs::copy(&good, source.join(name)).unwrap();
    }
    let out = run(&["local", "--workdir", s(&work)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The feeds that can be read go through whole; the subfolder's too.
    assert!(
        stdout.contains("good.jsonl") && stdout.contains("sub/nested.jsonl"),
        "{stdout}"
    );
    assert_eq!(
        scalar(&work.join("curated"), "SELECT count(*) FROM feed"),
        "72",
        "40 + 30 generated orders and a drift record each"
    );
    // Every skipped name is reported, and the unreadable ones fail the run.
    for name in ["half.jsonl.part", ".hidden.jsonl", "batch#7"] {
        assert!(stderr.contains(name), "{name}: {stderr}");
    }
    assert!(
        stderr.contains("batch#7: cannot be read, rename it"),
        "{stderr}"
    );
    #[cfg(unix)]
    assert!(
        stderr.contains("caf\u{fffd}.jsonl: cannot be read"),
        "{stderr}"
    );
    assert!(!out.status.success());
    // Reconcile follows the same rule: the skipped files are named, not missing.
    assert!(
        stdout.contains("skipped: ") && stdout.contains("half.jsonl.part"),
        "{stdout}"
    );
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    assert!(
        stdout.contains("batch#7") && stdout.contains("ERROR: cannot be read"),
        "{stdout}"
    );
    let _ = nested;
}

#[test]
fn a_touched_feed_is_the_same_version_and_is_not_ingested_again() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let orders = feed(tmp.path(), "orders.jsonl", 50, 3);
    assert!(
        run(&["local", "--workdir", s(&work), s(&orders)])
            .status
            .success()
    );
    // `touch`: the bytes stay, the modification time (so the local ETag) moves.
    let staged = work.join("source").join("orders.jsonl");
    std::fs::File::options()
        .write(true)
        .open(&staged)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(3600))
        .unwrap();
    let out = run(&["local", "--workdir", s(&work)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("already ingested (same version), skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("reconcile: OK"), "{stdout}");
    assert_eq!(
        scalar(&work.join("curated"), "SELECT count(*) FROM feed"),
        "51"
    );
    assert_eq!(
        scalar(
            &work.join("curated"),
            "SELECT count(DISTINCT _source_version) FROM feed"
        ),
        "1"
    );
}

#[test]
fn watch_takes_files_dropped_into_the_source_folder() {
    let tmp = tempfile::tempdir().unwrap();
    let work = tmp.path().join("work");
    let first = feed(tmp.path(), "first.jsonl", 200, 4);
    let child = feedpipe()
        .args([
            "local",
            "--watch",
            "--buffer-seconds",
            "1",
            "--settle-seconds",
            "3",
            "--workdir",
            s(&work),
            s(&first),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let curated = work.join("curated");
    let count = || {
        let out = feedpipe()
            .args([
                "query",
                "--data",
                s(&curated),
                "--format",
                "csv",
                "SELECT count(*) FROM feed",
            ])
            .output()
            .unwrap();
        String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .nth(1)
            .and_then(|l| l.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let wait_for = |rows: u64| {
        let deadline = Instant::now() + Duration::from_secs(60);
        while count() != rows {
            assert!(
                Instant::now() < deadline,
                "the table never reached {rows} rows"
            );
            std::thread::sleep(Duration::from_millis(300));
        }
    };
    wait_for(201);
    for (i, rows) in [(5, 301), (6, 451)] {
        let extra = feed(
            tmp.path(),
            &format!("drop-{i}.jsonl"),
            if i == 5 { 99 } else { 149 },
            i,
        );
        // Dropped as a user would: written elsewhere, moved in.
        std::fs::rename(&extra, work.join("source").join(extra.file_name().unwrap())).unwrap();
        wait_for(rows);
    }
    // Written in place in two halves with a pause shorter than --settle-seconds: taken
    // once, whole (taking the first half would load it twice, under two versions).
    let halves = feed(tmp.path(), "halves.jsonl", 120, 7);
    let bytes = std::fs::read(&halves).unwrap();
    let cut = bytes.len() / 2;
    let target = work.join("source").join("halves.jsonl");
    std::fs::write(&target, &bytes[..cut]).unwrap();
    std::thread::sleep(Duration::from_secs(2));
    std::fs::OpenOptions::new()
        .append(true)
        .open(&target)
        .unwrap()
        .write_all(&bytes[cut..])
        .unwrap();
    wait_for(572);
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    eprintln!("{stdout}");
    assert!(out.status.success());
    assert!(stdout.contains("ingest   drop-5.jsonl"), "{stdout}");
    assert!(stdout.contains("ingest   drop-6.jsonl"), "{stdout}");
    assert_eq!(
        stdout.matches("ingest   halves.jsonl").count(),
        1,
        "{stdout}"
    );
    assert!(stdout.contains("reconcile: OK"), "{stdout}");
}

/// Files under `dir` (recursively), without the staging files of an unfinished write.
fn files(dir: &Path) -> usize {
    walk(dir)
        .iter()
        .filter(|p| !p.to_string_lossy().contains('#'))
        .count()
}

/// Runs `feedpipe local` on `feeds` in `work` and kills it with SIGKILL as soon as
/// `ready(work)` holds; panics if the run ended before that (the kill point was missed).
fn kill_when(work: &Path, feeds: &[&Path], point: &str, ready: impl Fn(&Path) -> bool) {
    let mut args = vec!["local", "--buffer-mib", "1", "--workdir", s(work)];
    args.extend(feeds.iter().map(|f| s(f)));
    let mut child = feedpipe()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(300);
    while !ready(work) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the run ended ({status}) before the kill point `{point}`");
        }
        assert!(Instant::now() < deadline, "never reached `{point}`");
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap(); // SIGKILL: no destructor, no flush, no Ctrl-C handler
    let status = child.wait().unwrap();
    assert!(!status.success(), "`{point}`: {status}");
    eprintln!(
        "killed at `{point}`: {} raw object(s), {} manifest(s)",
        raw_objects(work),
        manifests(work)
    );
}

fn raw_objects(work: &Path) -> usize {
    files(&work.join("raw"))
}

fn manifests(work: &Path) -> usize {
    files(&work.join("curated").join("_manifests"))
}

/// A run killed at any point, then run again (and killed again), ends with every
/// record of the feed in the table exactly once and reconcile OK (without `--dedup`).
#[test]
fn a_run_killed_at_any_point_then_run_again_loads_every_record_once() {
    let tmp = tempfile::tempdir().unwrap();
    let orders = tmp.path().join("orders.jsonl");
    let out = run(&[
        "gen",
        "--rows",
        "300000",
        "--bad-rate",
        "0.01",
        "--seed",
        "11",
        "--out",
        s(&orders),
    ]);
    assert!(out.status.success());
    // An uninterrupted run: what every interrupted one must end with.
    let clean = tmp.path().join("clean");
    let out = run(&[
        "local",
        "--buffer-mib",
        "1",
        "--workdir",
        s(&clean),
        s(&orders),
    ]);
    assert!(out.status.success());
    let rows = scalar(&clean.join("curated"), "SELECT count(*) FROM feed");
    let total_manifests = manifests(&clean);
    assert!(total_manifests > 40, "{total_manifests} raw objects only");

    type Point = (&'static str, Box<dyn Fn(&Path) -> bool>);
    let points: Vec<Point> = vec![
        (
            "while ingesting: 3 raw objects written",
            Box::new(|w| raw_objects(w) >= 3),
        ),
        (
            "while the stand-in writes: a third of the raw objects",
            Box::new(move |w| raw_objects(w) >= total_manifests / 3),
        ),
        (
            "while converting: 10 objects converted",
            Box::new(|w| manifests(w) >= 10),
        ),
        (
            "near the end: all but 3 objects converted",
            Box::new(move |w| manifests(w) >= total_manifests - 3),
        ),
    ];
    for (i, (point, ready)) in points.iter().enumerate() {
        let work = tmp.path().join(format!("work-{i}"));
        kill_when(&work, &[&orders], point, ready);
        if i == 0 {
            // The resumed run killed too, before it is done.
            let before = raw_objects(&work);
            kill_when(&work, &[], "the re-run, while ingesting", move |w| {
                raw_objects(w) >= before + 3
            });
        }
        let out = run(&["local", "--buffer-mib", "1", "--workdir", s(&work)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "`{point}`: {stdout}");
        assert!(stdout.contains("reconcile: OK"), "`{point}`: {stdout}");
        let curated = work.join("curated");
        assert_eq!(
            scalar(&curated, "SELECT count(*) FROM feed"),
            rows,
            "`{point}`"
        );
        assert_eq!(
            scalar(&curated, "SELECT count(DISTINCT _record_id) FROM feed"),
            rows,
            "`{point}`"
        );
        // And a run after that has nothing left to do.
        let out = run(&["local", "--workdir", s(&work)]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(stdout.contains("already ingested"), "`{point}`: {stdout}");
        assert_eq!(
            scalar(&curated, "SELECT count(*) FROM feed"),
            rows,
            "`{point}`"
        );
    }
}

/// A feed spanning more days than the converter keeps files open
/// (`ConvertConfig::max_open_files`, 64): days are written in several files each, and
/// `reconcile` (which checks every manifest's files and rows) and a `query` still
/// account for every record once.
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

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The deploy guide's first file (infra/README.md, "Drop a first file"), taken from the
/// guide as written, through the conversion the Lambdas run: both records reach the
/// table. The variant the guide describes (an item without `unit_price`) sends its
/// record to the quarantine under `convert/` with kind `contract`, and the table gets
/// one row.
#[test]
fn the_deploy_guides_first_file_ends_as_the_guide_says() {
    let guide = include_str!("../../../infra/README.md");
    let open = "cat > /tmp/orders-0001.jsonl <<'EOF'\n";
    let start = guide.find(open).expect("the guide's first file") + open.len();
    let end = start + guide[start..].find("\nEOF\n").unwrap();
    let records = &guide[start..end];
    assert_eq!(records.lines().count(), 2, "{records}");
    let contract = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sql/contracts/feed.json");
    let dir = tempfile::tempdir().unwrap();
    let load = |work: &str, text: &str| {
        let file = dir.path().join(work).join("orders-0001.jsonl");
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, format!("{text}\n")).unwrap();
        let work = dir.path().join(work).join("work");
        let out = run(&[
            "local",
            "--workdir",
            s(&work),
            "--schema",
            s(&contract),
            s(&file),
        ]);
        assert!(out.status.success());
        assert!(String::from_utf8_lossy(&out.stdout).contains("reconcile: OK"));
        let rows = scalar(&work.join("curated"), "SELECT count(*) FROM feed");
        let mut kinds = Vec::new();
        for f in walk(&work.join("quarantine/convert")) {
            for line in std::fs::read_to_string(f).unwrap().lines() {
                let entry: serde_json::Value = serde_json::from_str(line).unwrap();
                kinds.push(entry["kind"].as_str().unwrap().to_owned());
            }
        }
        (rows, kinds)
    };
    assert_eq!(load("as-written", records), ("2".into(), vec![]));
    let without_price = records.replacen(
        r#""items":[{"sku":"a","qty":1,"unit_price":12.50}]"#,
        r#""items":[{"sku":"a","qty":1}]"#,
        1,
    );
    assert_ne!(without_price, records);
    assert_eq!(
        load("without-unit-price", &without_price),
        ("1".into(), vec!["contract".to_owned()])
    );
}

/// Three feeds of different shapes in one run, each under its own prefix of
/// `DIR/source`, and a file under no prefix (issue 17): every table's rows and sum,
/// computed here from the input files, are what `query` returns; the stray file is in
/// the quarantine with its reason, counts as unrouted in `reconcile`, which passes,
/// and fails the run loudly; a second run changes nothing.
#[test]
fn three_feeds_in_one_run_each_reach_their_own_table() {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("w");
    let source = work.join("source");
    for sub in ["orders/2026", "customers", "loyalty/points", "misc"] {
        std::fs::create_dir_all(source.join(sub)).unwrap();
    }
    // Orders: the sample feed with drift, in a sub-folder of its prefix.
    let orders = feed(&source.join("orders/2026"), "o1.jsonl", 1500, 11);
    // Customers: nested objects, a malformed line, partitioned by a nested field.
    let mut customers = String::new();
    let mut age_sum = 0i64;
    for i in 0..400i64 {
        age_sum += 18 + i % 60;
        customers.push_str(&format!(
            "{{\"id\":\"c{i}\",\"age\":{},\"profile\":{{\"region\":\"{}\",\"tags\":[\"a\",\"b\"]}}}}\n",
            18 + i % 60,
            ["eu", "us", "apac"][i as usize % 3]
        ));
    }
    customers.push_str("{\"id\": \"broken\n");
    std::fs::write(source.join("customers/all.jsonl"), customers).unwrap();
    // Loyalty points: a gzip JSON array whose event time picks the day.
    let points: Vec<serde_json::Value> = (0..300)
        .map(|i| {
            serde_json::json!({
                "customer": format!("c{}", i % 400),
                "points": i * 3,
                "earned_at": format!("2026-11-{:02}T08:00:00Z", 1 + i % 10),
            })
        })
        .collect();
    let points_sum: i64 = (0..300).map(|i| i * 3).sum();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(serde_json::to_string(&points).unwrap().as_bytes())
        .unwrap();
    std::fs::write(
        source.join("loyalty/points/p.json.gz"),
        gz.finish().unwrap(),
    )
    .unwrap();
    std::fs::write(source.join("misc/stray.jsonl"), "{\"a\": 1}\n").unwrap();
    let feeds = dir.path().join("feeds.toml");
    std::fs::write(
        &feeds,
        r#"
[[feeds]]
table = "orders"
prefix = "orders/"
partition_key = "customer_id"

[[feeds]]
table = "customers"
prefix = "customers/"
partition_key = "profile.region"

[[feeds]]
table = "points"
prefix = "loyalty/points/"
event_time = "earned_at"
"#,
    )
    .unwrap();

    let args = ["local", "--workdir", s(&work), "--feeds", s(&feeds)];
    let out = run(&args);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "a file of no feed fails the run"
    );
    assert!(
        stderr.contains("error: misc/stray.jsonl belongs to no feed of"),
        "{stderr}"
    );
    assert!(
        stdout.contains("reconcile: OK, every source record is loaded once or quarantined"),
        "{stdout}"
    );
    assert!(stdout.contains("unrouted, quarantined whole: no feed for key `misc/stray.jsonl`"));
    // Reconcile names each file by its path below the source folder.
    for file in [
        "customers/all.jsonl ",
        "loyalty/points/p.json.gz ",
        "orders/2026/o1.jsonl ",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(file) && l.ends_with("  ok")),
            "{file}: {stdout}"
        );
    }
    for table in ["orders", "customers", "points"] {
        assert!(work.join(format!("contracts/{table}.json")).exists());
    }

    let curated = work.join("curated");
    let days = expected(&[&orders]);
    let orders_count: u64 = days.values().map(|d| d.0).sum();
    let orders_cents: i64 = days.values().map(|d| d.1).sum();
    assert_eq!(
        scalar(
            &curated,
            "SELECT count(*), CAST(sum(total) * 100 AS BIGINT) FROM orders"
        ),
        format!("{orders_count},{orders_cents}")
    );
    assert_eq!(
        scalar(&curated, "SELECT count(*), sum(age) FROM customers"),
        format!("400,{age_sum}")
    );
    assert_eq!(
        scalar(
            &curated,
            "SELECT count(*), sum(points), count(DISTINCT dt) FROM points"
        ),
        format!("300,{points_sum},10")
    );
    // The stray file: one quarantine entry, with the reason.
    let entries: Vec<serde_json::Value> = walk(&work.join("quarantine"))
        .iter()
        .flat_map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect();
    let unrouted: Vec<_> = entries.iter().filter(|e| e["kind"] == "unrouted").collect();
    assert_eq!(unrouted.len(), 1, "{entries:?}");
    assert!(
        unrouted[0]["source"]
            .as_str()
            .unwrap()
            .ends_with("misc/stray.jsonl")
    );
    assert!(
        unrouted[0]["error"]
            .as_str()
            .unwrap()
            .contains("no feed for key `misc/stray.jsonl`")
    );

    // A second run: nothing changes.
    let snapshot = |dir: &Path| -> Vec<(PathBuf, Vec<u8>)> {
        ["curated", "quarantine"]
            .iter()
            .flat_map(|d| walk(&dir.join(d)))
            .map(|p| (p.clone(), std::fs::read(&p).unwrap()))
            .collect()
    };
    let before = snapshot(&work);
    let again = run(&args);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stdout).contains("reconcile: OK"));
    assert_eq!(snapshot(&work), before);

    // The backfill of the same raw objects, one object per file as the Lambda
    // writes them: every table's files byte for byte; with --table, that table's only.
    let contracts = work.join("contracts");
    let pinned = dir.path().join("pinned.toml");
    std::fs::write(
        &pinned,
        std::fs::read_to_string(&feeds)
            .unwrap()
            .replace(
                "prefix = \"orders/\"",
                &format!(
                    "prefix = \"orders/\"\ncontract = \"{}/orders.json\"",
                    s(&contracts)
                ),
            )
            .replace(
                "prefix = \"customers/\"",
                &format!(
                    "prefix = \"customers/\"\ncontract = \"{}/customers.json\"",
                    s(&contracts)
                ),
            )
            .replace(
                "prefix = \"loyalty/points/\"",
                &format!(
                    "prefix = \"loyalty/points/\"\ncontract = \"{}/points.json\"",
                    s(&contracts)
                ),
            ),
    )
    .unwrap();
    let backfill = |out: &str, table: Option<&str>| {
        let (curated, quarantine) = (dir.path().join(out), dir.path().join(format!("{out}-q")));
        let raw = work.join("raw");
        let mut args = vec![
            "convert",
            "--feeds",
            s(&pinned),
            "--input",
            s(&raw),
            "--output",
            s(&curated),
            "--quarantine",
            s(&quarantine),
            "--source-root",
            s(&source),
            "--target-file-size",
            "0",
        ];
        if let Some(table) = table {
            args.extend(["--table", table]);
        }
        assert!(run(&args).status.success());
        walk(&curated)
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
            .map(|p| {
                let rel = p.strip_prefix(&curated).unwrap().to_owned();
                (rel, std::fs::read(&p).unwrap())
            })
            .collect::<Vec<_>>()
    };
    let local_files: Vec<_> = walk(&curated)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "parquet"))
        .map(|p| {
            (
                p.strip_prefix(&curated).unwrap().to_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect();
    assert_eq!(backfill("all", None), local_files);
    let customers_only = backfill("one", Some("customers"));
    assert!(!customers_only.is_empty());
    assert!(
        customers_only
            .iter()
            .all(|(p, _)| p.starts_with("customers"))
    );
    assert_eq!(
        customers_only,
        local_files
            .into_iter()
            .filter(|(p, _)| p.starts_with("customers"))
            .collect::<Vec<_>>()
    );
}
