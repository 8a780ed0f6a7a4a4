//! Walks every record of a JSON-lines file with one serde visitor, once with
//! serde_json's deserializer and once with sonic-rs's, and prints both parsers' MB/s:
//! the parsing the convert `append` path does, minus the column buffers. The two runs
//! differ only in the deserializer. Every value goes through `deserialize_any` (numbers
//! are parsed; `append` takes a scalar as raw text instead, which costs each parser
//! about a scan of it). The checksums (bytes of keys and strings, one per number) must
//! agree.
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::time::Instant;

/// Visits any value, counting what it met into `bytes`.
struct Walk<'a> {
    bytes: &'a mut usize,
}

impl<'de> DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            *self.bytes += key.len();
            map.next_value_seed(Walk {
                bytes: &mut *self.bytes,
            })?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Walk {
                bytes: &mut *self.bytes,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        *self.bytes += v.len();
        Ok(())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        *self.bytes += 1;
        Ok(())
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        *self.bytes += 1;
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        *self.bytes += 1;
        Ok(())
    }
}

/// Seconds to walk every line with `walk_line` (one parser), and the checksum.
fn time(lines: &[&str], walk_line: impl Fn(&str, Walk) -> Result<(), String>) -> (f64, usize) {
    let started = Instant::now();
    let mut bytes = 0usize;
    for line in lines {
        if let Err(e) = walk_line(line, Walk { bytes: &mut bytes }) {
            panic!("a record did not parse: {e}");
        }
    }
    (started.elapsed().as_secs_f64(), bytes)
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("usage: feedpipe-bench-parsers FILE.jsonl");
    let text = std::fs::read_to_string(&path).expect("read the file");
    let lines: Vec<&str> = text.lines().collect();
    let mb = text.len() as f64 / 1e6;
    for round in 0..3 {
        let (a, sum_a) = time(&lines, |line, walk| {
            let mut de = serde_json::Deserializer::from_str(line);
            (&mut de).deserialize_map(walk).map_err(|e| e.to_string())
        });
        let (b, sum_b) = time(&lines, |line, walk| {
            let mut de = sonic_rs::Deserializer::from_str(line);
            (&mut de).deserialize_map(walk).map_err(|e| e.to_string())
        });
        assert_eq!(sum_a, sum_b, "the two parsers saw different values");
        println!(
            "round {round}: {} records, {mb:.0} MB: serde_json {a:.3} s ({:.0} MB/s), \
             sonic-rs {b:.3} s ({:.0} MB/s): x{:.2}",
            lines.len(),
            mb / a,
            mb / b,
            a / b
        );
    }
}
