//! The `_record_id`s reconcile gathers, sorted within a memory budget: an external
//! merge sort.
//!
//! Every source record, curated row and quarantine entry becomes one [`Entry`] (its
//! id and a [`Mark`] saying what it is). Entries collect in memory; when they pass the
//! budget, they are sorted and written to a run file in a temporary folder, and
//! [`IdSorter::finish`] merges the runs (and what is still in memory) back into one
//! stream in id order. Input that fits the budget never touches the disk. The folder
//! and its runs are removed when the sorter (or the merge it became) is dropped, on
//! error too.
//!
//! What it is not: the tally. It says nothing about what a sequence of marks means
//! ([`super::tally`] does).
//!
//! A run file is a sequence of entries, each a header byte (the mark's kind in the low
//! 2 bits, how many leading bytes of the id equal the previous entry's in the high 4),
//! the rest of the id, then the mark's fields as LEB128 numbers (a quarantine entry's
//! note inline, as lengths and UTF-8 bytes). Sorted ids share their first two or three
//! bytes, so a source record takes about 20 bytes and a curated row 16.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Runs merged at once; more are first merged in groups of this many.
const FAN_IN: usize = 64;
/// Buffer of each run file while it is written or read.
const FILE_BUFFER: usize = 128 * 1024;

/// What one entry says about its `_record_id`. Entries of one id sort sources first
/// (by file, then line), then curated rows, then quarantine entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Mark {
    /// A record of the source file numbered `file`, at `line`.
    Source {
        /// Index in the report's files.
        file: u32,
        /// Line (or array element) in the file.
        line: u64,
    },
    /// A curated row; `key` numbers its (source URI, version) for the unexpected list.
    Curated {
        /// See [`super::Index::key`].
        key: u32,
    },
    /// A quarantine entry: bad data, or a record the stream never accepted.
    Quarantine {
        /// Bad data (else `undelivered`).
        bad: bool,
        /// Its [`Note`] among the sorter's notes in memory (not meaningful once
        /// read back from a run: the note comes with the entry).
        note: u32,
    },
}

/// One `_record_id` and what it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Entry {
    pub(super) id: u128,
    pub(super) mark: Mark,
}

/// What the report says about a quarantine entry if it names no source record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Note {
    /// Its place among the quarantine entries, to list them in the order read.
    pub(super) seq: u64,
    /// The quarantine object.
    pub(super) uri: String,
    /// The line in it.
    pub(super) line: u64,
    /// Why, for the report.
    pub(super) reason: String,
}

impl Note {
    fn size(&self) -> usize {
        std::mem::size_of::<Self>() + self.uri.len() + self.reason.len()
    }
}

/// Where the sorter may spill, and how much it may hold first.
#[derive(Debug, Clone)]
pub(super) struct SpillConfig {
    /// Bytes of entries and notes held in memory before they are written out.
    pub(super) budget: usize,
    /// The parent of the temporary folder (the system's temp folder if `None`).
    pub(super) dir: Option<PathBuf>,
}

/// How much went to disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct SpillStats {
    /// Sorted runs written, intermediate merges included.
    pub(super) runs: u64,
    /// Bytes written to them.
    pub(super) bytes: u64,
}

/// Entries gathered within a budget; see the module docs.
#[derive(Debug)]
pub(super) struct IdSorter {
    config: SpillConfig,
    entries: Vec<Entry>,
    notes: Vec<Note>,
    note_bytes: usize,
    folder: Option<tempfile::TempDir>,
    /// Runs on disk, with how many merges made each (0: written from memory).
    runs: Vec<(Run, u32)>,
    stats: SpillStats,
}

/// One sorted run file.
#[derive(Debug)]
struct Run {
    path: PathBuf,
}

impl IdSorter {
    pub(super) fn new(config: SpillConfig) -> Self {
        Self {
            config,
            entries: Vec::new(),
            notes: Vec::new(),
            note_bytes: 0,
            folder: None,
            runs: Vec::new(),
            stats: SpillStats::default(),
        }
    }

    /// This sorter, leaving an empty one with the same budget in its place.
    pub(super) fn take(&mut self) -> Self {
        let empty = Self::new(self.config.clone());
        std::mem::replace(self, empty)
    }

    /// Adds an entry (never writes: see [`Self::full`]).
    pub(super) fn push(&mut self, id: u128, mark: Mark) {
        self.entries.push(Entry { id, mark });
    }

    /// Adds a quarantine entry with what to say if it names no source record.
    pub(super) fn push_quarantine(&mut self, id: u128, bad: bool, note: Note) {
        self.note_bytes += note.size();
        let at = self.notes.len() as u32;
        self.notes.push(note);
        self.push(id, Mark::Quarantine { bad, note: at });
    }

    /// True when what is held has reached the budget: time to [`Self::spill`].
    pub(super) fn full(&self) -> bool {
        !self.entries.is_empty()
            && self.entries.len() * std::mem::size_of::<Entry>() + self.note_bytes
                >= self.config.budget
    }

    /// Sorts what is held and writes it out as a run, on this thread.
    pub(super) fn spill_blocking(&mut self) -> io::Result<()> {
        let (path, entries, notes) = self.take_for_run()?;
        let (run, bytes, entries) = write_memory_run(path, entries, notes)?;
        self.add_run(run, bytes, entries)
    }

    /// Sorts what is held and writes it out as a run, on a blocking thread.
    pub(super) async fn spill(&mut self) -> io::Result<()> {
        let (path, entries, notes) = self.take_for_run()?;
        let written = tokio::task::spawn_blocking(move || write_memory_run(path, entries, notes))
            .await
            .map_err(io::Error::other)?;
        let (run, bytes, entries) = written?;
        self.add_run(run, bytes, entries)
    }

    /// The next run's path and what goes into it; creates the folder on first use.
    fn take_for_run(&mut self) -> io::Result<(PathBuf, Vec<Entry>, Vec<Note>)> {
        let folder = match &self.folder {
            Some(folder) => folder,
            None => {
                let parent = self.config.dir.clone().unwrap_or_else(std::env::temp_dir);
                let folder = tempfile::Builder::new()
                    .prefix("feedpipe-reconcile-")
                    .tempdir_in(&parent)
                    .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", parent.display())))?;
                self.folder.insert(folder)
            }
        };
        let path = folder.path().join(format!("run-{:05}", self.stats.runs));
        self.stats.runs += 1;
        self.note_bytes = 0;
        Ok((
            path,
            std::mem::take(&mut self.entries),
            std::mem::take(&mut self.notes),
        ))
    }

    /// Records a run written from memory, keeps the entries' allocation for the
    /// next one, and merges runs when a level has [`FAN_IN`] of them.
    fn add_run(&mut self, run: Run, bytes: u64, mut entries: Vec<Entry>) -> io::Result<()> {
        self.stats.bytes += bytes;
        entries.clear();
        // Past the first run the input is known to be large: hold the whole budget
        // at once rather than double into it (a doubling holds 1.5 times the budget).
        entries.reserve_exact(self.config.budget / std::mem::size_of::<Entry>() + 1);
        self.entries = entries;
        self.runs.push((run, 0));
        loop {
            let level = self.runs.last().map_or(0, |r| r.1);
            let same = self.runs.iter().rev().take_while(|r| r.1 == level).count();
            if same < FAN_IN {
                return Ok(());
            }
            let group = self.runs.split_off(self.runs.len() - same);
            let merged = self.merge_runs(group.into_iter().map(|r| r.0).collect())?;
            self.runs.push((merged, level + 1));
        }
    }

    /// Merges runs on disk into one.
    fn merge_runs(&mut self, group: Vec<Run>) -> io::Result<Run> {
        let Some(folder) = &self.folder else {
            return Err(io::Error::other("no spill folder"));
        };
        let path = folder.path().join(format!("run-{:05}", self.stats.runs));
        self.stats.runs += 1;
        let mut readers = Vec::with_capacity(group.len());
        for run in &group {
            readers.push(Source::Disk(RunReader::open(&run.path)?));
        }
        let mut merge = Merge::new(readers)?;
        let mut writer = RunWriter::create(&path)?;
        while let Some((entry, note)) = merge.next_entry()? {
            writer.write(&entry, note.as_ref())?;
        }
        self.stats.bytes += writer.finish()?;
        drop(merge);
        for run in group {
            std::fs::remove_file(&run.path)?;
        }
        Ok(Run { path })
    }

    /// Every entry, in order: the runs on disk merged with what is still in memory.
    pub(super) fn finish(mut self) -> io::Result<Merged> {
        // Merge the lowest levels first until one merge can take every run.
        while self.runs.len() >= FAN_IN {
            self.runs.sort_by_key(|r| Reverse(r.1));
            let group = self.runs.split_off(self.runs.len() - FAN_IN);
            let level = group.iter().map(|r| r.1).max().unwrap_or(0);
            let merged = self.merge_runs(group.into_iter().map(|r| r.0).collect())?;
            self.runs.push((merged, level + 1));
        }
        let mut sources = Vec::with_capacity(self.runs.len() + 1);
        for (run, _) in &self.runs {
            sources.push(Source::Disk(RunReader::open(&run.path)?));
        }
        let mut entries = std::mem::take(&mut self.entries);
        entries.sort_unstable();
        let notes = std::mem::take(&mut self.notes);
        sources.push(Source::Memory {
            entries: entries.into_iter(),
            notes,
        });
        Ok(Merged {
            merge: Merge::new(sources)?,
            stats: self.stats,
            _folder: self.folder.take(),
        })
    }
}

/// Sorts entries and writes them to `path`: the run, its bytes, and the emptied
/// vector (for its allocation).
fn write_memory_run(
    path: PathBuf,
    mut entries: Vec<Entry>,
    notes: Vec<Note>,
) -> io::Result<(Run, u64, Vec<Entry>)> {
    entries.sort_unstable();
    let mut writer = RunWriter::create(&path)?;
    for entry in &entries {
        let note = match entry.mark {
            Mark::Quarantine { note, .. } => notes.get(note as usize),
            _ => None,
        };
        writer.write(entry, note)?;
    }
    let bytes = writer.finish()?;
    Ok((Run { path }, bytes, entries))
}

/// The sorted stream [`IdSorter::finish`] returns; holds the temporary folder until
/// dropped.
pub(super) struct Merged {
    merge: Merge,
    stats: SpillStats,
    _folder: Option<tempfile::TempDir>,
}

impl Merged {
    /// The next entry in id order, with its note if it is a quarantine entry.
    pub(super) fn next_entry(&mut self) -> io::Result<Option<(Entry, Option<Note>)>> {
        self.merge.next_entry()
    }

    /// What went to disk.
    pub(super) fn stats(&self) -> SpillStats {
        self.stats
    }
}

/// A k-way merge of sorted sources.
struct Merge {
    sources: Vec<Source>,
    /// Each source's next entry (and note), taken out of `heap` in order.
    heads: Vec<Option<(Entry, Option<Note>)>>,
    heap: BinaryHeap<Reverse<(Entry, usize)>>,
}

impl Merge {
    fn new(mut sources: Vec<Source>) -> io::Result<Self> {
        let mut heads = Vec::with_capacity(sources.len());
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            let head = source.next_entry()?;
            if let Some((entry, _)) = &head {
                heap.push(Reverse((*entry, i)));
            }
            heads.push(head);
        }
        Ok(Self {
            sources,
            heads,
            heap,
        })
    }

    fn next_entry(&mut self) -> io::Result<Option<(Entry, Option<Note>)>> {
        let Some(Reverse((_, i))) = self.heap.pop() else {
            return Ok(None);
        };
        let next = self.sources[i].next_entry()?;
        if let Some((entry, _)) = &next {
            self.heap.push(Reverse((*entry, i)));
        }
        Ok(std::mem::replace(&mut self.heads[i], next))
    }
}

/// One sorted input of a merge.
enum Source {
    Disk(RunReader),
    Memory {
        entries: std::vec::IntoIter<Entry>,
        notes: Vec<Note>,
    },
}

impl Source {
    fn next_entry(&mut self) -> io::Result<Option<(Entry, Option<Note>)>> {
        match self {
            Self::Disk(reader) => reader.next_entry(),
            Self::Memory { entries, notes } => Ok(entries.next().map(|entry| {
                let note = match entry.mark {
                    Mark::Quarantine { note, .. } => {
                        notes.get_mut(note as usize).map(std::mem::take)
                    }
                    _ => None,
                };
                (entry, note)
            })),
        }
    }
}

const SOURCE: u8 = 0;
const CURATED: u8 = 1;
const BAD: u8 = 2;
const UNDELIVERED: u8 = 3;

/// Writes entries in the run format (see the module docs).
struct RunWriter {
    out: BufWriter<File>,
    previous: [u8; 16],
    bytes: u64,
    scratch: Vec<u8>,
}

impl RunWriter {
    fn create(path: &Path) -> io::Result<Self> {
        Ok(Self {
            out: BufWriter::with_capacity(FILE_BUFFER, File::create(path)?),
            previous: [0; 16],
            bytes: 0,
            scratch: Vec::with_capacity(64),
        })
    }

    fn write(&mut self, entry: &Entry, note: Option<&Note>) -> io::Result<()> {
        let id = entry.id.to_be_bytes();
        let shared = id
            .iter()
            .zip(&self.previous)
            .take(15)
            .take_while(|(a, b)| a == b)
            .count();
        self.previous = id;
        let kind = match entry.mark {
            Mark::Source { .. } => SOURCE,
            Mark::Curated { .. } => CURATED,
            Mark::Quarantine { bad: true, .. } => BAD,
            Mark::Quarantine { bad: false, .. } => UNDELIVERED,
        };
        let out = &mut self.scratch;
        out.clear();
        out.push(((shared as u8) << 4) | kind);
        out.extend_from_slice(&id[shared..]);
        match entry.mark {
            Mark::Source { file, line } => {
                put_number(out, u64::from(file));
                put_number(out, line);
            }
            Mark::Curated { key } => put_number(out, u64::from(key)),
            Mark::Quarantine { .. } => {
                let empty = Note::default();
                let note = note.unwrap_or(&empty);
                put_number(out, note.seq);
                put_number(out, note.line);
                for text in [&note.uri, &note.reason] {
                    put_number(out, text.len() as u64);
                    out.extend_from_slice(text.as_bytes());
                }
            }
        }
        self.bytes += out.len() as u64;
        self.out.write_all(out)
    }

    /// Flushes the file; the bytes written.
    fn finish(mut self) -> io::Result<u64> {
        self.out.flush()?;
        Ok(self.bytes)
    }
}

/// Reads a run written by [`RunWriter`].
struct RunReader {
    input: BufReader<File>,
    previous: [u8; 16],
}

impl RunReader {
    fn open(path: &Path) -> io::Result<Self> {
        Ok(Self {
            input: BufReader::with_capacity(FILE_BUFFER, File::open(path)?),
            previous: [0; 16],
        })
    }

    fn next_entry(&mut self) -> io::Result<Option<(Entry, Option<Note>)>> {
        let mut header = [0u8];
        if self.input.read(&mut header)? == 0 {
            return Ok(None);
        }
        let (shared, kind) = (usize::from(header[0] >> 4), header[0] & 0x3);
        self.input.read_exact(&mut self.previous[shared..])?;
        let id = u128::from_be_bytes(self.previous);
        let input = &mut self.input;
        let (mark, note) = match kind {
            SOURCE => {
                let file = u32::try_from(get_number(input)?).map_err(io::Error::other)?;
                let line = get_number(input)?;
                (Mark::Source { file, line }, None)
            }
            CURATED => {
                let key = u32::try_from(get_number(input)?).map_err(io::Error::other)?;
                (Mark::Curated { key }, None)
            }
            _ => {
                let seq = get_number(input)?;
                let line = get_number(input)?;
                let uri = get_text(input)?;
                let reason = get_text(input)?;
                let mark = Mark::Quarantine {
                    bad: kind == BAD,
                    note: 0,
                };
                let note = Note {
                    seq,
                    uri,
                    line,
                    reason,
                };
                (mark, Some(note))
            }
        };
        Ok(Some((Entry { id, mark }, note)))
    }
}

/// LEB128: seven bits a byte, low bits first.
fn put_number(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn get_number(input: &mut impl Read) -> io::Result<u64> {
    let mut n = 0u64;
    for shift in (0..64).step_by(7) {
        let mut byte = [0u8];
        input.read_exact(&mut byte)?;
        n |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return Ok(n);
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "run file: number too long",
    ))
}

fn get_text(input: &mut impl Read) -> io::Result<String> {
    let len = usize::try_from(get_number(input)?).map_err(io::Error::other)?;
    let mut bytes = vec![0u8; len];
    input.read_exact(&mut bytes)?;
    String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(budget: usize, dir: &Path) -> SpillConfig {
        SpillConfig {
            budget,
            dir: Some(dir.to_owned()),
        }
    }

    /// A deterministic spread of ids (splitmix64), with repeats.
    fn ids(n: usize) -> Vec<u128> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut out: Vec<u128> = (0..n)
            .map(|_| (u128::from(next()) << 64) | u128::from(next()))
            .collect();
        // Some ids many times, and ids that share all but their last byte.
        for i in 0..n / 10 {
            out.push(out[i % 7]);
            out.push(out[i] ^ 1);
        }
        out
    }

    fn gather(sorter: &mut IdSorter, ids: &[u128]) -> Vec<(Entry, Option<Note>)> {
        let mut expected = Vec::new();
        for (i, &id) in ids.iter().enumerate() {
            let mark = match i % 4 {
                0 | 1 => Mark::Source {
                    file: (i % 3) as u32,
                    line: i as u64 * 1000,
                },
                2 => Mark::Curated { key: i as u32 },
                _ => {
                    let note = Note {
                        seq: i as u64,
                        uri: format!("file:///q/{i}.jsonl"),
                        line: i as u64,
                        reason: "names no source record (é)".into(),
                    };
                    sorter.push_quarantine(id, i % 8 == 3, note.clone());
                    expected.push((
                        id,
                        Mark::Quarantine {
                            bad: i % 8 == 3,
                            note: 0,
                        },
                        Some(note),
                    ));
                    if sorter.full() {
                        sorter.spill_blocking().unwrap();
                    }
                    continue;
                }
            };
            sorter.push(id, mark);
            expected.push((id, mark, None));
            if sorter.full() {
                sorter.spill_blocking().unwrap();
            }
        }
        let mut expected: Vec<_> = expected
            .into_iter()
            .map(|(id, mark, note)| (Entry { id, mark }, note))
            .collect();
        expected.sort_by_key(key);
        expected
    }

    /// The order the merge promises (quarantine entries of one id by their note).
    fn key(e: &(Entry, Option<Note>)) -> (u128, Mark, u64) {
        let mark = match e.0.mark {
            Mark::Quarantine { bad, .. } => Mark::Quarantine { bad, note: 0 },
            m => m,
        };
        (e.0.id, mark, e.1.as_ref().map_or(0, |n| n.seq))
    }

    fn drain(merged: &mut Merged) -> Vec<(Entry, Option<Note>)> {
        let mut got = Vec::new();
        while let Some(e) = merged.next_entry().unwrap() {
            got.push(e);
        }
        got
    }

    #[test]
    fn spilled_runs_merge_to_the_same_order_as_one_sort_in_memory() {
        let dir = tempfile::tempdir().unwrap();
        let ids = ids(20_000);
        // 1 KiB runs: hundreds of them, so groups of FAN_IN are merged on the way.
        let mut small = IdSorter::new(config(1024, dir.path()));
        let expected = gather(&mut small, &ids);
        assert!(small.stats.runs > (2 * FAN_IN) as u64, "{:?}", small.stats);
        let mut merged = small.finish().unwrap();
        let mut got = drain(&mut merged);
        got.sort_by_key(key);
        // Sorted by id and mark already; the re-sort above only orders quarantine
        // entries of one id by their note, which the merge leaves open.
        assert_eq!(got.len(), expected.len());
        for (g, e) in got.iter().zip(&expected) {
            assert_eq!(key(g), key(e));
            assert_eq!(g.1, e.1);
        }
        assert!(merged.stats().bytes > 0);
        drop(merged);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        // The same entries within the budget: nothing written, the same stream.
        let mut large = IdSorter::new(config(1 << 30, dir.path()));
        let again = gather(&mut large, &ids);
        assert_eq!(again, expected);
        let mut merged = large.finish().unwrap();
        let mut in_memory = drain(&mut merged);
        in_memory.sort_by_key(key);
        assert_eq!(merged.stats(), SpillStats::default());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        for (m, g) in in_memory.iter().zip(&got) {
            assert_eq!(key(m), key(g));
            assert_eq!(m.1, g.1);
        }
    }

    #[test]
    fn the_stream_comes_out_in_id_order_with_sources_first() {
        let dir = tempfile::tempdir().unwrap();
        let mut sorter = IdSorter::new(config(64, dir.path()));
        sorter.push(7, Mark::Curated { key: 0 });
        sorter.push(7, Mark::Source { file: 1, line: 2 });
        sorter.spill_blocking().unwrap();
        sorter.push(3, Mark::Curated { key: 1 });
        sorter.push(7, Mark::Source { file: 0, line: 9 });
        let mut merged = sorter.finish().unwrap();
        let got: Vec<(u128, Mark)> = drain(&mut merged)
            .into_iter()
            .map(|(e, _)| (e.id, e.mark))
            .collect();
        assert_eq!(
            got,
            [
                (3, Mark::Curated { key: 1 }),
                (7, Mark::Source { file: 0, line: 9 }),
                (7, Mark::Source { file: 1, line: 2 }),
                (7, Mark::Curated { key: 0 }),
            ]
        );
    }

    #[test]
    fn numbers_round_trip_through_the_run_encoding() {
        for n in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            put_number(&mut out, n);
            assert_eq!(get_number(&mut out.as_slice()).unwrap(), n);
        }
    }
}
