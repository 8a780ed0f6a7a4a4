//! reconcile on a folder of feeds, curated Parquet and a quarantine with every kind of
//! problem, within the default budget and within budgets so small that hundreds of
//! runs are spilled and merged: the same report, and no file left behind.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::array::{Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::parquet::arrow::ArrowWriter;
use feedpipe_shared::feed::audit::AuditReport;
use feedpipe_shared::feed::listing::list_feeds;
use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::quarantine::{QuarantineEntry, RejectKind, Stage, encode_entry};
use feedpipe_shared::storage::{StorageLocation, feed_version};

use super::*;

/// The three folders, and the source files as their records' lineage names them.
struct Fixture {
    root: tempfile::TempDir,
    a: SourceObject,
    b: SourceObject,
}

impl Fixture {
    fn location(&self, name: &str) -> StorageLocation {
        StorageLocation::parse(self.root.path().join(name).to_str().unwrap()).unwrap()
    }

    fn quarantine_uri(&self) -> String {
        self.location("quarantine/ingest/dt=2026-11-23/q-00000.jsonl")
            .uri()
    }
}

/// A curated row: (source, line, record id); `None` for a null column.
type Row = (Option<String>, Option<String>, u64, Option<String>);

fn loaded(object: &SourceObject, line: u64) -> Row {
    (
        Some(object.uri.clone()),
        Some(object.version.clone()),
        line,
        Some(object.record_id(line)),
    )
}

fn write_parquet(path: &Path, rows: &[Row]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let text =
        |f: &dyn Fn(&Row) -> Option<String>| Arc::new(rows.iter().map(f).collect::<StringArray>());
    let schema = Arc::new(Schema::new(vec![
        Field::new("_source_uri", DataType::Utf8, true),
        Field::new("_source_version", DataType::Utf8, true),
        Field::new("_source_line", DataType::Int64, false),
        Field::new("_record_id", DataType::Utf8, true),
    ]));
    let batch = RecordBatch::try_new(
        Arc::clone(&schema),
        vec![
            text(&|r| r.0.clone()),
            text(&|r| r.1.clone()),
            Arc::new(rows.iter().map(|r| r.2 as i64).collect::<Int64Array>()),
            text(&|r| r.3.clone()),
        ],
    )
    .unwrap();
    let mut writer =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
}

fn quarantined(
    out: &mut Vec<u8>,
    stage: Stage,
    source: &SourceObject,
    line: u64,
    kind: RejectKind,
    raw: &str,
) {
    let entry = QuarantineEntry {
        kind,
        error: format!("{kind:?} at {line}"),
        line,
        raw: Bytes::copy_from_slice(raw.as_bytes()),
        truncated: false,
        span: None,
    };
    encode_entry(out, stage, source, &entry);
}

/// - `a.jsonl`: 300 records on lines 1 to 301 (line 50 blank, line 60 malformed);
///   34 missing (5, 17, 42, 100 to 130), 34 loaded more than once (7, 8, 200 to 230
///   twice, 9 three times), 10 and 11 loaded and quarantined as bad, 60 quarantined.
/// - `b.jsonl`: 100 records; 3 and 4 quarantined as bad, 5 undelivered, 6
///   undelivered and then loaded after all.
/// - curated rows of no source record: 3 of an older version of `a.jsonl`, one with a
///   null id and one with an id that is not hex (from `file:///gone.jsonl`), one with
///   only an unknown id.
/// - quarantine entries of no source record: two from `file:///nowhere.jsonl`, one
///   convert entry whose raw record lost its lineage; one line that is no entry.
async fn fixture() -> Fixture {
    let root = tempfile::Builder::new()
        .prefix("reconcile-test-")
        .tempdir()
        .unwrap();
    let source = root.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    let mut a = String::new();
    for line in 1..=301u64 {
        match line {
            50 => a.push('\n'),
            60 => a.push_str("{\"n\":\n"),
            _ => a.push_str(&format!("{{\"n\":{line}}}\n")),
        }
    }
    std::fs::write(source.join("a.jsonl"), a).unwrap();
    let b: String = (1..=100).map(|n| format!("{{\"n\":{n}}}\n")).collect();
    std::fs::write(source.join("b.jsonl"), b).unwrap();

    // The lineage the pipeline would give them, by the same listing and versions.
    let location = StorageLocation::parse(source.to_str().unwrap()).unwrap();
    let mut objects = Vec::new();
    for (file, meta) in list_feeds(&location).await.unwrap().feeds {
        objects.push(SourceObject {
            uri: file.uri(),
            version: feed_version(&file, &meta, None).await.unwrap(),
        });
    }
    let [a, b] = <[SourceObject; 2]>::try_from(objects).unwrap();

    let mut rows = Vec::new();
    let missing = |l: u64| [5, 17, 42].contains(&l) || (100..=130).contains(&l);
    for line in (1..=301).filter(|&l| l != 50 && l != 60 && !missing(l)) {
        let times = match line {
            9 => 3,
            7 | 8 | 200..=230 => 2,
            _ => 1,
        };
        for _ in 0..times {
            rows.push(loaded(&a, line));
        }
    }
    for line in (1..=100).filter(|l| ![3, 4, 5].contains(l)) {
        rows.push(loaded(&b, line));
    }
    let older = SourceObject {
        uri: a.uri.clone(),
        version: "sha256-older".into(),
    };
    rows.extend((1..=3).map(|line| loaded(&older, line)));
    let gone = || Some("file:///gone.jsonl".to_owned());
    rows.push((gone(), Some("v".into()), 1, None));
    rows.push((gone(), Some("v".into()), 2, Some("not hex".into())));
    rows.push((
        None,
        None,
        0,
        Some("0123456789abcdef0123456789abcdef".into()),
    ));
    // Two files, so the rows arrive in more than one batch.
    let half = rows.len() / 2;
    let table = root.path().join("curated/feed/dt=2026-11-23");
    write_parquet(&table.join("one.parquet"), &rows[..half]);
    write_parquet(&table.join("two.parquet"), &rows[half..]);

    let nowhere = SourceObject {
        uri: "file:///nowhere.jsonl".into(),
        version: "v".into(),
    };
    let raw = SourceObject {
        uri: "file:///raw/2026/11/23/10/x".into(),
        version: "r".into(),
    };
    let mut q = Vec::new();
    let bad = RejectKind::Malformed;
    let undelivered = RejectKind::Undelivered;
    quarantined(&mut q, Stage::Ingest, &a, 10, bad, "{}");
    quarantined(&mut q, Stage::Ingest, &nowhere, 1, bad, "{");
    quarantined(&mut q, Stage::Ingest, &a, 11, RejectKind::NotAnObject, "1");
    quarantined(
        &mut q,
        Stage::Convert,
        &raw,
        4,
        RejectKind::Contract,
        "{\"no\":\"lineage\"}",
    );
    quarantined(&mut q, Stage::Ingest, &a, 60, bad, "{\"n\":");
    q.extend_from_slice(b"this is no quarantine record\n");
    quarantined(&mut q, Stage::Ingest, &b, 3, bad, "{");
    quarantined(&mut q, Stage::Ingest, &b, 4, bad, "{");
    quarantined(&mut q, Stage::Ingest, &b, 5, undelivered, "{\"n\":5}");
    quarantined(&mut q, Stage::Ingest, &nowhere, 2, undelivered, "{}");
    quarantined(&mut q, Stage::Ingest, &b, 6, undelivered, "{\"n\":6}");
    let part = root.path().join("quarantine/ingest/dt=2026-11-23");
    std::fs::create_dir_all(&part).unwrap();
    std::fs::write(part.join("q-00000.jsonl"), q).unwrap();
    Fixture { root, a, b }
}

async fn run_on(
    fixture: &Fixture,
    budget: usize,
    spill: &Path,
) -> Result<(Report, SpillStats), ReconcileError> {
    let options = ReconcileOptions {
        memory_budget: budget,
        spill_dir: Some(spill.to_owned()),
    };
    run(
        &fixture.location("source"),
        &fixture.location("curated"),
        Some(&fixture.location("quarantine")),
        &options,
    )
    .await
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir).unwrap().collect();
    assert!(left.is_empty(), "left behind: {left:?}");
}

#[tokio::test]
async fn spilled_runs_give_the_report_of_the_in_memory_path() {
    let fixture = fixture().await;
    let spill = tempfile::tempdir().unwrap();
    let (report, stats) = run_on(
        &fixture,
        ReconcileOptions::DEFAULT_MEMORY_BUDGET,
        spill.path(),
    )
    .await
    .unwrap();
    assert_eq!(stats, SpillStats::default(), "small input stays in memory");
    assert_empty(spill.path());

    // What the fixture holds, counted by hand.
    let (a, b) = (&fixture.a, &fixture.b);
    let lines = |r: std::ops::RangeInclusive<u64>, before: &[u64]| -> Vec<u64> {
        before.iter().copied().chain(r).take(20).collect()
    };
    // Every byte of both files lies in a record or is a line ending.
    let audit = |uri: &str| AuditReport {
        seen: std::fs::metadata(uri.strip_prefix("file://").unwrap())
            .unwrap()
            .len(),
        ..Default::default()
    };
    let expected_a = FileReport {
        uri: a.uri.clone(),
        version: a.version.clone(),
        read: 300,
        loaded: 265,
        quarantined: 1,
        undelivered: 0,
        missing: lines(100..=130, &[5, 17, 42]),
        missing_count: 34,
        duplicated: lines(200..=230, &[7, 8, 9]),
        duplicated_count: 34,
        conflicting: vec![10, 11],
        conflicting_count: 2,
        unaccounted: audit(&a.uri),
        error: None,
        unrouted: None,
    };
    let expected_b = FileReport {
        uri: b.uri.clone(),
        version: b.version.clone(),
        read: 100,
        loaded: 97,
        quarantined: 3,
        undelivered: 1,
        unaccounted: audit(&b.uri),
        ..Default::default()
    };
    assert_eq!(report.files, [expected_a, expected_b]);
    let unexpected: BTreeMap<(String, String), u64> = [
        ((a.uri.clone(), "sha256-older".to_owned()), 3),
        (("file:///gone.jsonl".to_owned(), "v".to_owned()), 2),
        ((String::new(), String::new()), 1),
    ]
    .into();
    assert_eq!(report.unexpected, unexpected);
    let q = fixture.quarantine_uri();
    let unattributed: Vec<(String, u64)> = report
        .unattributed
        .iter()
        .map(|(uri, line, _)| (uri.clone(), *line))
        .collect();
    assert_eq!(
        unattributed,
        [(q.clone(), 2), (q.clone(), 4), (q.clone(), 10)]
    );
    assert!(
        report.unattributed[0]
            .2
            .contains("file:///nowhere.jsonl line 1")
    );
    assert_eq!(report.unreadable.len(), 1);
    assert_eq!(report.unreadable[0].1, 6);
    assert_eq!(
        (report.curated_rows, report.quarantine_entries),
        (300 + 97 + 6, 11)
    );
    assert!(!report.ok());

    // Budgets of 8 and of 100 entries: hundreds of runs and merges of merges, or a few.
    for budget in [256, 3200] {
        let (spilled, stats) = run_on(&fixture, budget, spill.path()).await.unwrap();
        assert!(stats.runs > 1 && stats.bytes > 0, "{budget}: {stats:?}");
        assert_eq!(spilled, report, "budget {budget}");
        assert_eq!(spilled.render(), report.render());
        assert_empty(spill.path());
    }
}

#[tokio::test]
async fn a_clean_run_spilled_is_ok_as_in_memory() {
    let fixture = fixture().await;
    // Only what matches: drop the curated and quarantine problems.
    let curated = fixture.root.path().join("curated/feed/dt=2026-11-23");
    std::fs::remove_dir_all(&curated).unwrap();
    let mut rows = Vec::new();
    for line in (1..=301).filter(|&l| l != 50 && l != 60) {
        rows.push(loaded(&fixture.a, line));
    }
    rows.extend((1..=100).map(|line| loaded(&fixture.b, line)));
    write_parquet(&curated.join("all.parquet"), &rows);
    let mut q = Vec::new();
    quarantined(
        &mut q,
        Stage::Ingest,
        &fixture.a,
        60,
        RejectKind::Malformed,
        "{",
    );
    let part = fixture.root.path().join("quarantine/ingest/dt=2026-11-23");
    std::fs::write(part.join("q-00000.jsonl"), q).unwrap();

    let spill = tempfile::tempdir().unwrap();
    let (memory, _) = run_on(&fixture, 1 << 20, spill.path()).await.unwrap();
    let (spilled, stats) = run_on(&fixture, 512, spill.path()).await.unwrap();
    assert!(stats.runs > 1);
    assert!(memory.ok(), "{}", memory.render());
    assert_eq!(spilled, memory);
    assert_eq!(memory.totals(), (400, 399, 1));
    assert_empty(spill.path());
}

#[tokio::test]
async fn spilled_runs_are_removed_when_reconcile_fails() {
    let fixture = fixture().await;
    // A curated file that is no Parquet: the query fails after every source record
    // was spilled.
    let table = fixture.root.path().join("curated/feed/dt=2026-11-23");
    std::fs::write(table.join("broken.parquet"), b"not parquet at all").unwrap();
    let spill = tempfile::tempdir().unwrap();
    let failed = run_on(&fixture, 256, spill.path()).await;
    assert!(
        matches!(failed, Err(ReconcileError::Query(_))),
        "{failed:?}"
    );
    assert_empty(spill.path());

    // A spill folder that cannot be created: an error naming it, not a panic.
    let missing = spill.path().join("no/such/folder");
    let failed = run_on(&fixture, 256, &missing).await;
    match failed {
        Err(ReconcileError::Spill { dir, .. }) => assert_eq!(dir, missing.display().to_string()),
        other => panic!("{other:?}"),
    }
}

/// No byte kept nowhere: a record past the keep limit quarantined cut, as the writer
/// did before side objects (`QuarantineBuffer::push` of a cut entry), fails reconcile
/// with its file and line; kept whole (`push_whole`: its side object beside the parts)
/// it passes; and if that side object goes missing, reconcile fails again, naming it.
#[tokio::test]
async fn a_record_quarantined_cut_with_no_side_object_fails_reconcile() {
    use std::io::Write;

    use feedpipe_shared::feed::Overflow;
    use feedpipe_shared::quarantine::{ObjectStoreQuarantine, QuarantineBuffer};

    let root = tempfile::tempdir().unwrap();
    let source_dir = root.path().join("source");
    std::fs::create_dir_all(&source_dir).unwrap();
    let long = format!("{{\"n\":\"{}\"", "x".repeat(5_000));
    std::fs::write(
        source_dir.join("long.jsonl"),
        format!("{{\"n\":1}}\n{long}\n{{\"n\":3}}\n"),
    )
    .unwrap();
    let at = |p: &Path| StorageLocation::parse(p.to_str().unwrap()).unwrap();
    let source = at(&source_dir);
    let (file, meta) = list_feeds(&source).await.unwrap().feeds.remove(0);
    let object = SourceObject {
        uri: file.uri(),
        version: feed_version(&file, &meta, None).await.unwrap(),
    };
    write_parquet(
        &root.path().join("curated/feed/dt=2026-11-23/one.parquet"),
        &[loaded(&object, 1), loaded(&object, 3)],
    );
    let curated = at(&root.path().join("curated"));
    let quarantine = at(&root.path().join("quarantine"));
    let cut = QuarantineEntry {
        kind: RejectKind::TooLarge,
        error: "line of 5007 bytes is longer than the 1000 bytes a record may have".into(),
        line: 2,
        raw: Bytes::copy_from_slice(&long.as_bytes()[..1_000]),
        truncated: true,
        span: None,
    };
    let buffer = || {
        QuarantineBuffer::new(
            Arc::new(ObjectStoreQuarantine::new(quarantine.clone())),
            Stage::Ingest,
            object.clone(),
            chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(),
            "",
            1 << 20,
        )
    };

    // Before side objects: the entry keeps the first 1000 bytes, the rest nowhere.
    let mut old = buffer();
    old.push(&cut).await.unwrap();
    old.finish().await.unwrap();
    let report = reconcile(&source, &curated, Some(&quarantine))
        .await
        .unwrap();
    assert!(!report.ok(), "{}", report.render());
    assert_eq!(report.lost_bytes.len(), 1, "{}", report.render());
    let lost = &report.lost_bytes[0].2;
    assert!(
        lost.contains("long.jsonl line 2") && lost.contains("first 1000 bytes"),
        "{lost}"
    );
    assert!(report.render().contains("bytes kept nowhere"));

    // Now: the bytes past the limit go to the side object, which the entry names.
    let mut rest = tempfile::tempfile().unwrap();
    rest.write_all(&long.as_bytes()[1_000..]).unwrap();
    let mut new = buffer();
    let overflow = Overflow {
        file: rest,
        len: (long.len() - 1_000) as u64,
    };
    new.push_whole(&cut, overflow).await.unwrap();
    new.finish().await.unwrap(); // the same part name: the old entry is replaced
    let report = reconcile(&source, &curated, Some(&quarantine))
        .await
        .unwrap();
    assert!(report.ok(), "{}", report.render());
    let side: Vec<_> = walk_files(&root.path().join("quarantine"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "raw"))
        .collect();
    assert_eq!(side.len(), 1);
    assert_eq!(std::fs::read(&side[0]).unwrap(), long.as_bytes());

    // The side object lost: the record's tail is kept nowhere again.
    std::fs::remove_file(&side[0]).unwrap();
    let report = reconcile(&source, &curated, Some(&quarantine))
        .await
        .unwrap();
    assert!(!report.ok());
    assert!(
        report.lost_bytes[0].2.contains("cannot be read"),
        "{}",
        report.render()
    );
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk_files(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// A file quarantined whole as unrouted (no feed takes its key) is reported as such and
/// its records are not missing; without that entry, they are.
#[tokio::test]
async fn a_file_quarantined_whole_as_unrouted_is_reported_unrouted_not_missing() {
    let root = tempfile::tempdir().unwrap();
    let at = |name: &str| StorageLocation::parse(root.path().join(name).to_str().unwrap()).unwrap();
    let source_dir = root.path().join("source");
    std::fs::create_dir_all(&source_dir).unwrap();
    std::fs::write(source_dir.join("loyalty.jsonl"), "{\"n\":1}\n{\"n\":2}\n").unwrap();
    std::fs::create_dir_all(root.path().join("curated")).unwrap();
    let source = at("source");
    let (file, meta) = list_feeds(&source).await.unwrap().feeds.remove(0);
    let object = SourceObject {
        uri: file.uri(),
        version: feed_version(&file, &meta, None).await.unwrap(),
    };
    let (curated, quarantine) = (at("curated"), at("quarantine"));
    let report = reconcile(&source, &curated, Some(&quarantine))
        .await
        .unwrap();
    assert!(!report.ok());
    assert_eq!(report.files[0].missing_count, 2);

    let mut q = Vec::new();
    let entry = QuarantineEntry {
        kind: RejectKind::Unrouted,
        error: "no feed for key `loyalty.jsonl`".into(),
        line: 0,
        raw: Bytes::new(),
        truncated: false,
        span: None,
    };
    encode_entry(&mut q, Stage::Ingest, &object, &entry);
    let part = root
        .path()
        .join("quarantine/ingest/dt=2026-11-23/loyalty-00000.jsonl");
    std::fs::create_dir_all(part.parent().unwrap()).unwrap();
    std::fs::write(&part, &q).unwrap();
    let report = reconcile(&source, &curated, Some(&quarantine))
        .await
        .unwrap();
    assert!(report.ok(), "{}", report.render());
    let f = &report.files[0];
    assert_eq!(
        f.unrouted.as_deref(),
        Some("no feed for key `loyalty.jsonl`")
    );
    assert_eq!((f.read, f.missing_count), (0, 0));
    assert!(report.unattributed.is_empty(), "{:?}", report.unattributed);
    assert!(
        report
            .render()
            .contains("unrouted, quarantined whole: no feed for key `loyalty.jsonl`"),
        "{}",
        report.render()
    );
}
