//! Walks every record of a JSON-lines file with one serde visitor, once with
//! serde_json's deserializer and once with sonic-rs's, and prints both parsers' MB/s:
//! the parsing the convert `append` path does, minus the column buffers. The two runs
//! differ only in the deserializer. Every value goes through `deserialize_any` (numbers
//! are parsed; `append` takes a scalar as raw text instead, which costs each parser
//! about a scan of it). The checksums must agree.
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;
use std::time::Instant;

/// Marks which parser a run uses (its borrowed raw-value type).
trait Raw<'de>: de::Deserialize<'de> {}
impl<'de> Raw<'de> for &'de serde_json::value::RawValue {}
impl<'de> Raw<'de> for sonic_rs::LazyValue<'de> {}

struct Obj<'a, R> {
    bytes: &'a mut usize,
    p: std::marker::PhantomData<R>,
}

impl<'de, 'a, R: Raw<'de>> Visitor<'de> for Obj<'a, R> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("json")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let bytes = self.bytes;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            *bytes += key.len();
            map.next_value_seed(Field::<R> {
                bytes: &mut *bytes,
                p: std::marker::PhantomData,
            })?;
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let bytes = self.bytes;
        while seq
            .next_element_seed(Field::<R> {
                bytes: &mut *bytes,
                p: std::marker::PhantomData,
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
}

struct Field<'a, R> {
    bytes: &'a mut usize,
    p: std::marker::PhantomData<R>,
}
impl<'de, 'a, R: Raw<'de>> DeserializeSeed<'de> for Field<'a, R> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // like append.rs: strings, objects and lists visited, every other value raw
        d.deserialize_any(Any::<R> {
            bytes: self.bytes,
            p: std::marker::PhantomData,
        })
    }
}
struct Any<'a, R> {
    bytes: &'a mut usize,
    p: std::marker::PhantomData<R>,
}
impl<'de, 'a, R: Raw<'de>> Visitor<'de> for Any<'a, R> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("json")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        Obj::<R> {
            bytes: self.bytes,
            p: std::marker::PhantomData,
        }
        .visit_map(map)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        Obj::<R> {
            bytes: self.bytes,
            p: std::marker::PhantomData,
        }
        .visit_seq(seq)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        *self.bytes += v.len();
        Ok(())
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<(), E> {
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

fn main() {
    let path = std::env::args().nth(1).expect("FILE");
    let text = std::fs::read_to_string(&path).expect("read");
    let lines: Vec<&str> = text.lines().collect();
    for round in 0..3 {
        let t = Instant::now();
        let mut bytes = 0usize;
        for line in &lines {
            let mut de = serde_json::Deserializer::from_str(line);
            (&mut de)
                .deserialize_map(Obj::<&serde_json::value::RawValue> {
                    bytes: &mut bytes,
                    p: std::marker::PhantomData,
                })
                .expect("serde_json");
        }
        let a = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let mut bytes2 = 0usize;
        for line in &lines {
            let mut de = sonic_rs::Deserializer::from_str(line);
            (&mut de)
                .deserialize_map(Obj::<sonic_rs::LazyValue> {
                    bytes: &mut bytes2,
                    p: std::marker::PhantomData,
                })
                .expect("sonic");
        }
        let b = t.elapsed().as_secs_f64();
        println!(
            "round {round}: {} records, {:.0} MB: serde_json {a:.3} s ({:.0} MB/s), sonic-rs {b:.3} s ({:.0} MB/s): x{:.2} (checksums {bytes} {bytes2})",
            lines.len(),
            text.len() as f64 / 1e6,
            text.len() as f64 / 1e6 / a,
            text.len() as f64 / 1e6 / b,
            a / b
        );
    }
}
