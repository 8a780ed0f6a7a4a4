use std::io::Write;

use flate2::Compression;
use flate2::write::GzEncoder;

use super::*;

/// What a reader yielded, owned: (line, bytes, the reason when bad).
type Items = Vec<(u64, Vec<u8>, Option<String>)>;

/// Everything a reader yields, owned: (line, bytes, Some(reason) when bad).
fn read_all(input: Vec<u8>, keep_limit: usize) -> (FeedFormat, bool, Items) {
    let mut reader =
        FeedReader::new(open_feed(std::io::Cursor::new(input)).unwrap(), keep_limit).unwrap();
    let mut out = Vec::new();
    while let Some(item) = reader.next_item().unwrap() {
        match item {
            FeedItem::Record { line, bytes } => out.push((line, bytes.to_vec(), None)),
            FeedItem::Bad {
                line,
                bytes,
                reason,
                ..
            } => out.push((line, bytes.to_vec(), Some(reason))),
        }
    }
    (reader.format(), reader.gzip(), out)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::fast());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

fn rec(line: u64, s: &str) -> (u64, Vec<u8>, Option<String>) {
    (line, s.as_bytes().to_vec(), None)
}

#[test]
fn json_lines_keep_bytes_and_count_blank_lines() {
    let (format, gz, items) = read_all(b"{\"a\": 1.50}\n\n   \n{\"b\":\"x y\"}\n".to_vec(), 1024);
    assert_eq!(format, FeedFormat::JsonLines);
    assert!(!gz);
    assert_eq!(
        items,
        vec![rec(1, "{\"a\": 1.50}"), rec(4, "{\"b\":\"x y\"}")]
    );
}

#[test]
fn last_line_without_newline_is_read() {
    let (_, _, items) = read_all(b"{\"a\":1}\n{\"b\":2}".to_vec(), 1024);
    assert_eq!(items, vec![rec(1, "{\"a\":1}"), rec(2, "{\"b\":2}")]);
}

#[test]
fn crlf_line_endings_are_accepted() {
    let (_, _, items) = read_all(b"{\"a\":1}\r\n{\"b\":2}\r\n\r\n".to_vec(), 1024);
    assert_eq!(items, vec![rec(1, "{\"a\":1}"), rec(2, "{\"b\":2}")]);
}

#[test]
fn byte_order_mark_is_skipped() {
    let (_, _, items) = read_all(b"\xEF\xBB\xBF{\"a\":1}\n".to_vec(), 1024);
    assert_eq!(items, vec![rec(1, "{\"a\":1}")]);
    let (format, _, items) = read_all(b"\xEF\xBB\xBF[{\"a\":1}]".to_vec(), 1024);
    assert_eq!(format, FeedFormat::JsonArray);
    assert_eq!(items, vec![rec(1, "{\"a\":1}")]);
}

#[test]
fn empty_and_blank_files_have_no_records() {
    for input in [&b""[..], b"\n\n\n", b"  \r\n \t\n"] {
        let (format, _, items) = read_all(input.to_vec(), 1024);
        assert_eq!(format, FeedFormat::JsonLines);
        assert!(items.is_empty(), "{input:?} gave {items:?}");
    }
}

#[test]
fn gzip_is_detected_by_magic_bytes_not_name() {
    let (format, gz, items) = read_all(gzip(b"{\"a\":1}\n{\"b\":2}\n"), 1024);
    assert!(gz);
    assert_eq!(format, FeedFormat::JsonLines);
    assert_eq!(items, vec![rec(1, "{\"a\":1}"), rec(2, "{\"b\":2}")]);
    let (format, gz, items) = read_all(gzip(b"[{\"a\":1},{\"b\":2}]"), 1024);
    assert!(gz);
    assert_eq!(format, FeedFormat::JsonArray);
    assert_eq!(items.len(), 2);
}

#[test]
fn concatenated_gzip_members_are_one_feed() {
    let mut both = gzip(b"{\"a\":1}\n");
    both.extend(gzip(b"{\"b\":2}\n"));
    let (_, _, items) = read_all(both, 1024);
    assert_eq!(items, vec![rec(1, "{\"a\":1}"), rec(2, "{\"b\":2}")]);
}

#[test]
fn truncated_gzip_keeps_what_came_before_and_reports_the_rest() {
    let body: String = (1..=2000)
        .map(|i| format!("{{\"n\":{i},\"pad\":\"{}\"}}\n", "x".repeat(i % 50)))
        .collect();
    let full = gzip(body.as_bytes());
    let cut = full[..full.len() * 2 / 3].to_vec();
    let (_, gz, items) = read_all(cut, 1 << 20);
    assert!(gz);
    let (good, bad): (Vec<_>, Vec<_>) = items.iter().partition(|i| i.2.is_none());
    assert!(
        good.len() > 100,
        "records before the cut are read, got {}",
        good.len()
    );
    assert!(good.iter().enumerate().all(|(i, r)| r.0 == i as u64 + 1));
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].0, good.len() as u64 + 1);
    assert!(
        bad[0]
            .2
            .as_deref()
            .unwrap()
            .contains("gzip stream is corrupt or truncated"),
        "{bad:?}"
    );
}

#[test]
fn a_line_longer_than_the_limit_is_bad_and_the_next_line_still_reads() {
    let mut input = b"{\"a\":1}\n{\"big\":\"".to_vec();
    input.extend(std::iter::repeat_n(b'x', 5000));
    input.extend(b"\"}\n{\"c\":3}\n");
    let (_, _, items) = read_all(input, 100);
    assert_eq!(items.len(), 3);
    assert_eq!(items[0], rec(1, "{\"a\":1}"));
    assert_eq!(items[1].0, 2);
    assert_eq!(
        items[1].1.len(),
        100,
        "only the first keep_limit bytes are kept"
    );
    assert!(
        items[1].2.as_deref().unwrap().contains("5010 bytes"),
        "{:?}",
        items[1].2
    );
    assert_eq!(items[2], rec(3, "{\"c\":3}"));
}

#[test]
fn pretty_printed_arrays_yield_elements_by_index() {
    let input = b"[\n  {\"a\": \"x, ] y\"},\n  {\"b\": [1, {\"c\": \"}\"}]}\n]\n";
    let (format, _, items) = read_all(input.to_vec(), 1024);
    assert_eq!(format, FeedFormat::JsonArray);
    assert_eq!(
        items,
        vec![
            rec(1, "{\"a\": \"x, ] y\"}"),
            rec(2, "{\"b\": [1, {\"c\": \"}\"}]}")
        ]
    );
}

#[test]
fn escaped_quotes_inside_strings_do_not_end_them() {
    let input = br#"[{"a":"he said \"]\", ok"},{"b":"\\"}]"#;
    let (_, _, items) = read_all(input.to_vec(), 1024);
    assert_eq!(
        items,
        vec![
            rec(1, r#"{"a":"he said \"]\", ok"}"#),
            rec(2, r#"{"b":"\\"}"#)
        ]
    );
}

#[test]
fn empty_array_has_no_records() {
    let (format, _, items) = read_all(b"  [ ]  \n".to_vec(), 1024);
    assert_eq!(format, FeedFormat::JsonArray);
    assert!(items.is_empty());
}

#[test]
fn trailing_comma_in_an_array_is_reported_after_the_good_elements() {
    let (_, _, items) = read_all(b"[{\"a\":1},\n{\"b\":2},\n]".to_vec(), 1024);
    assert_eq!(items.len(), 3);
    assert_eq!(items[..2], [rec(1, "{\"a\":1}"), rec(2, "{\"b\":2}")]);
    assert_eq!(items[2].0, 3);
    assert!(
        items[2]
            .2
            .as_deref()
            .unwrap()
            .contains("trailing comma before `]` on text line 3")
    );
}

#[test]
fn unterminated_array_reports_the_last_element() {
    let (_, _, items) = read_all(b"[{\"a\":1},{\"b\":".to_vec(), 1024);
    assert_eq!(items[0], rec(1, "{\"a\":1}"));
    assert_eq!(items[1].0, 2);
    assert_eq!(items[1].1, b"{\"b\":");
    assert!(
        items[1]
            .2
            .as_deref()
            .unwrap()
            .contains("file ends inside array element 2")
    );
}

#[test]
fn data_after_the_array_is_reported() {
    // (A one-line array followed by more lines is JSON lines, by the format rule; an
    // array over several lines is the whole feed, and what follows it is bad.)
    let (format, _, items) = read_all(b"[{\"a\":1},\n{\"c\":3}]\n{\"b\":2}\n".to_vec(), 1024);
    assert_eq!(format, FeedFormat::JsonArray);
    assert_eq!(items[0], rec(1, "{\"a\":1}"));
    assert_eq!(items[1], rec(2, "{\"c\":3}"));
    let items = items[1..].to_vec();
    assert_eq!(items[1].1, b"{\"b\":2}\n");
    assert!(
        items[1]
            .2
            .as_deref()
            .unwrap()
            .contains("after the closing `]`")
    );
}

#[test]
fn invalid_utf8_is_passed_on_as_bytes_for_the_framer_to_judge() {
    let (_, _, items) = read_all(b"{\"a\":\"\xff\"}\n{\"b\":1}\n".to_vec(), 1024);
    assert_eq!(items[0], (1, b"{\"a\":\"\xff\"}".to_vec(), None));
    assert_eq!(items[1], rec(2, "{\"b\":1}"));
}

#[test]
fn source_errors_are_errors_not_bad_records() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            if self.0 == 0 {
                return Err(io::Error::other("connection reset"));
            }
            let line = b"{\"a\":1}\n";
            self.0 -= 1;
            buf[..line.len()].copy_from_slice(line);
            Ok(line.len())
        }
    }
    let mut reader = FeedReader::new(open_feed(Failing(3)).unwrap(), 1024).unwrap();
    let mut good = 0;
    let err = loop {
        match reader.next_item() {
            Ok(Some(FeedItem::Record { .. })) => good += 1,
            Ok(other) => panic!("unexpected {other:?}"),
            Err(e) => break e,
        }
    };
    assert_eq!(good, 3);
    assert_eq!(err.line, 3);
    assert!(err.to_string().contains("connection reset"));
}

#[test]
fn a_generated_feed_as_an_array_yields_every_record() {
    let mut plain = Vec::new();
    let stats = feedpipe_sample::write_feed(
        &mut plain,
        &feedpipe_sample::SampleOptions {
            rows: 3000,
            ..Default::default()
        },
    )
    .unwrap();
    let lines: Vec<&[u8]> = plain
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    let array = [b"[".to_vec(), lines.join(&b",\n"[..]), b"]".to_vec()].concat();
    let (_, _, items) = read_all(array, 1 << 20);
    let bad: Vec<_> = items.iter().filter(|i| i.2.is_some()).take(1).collect();
    assert!(
        bad.is_empty(),
        "{:?}",
        bad.first().map(|b| (
            b.0,
            String::from_utf8_lossy(&b.1[..200.min(b.1.len())]).into_owned(),
            b.2.clone()
        ))
    );
    assert_eq!(items.len() as u64, stats.good);
    for (item, line) in items.iter().zip(&lines) {
        assert_eq!(&item.1[..], *line);
    }
}

#[test]
fn a_first_line_that_is_an_array_does_not_make_json_lines_an_array() {
    // JSON lines whose first record is an array: the array is one bad record (the
    // framer refuses it), and every line after it is read.
    let mut input = b"[1,2,3]\n".to_vec();
    for i in 0..3 {
        input.extend_from_slice(format!("{{\"n\":{i}}}\n").as_bytes());
    }
    let (format, _, items) = read_all(input, 1024);
    assert_eq!(format, FeedFormat::JsonLines);
    assert_eq!(
        items,
        vec![
            rec(1, "[1,2,3]"),
            rec(2, "{\"n\":0}"),
            rec(3, "{\"n\":1}"),
            rec(4, "{\"n\":2}")
        ]
    );
}

#[test]
fn an_array_after_blank_lines_is_still_an_array() {
    let (format, _, items) = read_all(b"\n  \n[{\"a\":1},\n {\"b\":2}]\n".to_vec(), 1024);
    assert_eq!(format, FeedFormat::JsonArray);
    assert_eq!(items, vec![rec(1, "{\"a\":1}"), rec(2, "{\"b\":2}")]);
    // A whole array on one line, and one that opens on a line of its own.
    let (format, _, items) = read_all(b"[{\"a\":1},{\"b\":2}]\n\n".to_vec(), 1024);
    assert_eq!(format, FeedFormat::JsonArray);
    assert_eq!(items.len(), 2);
    let (format, _, items) = read_all(b"[\n{\"a\":1}\n]".to_vec(), 1024);
    assert_eq!(format, FeedFormat::JsonArray);
    assert_eq!(items, vec![rec(1, "{\"a\":1}")]);
}

/// `n` records `{"order_id":"O-i","v":i}` as a JSON array, element `broken` replaced.
fn array_with(n: usize, broken: usize, bad: &str, sep: &str) -> Vec<u8> {
    let elements: Vec<String> = (1..=n)
        .map(|i| {
            if i == broken {
                bad.to_owned()
            } else {
                format!(r#"{{"order_id":"O-{i}","v":{i}}}"#)
            }
        })
        .collect();
    format!("[{}]\n", elements.join(sep)).into_bytes()
}

/// Lines of the good records and (line, bytes) of the bad items.
fn split(items: &Items) -> (Vec<u64>, Vec<(u64, String)>) {
    let good = items
        .iter()
        .filter(|i| i.2.is_none())
        .map(|i| i.0)
        .collect();
    let bad = items
        .iter()
        .filter(|i| i.2.is_some())
        .map(|i| (i.0, String::from_utf8_lossy(&i.1).into_owned()))
        .collect();
    (good, bad)
}

#[test]
fn one_broken_element_of_an_array_is_bad_alone_and_reading_resumes_after_it() {
    let all_but_2: Vec<u64> = (1..=60_000).filter(|l| *l != 2).collect();
    // An extra `[` (never closed), and a stray `"` (every string after it flipped).
    for bad in [
        r#"{"order_id":"O-2","v":[2}"#,
        r#"{"order_id":"O-2","v":"2"x"}"#,
        r#"{"order_id":"O-2","v":"2}"#,
    ] {
        for sep in [",", ",\n  ", " ,\r\n"] {
            let (format, _, items) = read_all(array_with(60_000, 2, bad, sep), 1 << 20);
            assert_eq!(format, FeedFormat::JsonArray);
            let (good, broken) = split(&items);
            assert_eq!(broken, vec![(2, bad.to_owned())], "{bad} {sep:?}");
            assert_eq!(good, all_but_2, "{bad} {sep:?}");
            assert_eq!(
                items.last().unwrap().1,
                br#"{"order_id":"O-60000","v":60000}"#
            );
        }
    }
}

#[test]
fn reading_resumes_at_a_record_not_at_an_object_nested_in_the_broken_one() {
    // Element 2 is broken (a `}` closes a `[`, and the last `}` is missing) before a
    // nested array of objects: `{"sku":…}` are not records (their first key is not
    // the records' `"order_id"`).
    let bad = r#"{"order_id":"O-2","v":[2},"items":[{"sku":"A"}, {"sku":"B"}, {"sku":"C"}]"#;
    let (_, _, items) = read_all(array_with(5, 2, bad, ", "), 1 << 20);
    let (good, broken) = split(&items);
    assert_eq!(broken, vec![(2, bad.to_owned())]);
    assert_eq!(good, vec![1, 3, 4, 5]);
    // The first element broken: its own first key says what a record starts with.
    let (_, _, items) = read_all(
        array_with(4, 1, r#"{"order_id":"O-1","v":[1}"#, ","),
        1 << 20,
    );
    assert_eq!(split(&items).0, vec![2, 3, 4]);
}

#[test]
fn a_valid_record_whose_strings_look_like_a_seam_is_never_cut() {
    // Valid JSON: nothing is broken, so nothing is looked for.
    let tricky = r#"{"order_id":"O-2","note":"}, {\"order_id\":\"O-9\"}, ", "n":[{"order_id":1}, {"order_id":2}]}"#;
    let (_, _, items) = read_all(array_with(4, 2, tricky, ","), 1 << 20);
    assert_eq!(split(&items), (vec![1, 2, 3, 4], vec![]));
    assert_eq!(items[1].1, tricky.as_bytes());
}

#[test]
fn an_array_of_broken_elements_is_bad_element_by_element() {
    let elements: Vec<String> = (1..=6)
        .map(|i| {
            if i % 2 == 0 {
                format!(r#"{{"order_id":"O-{i}","v":[{i}}}"#)
            } else {
                format!(r#"{{"order_id":"O-{i}","v":{i}}}"#)
            }
        })
        .collect();
    let input = format!("[{}]", elements.join(",\n")).into_bytes();
    let (_, _, items) = read_all(input.clone(), 1 << 20);
    let (good, broken) = split(&items);
    assert_eq!(good, vec![1, 3, 5]);
    assert_eq!(
        broken.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![2, 4, 6]
    );
    // Every byte is in an item, a separator or whitespace.
    let kept: usize = items.iter().map(|i| i.1.len()).sum();
    let seps = input.iter().filter(|b| b",[]\n".contains(b)).count();
    assert!(
        kept + seps >= input.len(),
        "{kept} + {seps} < {}",
        input.len()
    );
}

#[test]
fn a_broken_element_longer_than_the_keep_limit_is_not_split() {
    // Resuming needs the whole broken element kept; past the limit, the rest of the
    // array is one item (whose bytes the ingest keeps whole in a side object).
    let bad = format!(r#"{{"order_id":"O-2","v":[{}}}"#, "2,".repeat(100));
    let (_, _, items) = read_all(array_with(5, 2, &bad, ","), 100);
    let (good, broken) = split(&items);
    assert_eq!(good, vec![1]);
    assert_eq!(broken.len(), 1);
    assert_eq!(broken[0].0, 2);
}

/// What the byte audit finds once `input` is read to its end, the framing broken by
/// `breaks`.
fn audit_of(input: &[u8], keep_limit: usize, breaks: Breaks) -> audit::AuditReport {
    let mut feed = open_feed(std::io::Cursor::new(input.to_vec()))
        .unwrap()
        .audited();
    feed.breaks = breaks;
    let mut reader = FeedReader::new(feed, keep_limit).unwrap();
    while reader.next_item().unwrap().is_some() {}
    reader.audit().unwrap()
}

#[test]
fn the_byte_audit_passes_every_shape_the_reader_reads_whole() {
    let bads = [
        r#"{"order_id":"O-2","v":[2}"#,
        r#"{"order_id":"O-2","v":"2"x"}"#,
        r#"{"order_id":"O-2","v":"2}"#,
        r#"{"order_id":"O-2","v":[2},"items":[{"sku":"A"}, {"sku":"B"}]"#,
    ];
    let mut cases: Vec<(String, Vec<u8>, usize)> = vec![
        (
            "lines".into(),
            b"{\"a\":1}\r\n\n  \t\n{\"b\":2}".to_vec(),
            1024,
        ),
        ("bom".into(), b"\xEF\xBB\xBF{\"a\":1}\n".to_vec(), 1024),
        ("blank".into(), b"\n\n  \n".to_vec(), 1024),
        (
            "not json".into(),
            b"nope\n{\"a\":\n[1,2]\n]\n".to_vec(),
            1024,
        ),
        (
            "long line".into(),
            [&b"x".repeat(300_000)[..], b"\n{\"a\":1}\n"].concat(),
            100,
        ),
        (
            "first line array".into(),
            b"[1,2,3]\n{\"a\":1}\n".to_vec(),
            1024,
        ),
        (
            "array".into(),
            b"\xEF\xBB\xBF \n[ {\"a\":1} ,\n {\"b\":[1,2]} ]\n".to_vec(),
            1024,
        ),
        ("empty array".into(), b" [ ] ".to_vec(), 1024),
        (
            "trailing comma".into(),
            b"[{\"a\":1},{\"b\":2},]".to_vec(),
            1024,
        ),
        (
            "two commas".into(),
            b"[{\"a\":1},,{\"b\":2}]".to_vec(),
            1024,
        ),
        ("unterminated".into(), b"[{\"a\":1},{\"b\":".to_vec(), 1024),
        (
            "after the array".into(),
            b"[{\"a\":1}] {\"b\":2}\n".to_vec(),
            1024,
        ),
        (
            "big element".into(),
            array_with(5, 2, &format!(r#"{{"v":"{}"}}"#, "x".repeat(300_000)), ","),
            100,
        ),
        (
            "broken past the limit".into(),
            array_with(
                5,
                2,
                &format!(r#"{{"order_id":"O-2","v":[{}}}"#, "2,".repeat(100)),
                ",",
            ),
            100,
        ),
    ];
    for (i, bad) in bads.iter().enumerate() {
        for sep in [",", ",\n  ", " ,\r\n"] {
            cases.push((
                format!("broken {i} {sep:?}"),
                array_with(2_000, 2, bad, sep),
                1 << 20,
            ));
        }
    }
    let gzipped: Vec<_> = cases
        .iter()
        .map(|(name, input, limit)| (format!("{name} (gzip)"), gzip(input), *limit))
        .collect();
    cases.extend(gzipped);
    let mut truncated = gzip(&array_with(2_000, 0, "", ",\n"));
    truncated.truncate(truncated.len() / 2);
    cases.push(("truncated gzip".into(), truncated, 1024));
    for (name, input, limit) in &cases {
        let report = audit_of(input, *limit, Breaks::default());
        assert!(report.ok(), "{name}: {report}");
        assert!(
            report.seen > 0 || input.iter().all(u8::is_ascii_whitespace),
            "{name}"
        );
    }
}

#[test]
fn the_byte_audit_finds_the_bytes_of_a_line_the_reader_skips() {
    let input = b"{\"a\":1}\n{\"b\":22}\n\n{\"c\":3}\n";
    let skip = Breaks {
        skip_line: Some(2),
        ..Breaks::default()
    };
    // The reader says nothing of line 2: its bytes, 8..16, are in no item.
    for input in [input.to_vec(), gzip(input)] {
        let report = audit_of(&input, 1024, skip);
        assert_eq!((report.ranges, report.bytes), (vec![(8, 16)], 8));
    }
    // A line too long to keep, skipped: found without being held.
    let long = [&b"{\"a\":1}\n"[..], &b"y".repeat(300_000), b"\n{\"c\":3}\n"].concat();
    let report = audit_of(&long, 100, skip);
    assert_eq!(report.ranges, vec![(8, 300_008)]);
    // The old framing keeps its items cut, but every byte is in one: what it loses,
    // the quarantine's check finds (the item says `truncated`, and no side object).
    let old = Breaks {
        old: true,
        ..Breaks::default()
    };
    let array = array_with(2_000, 2, r#"{"order_id":"O-2","v":[2}"#, ",");
    assert!(audit_of(&array, 1024, old).ok());
    let mut feed = open_feed(std::io::Cursor::new(array)).unwrap();
    feed.breaks = old;
    let mut reader = FeedReader::new(feed, 1024).unwrap().keep_whole();
    reader.next_item().unwrap();
    match reader.next_item().unwrap() {
        Some(FeedItem::Bad {
            truncated, line, ..
        }) => assert_eq!((truncated, line), (true, 2)),
        other => panic!("{other:?}"),
    }
    assert!(reader.take_overflow().is_none());
    assert!(reader.next_item().unwrap().is_none());
    // And it takes JSON lines whose first line is an array for one array (case 1).
    let lines = b"[1,2,3]\n{\"a\":1}\n{\"b\":2}\n".to_vec();
    let mut feed = open_feed(std::io::Cursor::new(lines.clone())).unwrap();
    feed.breaks = old;
    assert_eq!(
        FeedReader::new(feed, 1024).unwrap().format(),
        FeedFormat::JsonArray
    );
    assert!(audit_of(&lines, 1024, old).ok());
}
