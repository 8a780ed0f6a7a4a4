//! The workdir: its folders (the local "buckets"), staging the user's feed files
//! into the source folder, and which files there count as feeds.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use feedpipe_sample::{SampleOptions, write_feed};
use feedpipe_shared::storage::StorageLocation;

/// The workdir's folders.
pub(super) struct Dirs {
    pub root: PathBuf,
    pub source: PathBuf,
    pub raw: PathBuf,
    pub curated: PathBuf,
    pub quarantine: PathBuf,
    pub ledger: PathBuf,
}

impl Dirs {
    pub fn new(root: &Path) -> anyhow::Result<Self> {
        // Kept as given (relative paths stay relative in what is printed); storage
        // locations are made absolute where they are parsed.
        let root = root.to_path_buf();
        let dirs = Self {
            source: root.join("source"),
            raw: root.join("raw"),
            curated: root.join("curated"),
            quarantine: root.join("quarantine"),
            ledger: root.join("state").join("ingested"),
            root,
        };
        for dir in [
            &dirs.source,
            &dirs.raw,
            &dirs.curated,
            &dirs.quarantine,
            &dirs.ledger,
        ] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(dirs)
    }
}

pub(super) fn location(path: &Path) -> anyhow::Result<StorageLocation> {
    let text = path
        .to_str()
        .with_context(|| format!("{} is not valid UTF-8", path.display()))?;
    Ok(StorageLocation::parse(text)?)
}

/// Bytes compared at a time when a feed is checked against its copy.
const COMPARE_BLOCK: usize = 64 * 1024;

/// Copies the given feeds into the source folder (an identical file already there is
/// left alone, so its version and record ids stay the same), or, given `sample_rows`
/// and no feed, writes the sample feed into an empty source folder.
/// Two different feeds of one file name, or a feed whose name another file in the
/// source folder has, are refused, naming both: the copy would replace the other.
pub(super) fn stage_feeds(
    feeds: &[PathBuf],
    sample_rows: Option<u64>,
    dirs: &Dirs,
) -> anyhow::Result<()> {
    if let (true, Some(rows)) = (feeds.is_empty(), sample_rows) {
        let sample = dirs.source.join("sample-orders.jsonl");
        let empty = std::fs::read_dir(&dirs.source)?.next().is_none();
        if empty {
            let tmp = dirs.root.join(".sample-orders.jsonl.tmp");
            let mut file = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            let options = SampleOptions {
                rows,
                bad_rate: 0.005,
                ..Default::default()
            };
            let stats = write_feed(&mut file, &options)?;
            std::io::Write::flush(&mut file)?;
            drop(file);
            std::fs::rename(&tmp, &sample)?;
            println!(
                "generated {}: {} records and {} malformed lines",
                sample.display(),
                stats.good,
                stats.bad
            );
        }
    }
    // Every feed is checked before any is copied: one source folder holds one file
    // of a name, and a file ingested before is never replaced by another.
    let mut staged: BTreeMap<&OsStr, &Path> = BTreeMap::new();
    let mut copies = Vec::new();
    for feed in feeds {
        let name = feed
            .file_name()
            .with_context(|| format!("{} is not a file", feed.display()))?;
        let target = dirs.source.join(name);
        if let Some(earlier) = staged.insert(name, feed) {
            if same_content(earlier, feed)? {
                continue;
            }
            bail!(
                "{} and {} have the same file name: both would be {}; rename one of them",
                earlier.display(),
                feed.display(),
                target.display()
            );
        }
        if target.exists() {
            if same_content(feed, &target)? {
                continue;
            }
            bail!(
                "{} already holds another file of that name (its records may be in the table); \
                 {} would replace it for good: give the new file another name, or remove the old one from {} first",
                target.display(),
                feed.display(),
                dirs.source.display()
            );
        }
        copies.push((feed, name, target));
    }
    for (feed, name, target) in copies {
        // Copy then rename: a watcher never sees half a file.
        let tmp = dirs.root.join(format!(".{}.tmp", name.to_string_lossy()));
        std::fs::copy(feed, &tmp).with_context(|| format!("cannot copy {}", feed.display()))?;
        std::fs::rename(&tmp, &target)?;
    }
    Ok(())
}

/// Whether two files hold the same bytes, read side by side in small blocks.
fn same_content(a: &Path, b: &Path) -> anyhow::Result<bool> {
    if std::fs::metadata(a)?.len() != std::fs::metadata(b)?.len() {
        return Ok(false);
    }
    let open = |p: &Path| {
        std::fs::File::open(p)
            .map(|f| std::io::BufReader::with_capacity(COMPARE_BLOCK, f))
            .with_context(|| format!("cannot read {}", p.display()))
    };
    let (mut a, mut b) = (open(a)?, open(b)?);
    loop {
        let (x, y) = (a.fill_buf()?, b.fill_buf()?);
        let n = x.len().min(y.len());
        if n == 0 {
            return Ok(x.len() == y.len());
        }
        if x[..n] != y[..n] {
            return Ok(false);
        }
        a.consume(n);
        b.consume(n);
    }
}
