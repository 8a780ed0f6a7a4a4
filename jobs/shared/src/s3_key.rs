//! S3 event object keys.
//!
//! S3 event notifications carry keys URL-encoded the way HTML forms are: `%XX` for
//! bytes and `+` for a space. Percent-decoding alone leaves the `+` in place, which
//! then names an object that does not exist (a bug that shipped in several projects).

/// Why an event key could not be decoded.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    /// A `%` not followed by two hex digits.
    #[error("bad percent-escape at byte {at} of S3 event key `{key}`")]
    BadEscape { key: String, at: usize },
    /// The decoded bytes are not UTF-8.
    #[error("S3 event key `{key}` does not decode to UTF-8")]
    NotUtf8 { key: String },
}

/// Decodes an object key as it appears in an S3 event (`my+feed%C3%BC.jsonl` → `my feedü.jsonl`).
pub fn decode_event_key(key: &str) -> Result<String, KeyError> {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|b| (*b as char).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|b| (*b as char).to_digit(16));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push((hi * 16 + lo) as u8),
                    _ => {
                        return Err(KeyError::BadEscape {
                            key: key.to_owned(),
                            at: i,
                        });
                    }
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| KeyError::NotUtf8 {
        key: key.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_keys_are_decoded() {
        assert_eq!(
            decode_event_key("incoming/my+feed.jsonl").as_deref(),
            Ok("incoming/my feed.jsonl")
        );
        assert_eq!(
            decode_event_key("a%2Bb%20c.json").as_deref(),
            Ok("a+b c.json")
        );
        assert_eq!(
            decode_event_key("x%2Fcommandes+%C3%A9t%C3%A9+%E2%82%AC.jsonl.gz").as_deref(),
            Ok("x/commandes été €.jsonl.gz")
        );
        assert_eq!(
            decode_event_key("plain/key.jsonl").as_deref(),
            Ok("plain/key.jsonl")
        );
    }

    #[test]
    fn broken_escapes_are_errors_not_panics() {
        assert_eq!(
            decode_event_key("a%2").err(),
            Some(KeyError::BadEscape {
                key: "a%2".into(),
                at: 1
            })
        );
        assert!(matches!(
            decode_event_key("a%zzb"),
            Err(KeyError::BadEscape { at: 1, .. })
        ));
        assert!(matches!(
            decode_event_key("%ff%fe"),
            Err(KeyError::NotUtf8 { .. })
        ));
    }
}
