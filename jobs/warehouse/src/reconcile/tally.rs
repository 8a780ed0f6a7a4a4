//! Step 4: each source record loaded, quarantined, or missing, per file, from the
//! entries of every `_record_id` in id order ([`super::spill`]).
//!
//! The entries of one id come together, its source record first: the curated rows and
//! quarantine entries after it are its own; without one, they are unexpected rows and
//! unattributed entries. Should two source records share an id, the last one read
//! takes the rows and entries, and the others are missing.

use std::collections::BinaryHeap;
use std::io;

use super::report::{LIST_LIMIT, Report};
use super::spill::{Entry, Mark, Merged, Note};

/// A source record and what was found for it so far.
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u128,
    file: u32,
    line: u64,
    loaded: u32,
    bad: bool,
    undelivered: bool,
}

/// The lowest lines of one kind of problem in one file, as many as the report lists.
#[derive(Debug, Default)]
struct Lowest(BinaryHeap<u64>);

impl Lowest {
    fn add(&mut self, line: u64) {
        if self.0.len() < LIST_LIMIT {
            self.0.push(line);
        } else if self.0.peek().is_some_and(|&top| line < top) {
            self.0.pop();
            self.0.push(line);
        }
    }

    fn sorted(self) -> Vec<u64> {
        self.0.into_sorted_vec()
    }
}

#[derive(Debug, Default)]
struct Lists {
    missing: Lowest,
    duplicated: Lowest,
    conflicting: Lowest,
}

/// Counts every entry of `merged` into `report`: per-file counts and lines, curated
/// rows of no source record by their key (see [`super::Index::key`]), and quarantine
/// entries of no source record as notes (the caller orders them).
pub(super) fn tally(
    merged: &mut Merged,
    report: &mut Report,
    unexpected_by_key: &mut [u64],
    unattributed: &mut Vec<Note>,
) -> io::Result<()> {
    let mut lists: Vec<Lists> = report.files.iter().map(|_| Lists::default()).collect();
    let mut current: Option<Slot> = None;
    while let Some((Entry { id, mark }, note)) = merged.next_entry()? {
        if current.is_some_and(|slot| slot.id != id) {
            close(current.take(), report, &mut lists);
        }
        match mark {
            Mark::Source { file, line } => {
                // A file that failed part way counts none of its records.
                if report
                    .files
                    .get(file as usize)
                    .is_none_or(|f| f.error.is_some())
                {
                    continue;
                }
                // The same id again: the earlier record keeps nothing.
                close(current.take(), report, &mut lists);
                current = Some(Slot {
                    id,
                    file,
                    line,
                    loaded: 0,
                    bad: false,
                    undelivered: false,
                });
            }
            Mark::Curated { key } => match &mut current {
                Some(slot) => slot.loaded += 1,
                None => {
                    if let Some(rows) = unexpected_by_key.get_mut(key as usize) {
                        *rows += 1;
                    }
                }
            },
            Mark::Quarantine { bad, .. } => match &mut current {
                Some(slot) if bad => slot.bad = true,
                Some(slot) => slot.undelivered = true,
                None => unattributed.extend(note),
            },
        }
    }
    close(current, report, &mut lists);
    for (f, lists) in report.files.iter_mut().zip(lists) {
        f.missing = lists.missing.sorted();
        f.duplicated = lists.duplicated.sorted();
        f.conflicting = lists.conflicting.sorted();
    }
    Ok(())
}

/// Counts one source record, now that all its entries are in.
fn close(slot: Option<Slot>, report: &mut Report, lists: &mut [Lists]) {
    let Some(slot) = slot else {
        return;
    };
    let (Some(f), Some(lists)) = (
        report.files.get_mut(slot.file as usize),
        lists.get_mut(slot.file as usize),
    ) else {
        return;
    };
    if slot.loaded > 0 {
        f.loaded += 1;
        if slot.loaded > 1 {
            f.duplicated_count += 1;
            lists.duplicated.add(slot.line);
        }
        if slot.bad {
            f.conflicting_count += 1;
            lists.conflicting.add(slot.line);
        }
    } else if slot.bad || slot.undelivered {
        f.quarantined += 1;
        if !slot.bad {
            f.undelivered += 1;
        }
    } else {
        f.missing_count += 1;
        lists.missing.add(slot.line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reconcile::FileReport;
    use crate::reconcile::spill::{IdSorter, SpillConfig};

    fn tallied(entries: &[(u128, Mark)], files: Vec<FileReport>) -> (Report, Vec<u64>, Vec<Note>) {
        let mut sorter = IdSorter::new(SpillConfig {
            budget: 1 << 20,
            dir: None,
        });
        for &(id, mark) in entries {
            match mark {
                Mark::Quarantine { bad, .. } => {
                    let note = Note {
                        seq: id as u64,
                        ..Default::default()
                    };
                    sorter.push_quarantine(id, bad, note);
                }
                mark => sorter.push(id, mark),
            }
        }
        let mut report = Report {
            files,
            ..Default::default()
        };
        let (mut unexpected, mut unattributed) = (vec![0; 2], Vec::new());
        let mut merged = sorter.finish().unwrap();
        tally(&mut merged, &mut report, &mut unexpected, &mut unattributed).unwrap();
        (report, unexpected, unattributed)
    }

    #[test]
    fn a_file_that_failed_part_way_counts_none_of_its_records() {
        let source = |file, line| Mark::Source { file, line };
        let entries = [
            (1, source(0, 1)),
            (1, Mark::Curated { key: 0 }),
            (2, source(1, 1)),
            (2, Mark::Curated { key: 1 }),
            (3, source(1, 2)),
            (3, Mark::Quarantine { bad: true, note: 0 }),
        ];
        // File 1's records were entered, then reading it failed.
        let failed = FileReport {
            error: Some("failed".into()),
            ..Default::default()
        };
        let files = vec![FileReport::default(), failed.clone()];
        let (report, unexpected, unattributed) = tallied(&entries, files);
        assert_eq!(report.files[0].loaded, 1);
        assert_eq!(report.files[1], failed);
        // Its rows and entries name no source record, as if it had not been read.
        assert_eq!(unexpected, [0, 1]);
        assert_eq!(unattributed.len(), 1);
    }

    #[test]
    fn of_two_source_records_with_one_id_the_last_takes_the_rows() {
        let entries = [
            (5, Mark::Source { file: 1, line: 3 }),
            (5, Mark::Source { file: 0, line: 8 }),
            (5, Mark::Curated { key: 0 }),
        ];
        let (report, unexpected, _) = tallied(&entries, vec![FileReport::default(); 2]);
        assert_eq!(
            (report.files[0].missing.as_slice(), report.files[0].loaded),
            (&[8][..], 0)
        );
        assert_eq!(report.files[1].loaded, 1);
        assert_eq!(unexpected, [0, 0]);
    }

    #[test]
    fn the_lowest_lines_are_kept_whatever_the_order() {
        let mut lowest = Lowest::default();
        for line in (1..=100u64).rev().chain([50, 3]) {
            lowest.add(line);
        }
        let mut expected: Vec<u64> = (1..=100).chain([50, 3]).collect();
        expected.sort_unstable();
        expected.truncate(LIST_LIMIT);
        assert_eq!(lowest.sorted(), expected);
    }
}
