//! What Snowflake would refuse, caught before it reaches the Parquet. The pipe loads
//! with `ON_ERROR = SKIP_FILE`, so one value its loader refuses would drop a whole
//! curated file; one that `PARSE_JSON` refuses would fail the analysts' queries of that
//! row. Such a record is quarantined with the reason instead (sql/README.md, "What
//! Snowflake's loader refuses or changes"):
//! - a string longer than a VARCHAR holds: 16,777,216 bytes (a column declared without
//!   a length holds 16,777,216 characters, and tables created before bundle 2026_03
//!   cap such columns at 16,777,216 bytes; bytes bound characters, so this is safe for
//!   both);
//! - JSON text (`_extra`, `json` columns, loaded into VARIANT columns as strings and
//!   read with `PARSE_JSON`) over the same size, with a key twice in one object at any
//!   depth (`PARSE_JSON` refuses duplicate keys by default), or with a lone UTF-16
//!   surrogate escape (`"\ud800"`: no Unicode text holds it).

use std::collections::HashSet;

use super::{DecodeError, FieldPath, fail};

/// The most bytes a value of a VARCHAR (or a VARIANT string) may have here.
pub(crate) const VARCHAR_BYTES: usize = 16_777_216;

/// A string value of `path`, if Snowflake can hold it.
pub(super) fn check_string(s: &str, path: &FieldPath<'_>) -> Result<(), DecodeError> {
    if s.len() > VARCHAR_BYTES {
        return fail(
            path,
            format!(
                "is a string of {} bytes, over the {VARCHAR_BYTES} bytes any Snowflake VARCHAR without a length holds (16,777,216 characters; bytes in tables from before bundle 2026_03)",
                s.len()
            ),
        );
    }
    Ok(())
}

/// JSON text (valid JSON, as serde_json read it) for a VARIANT column, if Snowflake
/// loads it and `PARSE_JSON` reads it back.
pub(super) fn check_json_text(text: &str, path: impl std::fmt::Display) -> Result<(), DecodeError> {
    if text.len() > VARCHAR_BYTES {
        return fail(
            path,
            format!(
                "is JSON text of {} bytes, longer than the {VARCHAR_BYTES} bytes a Snowflake VARIANT string holds here",
                text.len()
            ),
        );
    }
    match json_problem(text) {
        Some(why) => fail(path, why),
        None => Ok(()),
    }
}

/// One open bracket of the JSON text: an object (its keys so far, and whether a key
/// comes next) or an array.
enum Open<'t> {
    Object {
        keys: HashSet<std::borrow::Cow<'t, str>>,
        key_next: bool,
    },
    Array,
}

/// Why valid JSON `text` is not one Snowflake's `PARSE_JSON` takes, if it is not:
/// found in one pass with a stack of brackets (no recursion, so no depth limit).
fn json_problem(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'{' => stack.push(Open::Object {
                keys: HashSet::new(),
                key_next: true,
            }),
            b'[' => stack.push(Open::Array),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Open::Object { key_next, .. }) = stack.last_mut() {
                    *key_next = true;
                }
            }
            b'"' => {
                let end = string_end(bytes, i)?;
                let raw = &text[i..=end];
                if let Some(why) = lone_surrogate(raw) {
                    return Some(why);
                }
                if let Some(Open::Object { keys, key_next }) = stack.last_mut()
                    && *key_next
                {
                    *key_next = false;
                    let key: std::borrow::Cow<'_, str> = if raw.contains('\\') {
                        serde_json::from_str::<String>(raw).ok()?.into()
                    } else {
                        raw[1..raw.len() - 1].into()
                    };
                    if !keys.insert(key.clone()) {
                        return Some(format!(
                            "has the key {raw} twice in one object, which Snowflake's PARSE_JSON refuses"
                        ));
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the `"` closing the string that opens at `start`.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// Whether a JSON string literal (quotes included) holds a `\u` escape of a UTF-16
/// surrogate that is not part of a pair.
fn lone_surrogate(raw: &str) -> Option<String> {
    let b = raw.as_bytes();
    let hex = |at: usize| -> Option<u16> {
        let digits = raw.get(at..at + 4)?;
        u16::from_str_radix(digits, 16).ok()
    };
    let mut i = 1;
    while i + 1 < b.len() {
        if b[i] != b'\\' {
            i += 1;
            continue;
        }
        if b[i + 1] != b'u' {
            i += 2;
            continue;
        }
        let unit = hex(i + 2)?;
        match unit {
            0xD800..=0xDBFF => {
                let paired = b.get(i + 6) == Some(&b'\\')
                    && b.get(i + 7) == Some(&b'u')
                    && hex(i + 8).is_some_and(|t| (0xDC00..=0xDFFF).contains(&t));
                if !paired {
                    return Some(format!(
                        "holds the escape \\u{unit:04x}, half of a UTF-16 surrogate pair without its other half, which is no Unicode text"
                    ));
                }
                i += 12;
            }
            0xDC00..=0xDFFF => {
                return Some(format!(
                    "holds the escape \\u{unit:04x}, half of a UTF-16 surrogate pair without its other half, which is no Unicode text"
                ));
            }
            _ => i += 6,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_snowflake_reads_back_passes() {
        for ok in [
            r#"{"a":1,"b":{"a":2,"c":[{"a":3},{"a":4}]},"s":"x\"y\\"}"#,
            r#"{"emoji":"\ud83d\ude00","e":"\u00e9","keys":{"\"a":1,"a":2}}"#,
            r#"[{"a":1},{"a":1}]"#,
            r#""\\ud800""#,
        ] {
            assert_eq!(json_problem(ok), None, "{ok}");
        }
    }

    #[test]
    fn duplicate_keys_at_any_depth_and_lone_surrogates_are_found() {
        let dup = json_problem(r#"{"x":{"y":[{"k":1,"l":2,"k":3}]}}"#).unwrap();
        assert!(dup.contains(r#"the key "k" twice"#), "{dup}");
        // The same key written two ways.
        assert!(json_problem(r#"{"a":1,"\u0061":2}"#).is_some());
        for lone in [r#"{"a":"\ud800"}"#, r#"["x\udc00"]"#, r#"{"\ud83dx":1}"#] {
            let why = json_problem(lone).unwrap();
            assert!(why.contains("surrogate"), "{lone}: {why}");
        }
        // Deeper than any recursive reader would go: found without recursion.
        let deep = format!(
            "{}{{\"a\":1,\"a\":2}}{}",
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(json_problem(&deep).is_some());
    }
}
