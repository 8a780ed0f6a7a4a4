//! A deterministic, realistic sample feed: the data of the README, the tests and the
//! benchmarks (`feedpipe gen`).
//!
//! Orders with a nested customer, a list of line items, timestamps with offsets,
//! decimal amounts (exact cents), nulls, unicode, a little schema drift (about 1% of
//! records carry a field the others do not) and, on request, a share of malformed
//! lines of several kinds. The same seed gives the same bytes.
//!
//! ```
//! let mut out = Vec::new();
//! let stats = feedpipe_sample::write_feed(&mut out, &feedpipe_sample::SampleOptions { rows: 10, ..Default::default() }).unwrap();
//! assert_eq!(stats.good, 10);
//! assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 10);
//! ```

use std::io::{self, Write};

use chrono::{Duration, NaiveDate, NaiveDateTime};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SampleOptions {
    /// Good records to write.
    pub rows: u64,
    /// Share of extra malformed lines, between 0 and 1 (0.01 = one bad line per ~100).
    pub bad_rate: f64,
    /// Seed of the generator: same seed, same bytes.
    pub seed: u64,
    /// First day of the orders; they spread over `days` days.
    pub start: NaiveDate,
    /// Number of days the orders spread over.
    pub days: u32,
}

impl Default for SampleOptions {
    fn default() -> Self {
        Self {
            rows: 1000,
            bad_rate: 0.0,
            seed: 42,
            start: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
            days: 7,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SampleStats {
    /// Good records.
    pub good: u64,
    /// Malformed lines.
    pub bad: u64,
    /// Bytes written.
    pub bytes: u64,
}

/// Splitmix64: small, fast, and the same everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const FIRST: &[&str] = &[
    "Zoë", "José", "Ana", "Ole", "Amélie", "Jürgen", "Siobhán", "Łukasz", "Chloé", "Mia", "Kenji",
    "Nuño",
];
const LAST: &[&str] = &[
    "Müller",
    "García",
    "O'Brien",
    "Dvořák",
    "Nakamura",
    "Søndergaard",
    "Smith",
    "Björk",
    "Ngô",
    "Kowalski",
];
const CITIES: &[(&str, &str)] = &[
    ("Zürich", "CH"),
    ("München", "DE"),
    ("São Paulo", "BR"),
    ("Kraków", "PL"),
    ("東京", "JP"),
    ("Reykjavík", "IS"),
    ("Lyon", "FR"),
    ("Austin", "US"),
];
const STATUS: &[&str] = &["placed", "paid", "shipped", "delivered", "cancelled"];
const CURRENCY: &[&str] = &["EUR", "USD", "CHF", "GBP"];
const TIERS: &[Option<&str>] = &[Some("gold"), Some("silver"), Some("bronze"), None];
const OFFSETS: &[&str] = &[
    "Z", "+00:00", "+01:00", "+02:00", "-05:00", "+09:00", "+05:30", "-03:00",
];
const NOTES: &[Option<&str>] = &[
    None,
    None,
    None,
    Some("leave at door"),
    Some("配達前に電話"),
    Some("fragile — handle with care \u{1F4E6}"),
    Some("tab\tand \"quotes\""),
];

/// Writes `options.rows` good records (and malformed lines at `bad_rate`) as JSON lines.
pub fn write_feed<W: Write>(out: &mut W, options: &SampleOptions) -> io::Result<SampleStats> {
    let mut rng = Rng::new(options.seed);
    let mut stats = SampleStats::default();
    let mut line = String::with_capacity(1024);
    let start = options.start.and_hms_opt(0, 0, 0).unwrap_or_default();
    let span_secs = i64::from(options.days.max(1)) * 86_400;
    while stats.good < options.rows {
        line.clear();
        if options.bad_rate > 0.0 && rng.unit() < options.bad_rate {
            let bad = bad_line(&mut rng, stats.good);
            out.write_all(&bad)?;
            stats.bytes += bad.len() as u64;
            stats.bad += 1;
            continue;
        }
        let at = start
            + Duration::seconds(rng.below(span_secs as u64) as i64)
            + Duration::milliseconds(rng.below(1000) as i64);
        order(&mut rng, stats.good + 1, at, &mut line);
        out.write_all(line.as_bytes())?;
        stats.bytes += line.len() as u64;
        stats.good += 1;
    }
    Ok(stats)
}

/// One order as a JSON line. The timestamp is written in a random offset but always
/// denotes the UTC instant `at`.
fn order(rng: &mut Rng, n: u64, at: NaiveDateTime, out: &mut String) {
    use std::fmt::Write as _;
    let customer = rng.below(5000);
    let (city, country) = *rng.pick(CITIES);
    let offset = *rng.pick(OFFSETS);
    let local = at + offset_duration(offset);
    let items = 1 + rng.below(4);
    let mut total_cents = 0u64;
    let mut items_json = String::new();
    for i in 0..items {
        let qty = 1 + rng.below(5);
        let unit_cents = 99 + rng.below(20_000);
        total_cents += qty * unit_cents;
        let discount = if rng.below(4) == 0 {
            format!("{}", rng.below(30))
        } else {
            "null".into()
        };
        if i > 0 {
            items_json.push(',');
        }
        let _ = write!(
            items_json,
            r#"{{"sku":"SKU-{:05}","qty":{qty},"unit_price":{}.{:02},"discount_pct":{discount}}}"#,
            rng.below(20_000),
            unit_cents / 100,
            unit_cents % 100
        );
    }
    let name = format!("{} {}", rng.pick(FIRST), rng.pick(LAST));
    let tier = rng
        .pick(TIERS)
        .map_or("null".to_owned(), |t| format!("\"{t}\""));
    let notes = rng.pick(NOTES).map_or("null".to_owned(), json_string);
    let email = if rng.below(10) == 0 {
        "null".to_owned()
    } else {
        format!("\"customer{customer}@example.com\"")
    };
    let _ = write!(
        out,
        r#"{{"order_id":"ORD-{n:09}","customer_id":"C-{customer:05}","order_ts":"{}{offset}","status":"{}","currency":"{}","total":{}.{:02},"customer":{{"id":"C-{customer:05}","name":{},"email":{email},"tier":{tier},"address":{{"city":{},"country":"{country}"}}}},"items":[{items_json}],"notes":{notes}"#,
        local.format("%Y-%m-%dT%H:%M:%S%.3f"),
        rng.pick(STATUS),
        rng.pick(CURRENCY),
        total_cents / 100,
        total_cents % 100,
        json_string(&name),
        json_string(city),
    );
    if rng.below(100) == 0 {
        let _ = write!(out, r#","coupon_code":"SAVE{}""#, rng.below(50));
    }
    out.push_str("}\n");
}

fn offset_duration(offset: &str) -> Duration {
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let digits: Vec<i64> = offset
        .trim_start_matches(['+', '-'])
        .split(':')
        .filter_map(|p| p.parse().ok())
        .collect();
    match digits.as_slice() {
        [h, m] => Duration::minutes(sign * (h * 60 + m)),
        _ => Duration::zero(),
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "null".into())
}

/// A malformed line of one of several kinds.
fn bad_line(rng: &mut Rng, n: u64) -> Vec<u8> {
    match rng.below(5) {
        0 => format!("{{\"order_id\":\"ORD-BAD-{n}\",\"total\":\n").into_bytes(),
        1 => b"[1,2,3]\n".to_vec(),
        2 => {
            let mut v = format!("{{\"order_id\":\"ORD-BAD-{n}\",\"notes\":\"").into_bytes();
            v.extend_from_slice(b"\xff\xfe broken \xc3\x28\"}\n");
            v
        }
        3 => b"this is not json at all\n".to_vec(),
        _ => format!("{{\"order_id\":\"ORD-BAD-{n}\" \"missing\":\"colon\"}}\n").into_bytes(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generate(options: &SampleOptions) -> (Vec<u8>, SampleStats) {
        let mut out = Vec::new();
        let stats = write_feed(&mut out, options).unwrap();
        (out, stats)
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let a = generate(&SampleOptions {
            rows: 200,
            bad_rate: 0.05,
            ..Default::default()
        });
        let b = generate(&SampleOptions {
            rows: 200,
            bad_rate: 0.05,
            ..Default::default()
        });
        let c = generate(&SampleOptions {
            rows: 200,
            bad_rate: 0.05,
            seed: 7,
            ..Default::default()
        });
        assert_eq!(a, b);
        assert_ne!(a.0, c.0);
    }

    #[test]
    fn good_lines_are_objects_whose_total_is_the_sum_of_items() {
        let (out, stats) = generate(&SampleOptions {
            rows: 500,
            bad_rate: 0.1,
            ..Default::default()
        });
        let lines: Vec<&[u8]> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .collect();
        let good: Vec<serde_json::Value> = lines
            .iter()
            .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
            .filter(serde_json::Value::is_object)
            .collect();
        assert_eq!(good.len() as u64, stats.good);
        assert_eq!(lines.len() as u64, stats.good + stats.bad);
        assert!(stats.bad > 20, "about 10% bad lines, got {}", stats.bad);
        for v in &good {
            let items = v["items"].as_array().unwrap();
            let cents: u64 = items
                .iter()
                .map(|i| {
                    i["qty"].as_u64().unwrap()
                        * (i["unit_price"].as_f64().unwrap() * 100.0).round() as u64
                })
                .sum();
            assert_eq!((v["total"].as_f64().unwrap() * 100.0).round() as u64, cents);
            let ts = chrono::DateTime::parse_from_rfc3339(v["order_ts"].as_str().unwrap()).unwrap();
            let day = ts.with_timezone(&chrono::Utc).date_naive();
            assert!(
                day >= NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
                    && day < NaiveDate::from_ymd_opt(2026, 11, 8).unwrap()
            );
        }
        assert!(
            good.iter().any(|v| v.get("coupon_code").is_some()),
            "some drift"
        );
        assert!(
            good.iter().any(|v| v["notes"].is_null())
                && good.iter().any(|v| v["customer"]["tier"].is_null())
        );
    }
}
