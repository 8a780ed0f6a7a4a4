//! Backfill planning: which raw objects a backfill converts, in which groups, and
//! which it skips because they are done.
//!
//! The steps, in order:
//! 1. **Selection.** The object the input names, else every object under it; with a
//!    time window, those whose Firehose key hour (`…/YYYY/MM/DD/HH/…`) lies in it
//!    (keys without that layout go by their last-modified time). Key order.
//! 2. **Resume.** An object whose manifest exists is done and skipped. With `force`
//!    it is converted again, in the group its manifest records, so its files keep
//!    their names (a new grouping would write the same records under new names);
//!    such a group must be selected whole.
//! 3. **Compaction.** The other objects are grouped, in key order, into groups of
//!    about `target_file_size` bytes of Parquet, estimated at
//!    [`RAW_PER_PARQUET_BYTE`] bytes of raw JSON per byte; `0` makes a group of each
//!    object, as the raw-to-parquet Lambda converts them.
//!
//! [`plan`] is the rule itself (listed objects and manifests in, groups and skips
//! out), with no I/O; [`prepare`] lists and reads the manifests for it.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectMeta, ObjectStoreExt};

use feedpipe_shared::lineage::SourceObject;
use feedpipe_shared::storage::{StorageLocation, object_version, with_versions};

use crate::{FeedConverter, Manifest, RawInput};

/// Raw JSON bytes per byte of zstd Parquet, for sizing compaction groups (measured
/// 680 MB → 68 MB on the sample feed; customer data varies, so this is an estimate).
pub const RAW_PER_PARQUET_BYTE: u64 = 8;

/// Manifests read at once while planning.
const MANIFEST_READS: usize = 16;

/// What a backfill is asked to do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlanOptions {
    /// Bytes of Parquet per group, about; 0 for one group per object.
    pub target_file_size: u64,
    /// Convert again objects whose manifest says they are done.
    pub force: bool,
    /// Only objects from this hour on.
    pub since: Option<DateTime<Utc>>,
    /// Only objects before this time.
    pub until: Option<DateTime<Utc>>,
}

/// A raw object as listed, with its manifest if it was converted before.
#[derive(Debug, Clone)]
pub struct Listed {
    /// The listing's entry.
    pub meta: ObjectMeta,
    /// Its URI (as lineage and manifests write it).
    pub uri: String,
    /// Its manifest, if there is one.
    pub manifest: Option<Manifest>,
}

/// What to convert.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Objects selected.
    pub listed: usize,
    /// Of those, objects skipped as already converted.
    pub skipped: usize,
    /// The groups to convert, each into one set of Parquet files; groups recorded
    /// by manifests (with `force`) first, then the new ones in key order.
    pub groups: Vec<Vec<ObjectMeta>>,
}

impl Plan {
    /// Raw bytes to convert.
    pub fn bytes(&self) -> u64 {
        self.groups.iter().flatten().map(|o| o.size).sum()
    }

    /// Objects to convert.
    pub fn objects(&self) -> usize {
        self.groups.iter().map(Vec::len).sum()
    }
}

/// Why a backfill cannot be planned.
#[derive(Debug, thiserror::Error)]
pub enum BackfillError {
    /// The input could not be listed.
    #[error("cannot list {uri}: {source}")]
    List {
        uri: String,
        source: object_store::Error,
    },
    /// An object named for the backfill could not be looked up.
    #[error("cannot look up {uri}: {source}")]
    Head {
        uri: String,
        source: object_store::Error,
    },
    /// `force` on an object converted with others that are not all selected.
    #[error(
        "{first} was converted together with {others} other raw object(s), not all selected now; select them all (widen --input, --since, --until) to convert the group again"
    )]
    PartialGroup { first: String, others: usize },
}

impl BackfillError {
    /// Whether another try may succeed (a missing object stays missing; a group
    /// selected in part stays so).
    pub fn is_retryable(&self) -> bool {
        match self {
            BackfillError::List { .. } => true,
            BackfillError::Head { source, .. } => {
                !matches!(source, object_store::Error::NotFound { .. })
            }
            BackfillError::PartialGroup { .. } => false,
        }
    }
}

/// The hour a Firehose key names (`…/YYYY/MM/DD/HH/…`), if it has that layout.
pub fn key_hour(key: &str) -> Option<DateTime<Utc>> {
    let parts: Vec<&str> = key.split('/').collect();
    parts.windows(4).find_map(|w| {
        let [y, m, d, h] = w else { return None };
        if y.len() != 4 || m.len() != 2 || d.len() != 2 || h.len() != 2 {
            return None;
        }
        let date = NaiveDate::from_ymd_opt(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?)?;
        Some(date.and_hms_opt(h.parse().ok()?, 0, 0)?.and_utc())
    })
}

/// Selection: the objects in the window, in key order.
pub fn select(mut objects: Vec<ObjectMeta>, options: &PlanOptions) -> Vec<ObjectMeta> {
    objects.retain(|o| {
        let at = key_hour(o.location.as_ref()).unwrap_or(o.last_modified);
        options.since.is_none_or(|s| at >= s) && options.until.is_none_or(|u| at < u)
    });
    objects.sort_by(|a, b| a.location.cmp(&b.location));
    objects
}

/// Resume and compaction over selected objects (in key order) and their manifests.
pub fn plan(listed: Vec<Listed>, options: &PlanOptions) -> Result<Plan, BackfillError> {
    let total = listed.len();
    let mut fresh = Vec::new();
    let mut recorded: BTreeMap<Vec<String>, Vec<Listed>> = BTreeMap::new();
    for object in listed {
        match &object.manifest {
            None => fresh.push(object.meta),
            Some(m) if options.force => recorded
                .entry(m.inputs.iter().map(|i| i.uri.clone()).collect())
                .or_default()
                .push(object),
            Some(_) => {}
        }
    }
    let mut groups = Vec::new();
    for (uris, mut members) in recorded {
        if members.len() != uris.len() {
            return Err(BackfillError::PartialGroup {
                first: uris.first().cloned().unwrap_or_else(|| "an object".into()),
                others: uris.len().saturating_sub(1),
            });
        }
        let order: BTreeMap<&str, usize> = uris
            .iter()
            .enumerate()
            .map(|(i, u)| (u.as_str(), i))
            .collect();
        members.sort_by_key(|m| order.get(m.uri.as_str()).copied());
        groups.push(members.into_iter().map(|m| m.meta).collect());
    }
    let regrouped: usize = groups.iter().map(Vec::len).sum();
    let skipped = total - fresh.len() - regrouped;
    groups.extend(compact(fresh, options.target_file_size));
    Ok(Plan {
        listed: total,
        skipped,
        groups,
    })
}

/// Compaction: consecutive objects whose raw bytes add up to about `target` bytes of Parquet.
fn compact(objects: Vec<ObjectMeta>, target: u64) -> Vec<Vec<ObjectMeta>> {
    if target == 0 {
        return objects.into_iter().map(|o| vec![o]).collect();
    }
    let budget = target.saturating_mul(RAW_PER_PARQUET_BYTE);
    let mut out: Vec<Vec<ObjectMeta>> = Vec::new();
    let mut bytes = 0u64;
    for object in objects {
        match out.last_mut() {
            Some(group) if bytes + object.size <= budget => {
                bytes += object.size;
                group.push(object);
            }
            _ => {
                bytes = object.size;
                out.push(vec![object]);
            }
        }
    }
    out
}

/// The object at `input` if it is one, else every object under it. A listing carries
/// no version ids: [`prepare`] reads them for the objects it selects.
pub async fn list(input: &StorageLocation) -> Result<Vec<ObjectMeta>, BackfillError> {
    if !input.path.as_ref().is_empty()
        && let Ok(meta) = input.store.head(&input.path).await
    {
        return Ok(vec![meta]);
    }
    let prefix = (!input.path.as_ref().is_empty()).then_some(&input.path);
    input
        .store
        .list(prefix)
        .try_collect()
        .await
        .map_err(|source| BackfillError::List {
            uri: input.uri(),
            source,
        })
}

/// Lists `input`, selects, reads the manifests that `converter` wrote, and plans.
pub async fn prepare(
    converter: &FeedConverter,
    input: &StorageLocation,
    options: &PlanOptions,
) -> Result<Plan, BackfillError> {
    let selected = select(list(input).await?, options);
    // Each with its version id on a versioned bucket: the Lambda named the manifests
    // by the version id its event gave, and reads pin it.
    let selected = with_versions(input, selected)
        .await
        .map_err(|source| BackfillError::List {
            uri: input.uri(),
            source,
        })?;
    plan_with_manifests(converter, input, selected, options).await
}

/// Plans objects named one by one under `root` (the backfill state machine's items,
/// already selected by its listing): each is looked up, then resumed and compacted
/// as [`prepare`] does a listing.
pub async fn prepare_named(
    converter: &FeedConverter,
    root: &StorageLocation,
    keys: &[Path],
    options: &PlanOptions,
) -> Result<Plan, BackfillError> {
    let mut objects = Vec::with_capacity(keys.len());
    for key in keys {
        let meta = root
            .store
            .head(key)
            .await
            .map_err(|source| BackfillError::Head {
                uri: root.uri_of(key),
                source,
            })?;
        objects.push(meta);
    }
    plan_with_manifests(converter, root, objects, options).await
}

/// Reads the manifest of each object (in the order given) and plans.
async fn plan_with_manifests(
    converter: &FeedConverter,
    root: &StorageLocation,
    objects: Vec<ObjectMeta>,
    options: &PlanOptions,
) -> Result<Plan, BackfillError> {
    let listed: Vec<Listed> = futures::stream::iter(objects)
        .map(|meta| async move {
            let uri = root.at(meta.location.clone()).uri();
            let source = SourceObject {
                uri: uri.clone(),
                version: object_version(&meta, None),
            };
            let manifest = converter.manifest(&source).await;
            Listed {
                meta,
                uri,
                manifest,
            }
        })
        .buffered(MANIFEST_READS)
        .collect()
        .await;
    plan(listed, options)
}

/// The conversion inputs of a planned group of objects listed under `input`: each
/// pinned to the version listed, so a change since is an error, not a silent mix.
pub fn inputs(input: &StorageLocation, group: &[ObjectMeta]) -> Vec<RawInput> {
    group
        .iter()
        .map(|meta| RawInput {
            location: input.at(meta.location.clone()),
            version_id: meta.version.clone(),
            listed_version: Some(object_version(meta, None)),
            e_tag: meta.e_tag.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InputObject;

    fn meta(key: &str, size: u64) -> ObjectMeta {
        ObjectMeta {
            location: Path::from(key),
            last_modified: DateTime::parse_from_rfc3339("2026-11-20T00:00:00Z")
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or_default(),
            size,
            e_tag: Some(format!("etag-{key}")),
            version: None,
        }
    }

    fn listed(key: &str, size: u64, group: Option<&[&str]>) -> Listed {
        Listed {
            meta: meta(key, size),
            uri: format!("s3://raw/{key}"),
            manifest: group.map(|keys| Manifest {
                inputs: keys
                    .iter()
                    .map(|k| InputObject {
                        uri: format!("s3://raw/{k}"),
                        version: format!("etag-{k}"),
                        bytes: size,
                    })
                    .collect(),
                ..Manifest::default()
            }),
        }
    }

    fn keys(plan: &Plan) -> Vec<Vec<String>> {
        plan.groups
            .iter()
            .map(|g| g.iter().map(|m| m.location.to_string()).collect())
            .collect()
    }

    fn time(text: &str) -> Option<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|t| t.with_timezone(&Utc))
    }

    #[test]
    fn firehose_key_hours_are_read_and_other_keys_have_none() {
        assert_eq!(
            key_hour("raw/2026/11/23/10/feed-1-2026-11-23-10-00-00-abc.gz"),
            time("2026-11-23T10:00:00Z")
        );
        assert_eq!(key_hour("raw/2026/13/23/10/x"), None);
        assert_eq!(key_hour("incoming/orders.jsonl"), None);
    }

    #[test]
    fn the_window_selects_by_key_hour_else_last_modified_in_key_order() {
        let objects = vec![
            meta("raw/2026/11/23/11/b", 1),
            meta("raw/2026/11/23/09/a", 1),
            meta("raw/2026/11/23/10/c", 1),
            meta("other/no-hour", 1), // last modified 2026-11-20
        ];
        let options = PlanOptions {
            since: time("2026-11-23T10:00:00Z"),
            until: time("2026-11-23T11:00:00Z"),
            ..PlanOptions::default()
        };
        let selected = select(objects.clone(), &options);
        let names: Vec<String> = selected.iter().map(|m| m.location.to_string()).collect();
        assert_eq!(names, ["raw/2026/11/23/10/c"]);
        let all = select(objects, &PlanOptions::default());
        assert_eq!(
            all.first().map(|m| m.location.to_string()).as_deref(),
            Some("other/no-hour")
        );
        assert_eq!(all.len(), 4);
    }

    #[test]
    fn objects_are_grouped_in_key_order_up_to_the_estimated_size() {
        let objects = (0..5)
            .map(|i| listed(&format!("raw/{i}"), 400, None))
            .collect();
        // 100 bytes of Parquet ≈ 800 raw bytes: two objects of 400 per group.
        let options = PlanOptions {
            target_file_size: 100,
            ..PlanOptions::default()
        };
        let plan = plan(objects, &options).unwrap();
        assert_eq!(
            keys(&plan),
            [
                vec!["raw/0", "raw/1"],
                vec!["raw/2", "raw/3"],
                vec!["raw/4"]
            ]
        );
        assert_eq!(
            (plan.listed, plan.skipped, plan.objects(), plan.bytes()),
            (5, 0, 5, 2000)
        );
    }

    #[test]
    fn a_target_of_zero_converts_each_object_alone_and_a_large_one_stands_alone() {
        let objects = vec![listed("raw/a", 10, None), listed("raw/b", 10, None)];
        let plan = plan(objects, &PlanOptions::default()).unwrap();
        assert_eq!(keys(&plan), [vec!["raw/a"], vec!["raw/b"]]);

        let objects = vec![listed("raw/a", 10_000, None), listed("raw/b", 10, None)];
        let options = PlanOptions {
            target_file_size: 100,
            ..PlanOptions::default()
        };
        let plan = super::plan(objects, &options).unwrap();
        assert_eq!(keys(&plan), [vec!["raw/a"], vec!["raw/b"]]);
    }

    #[test]
    fn objects_with_a_manifest_are_skipped_on_resume() {
        let objects = vec![
            listed("raw/a", 10, Some(&["raw/a", "raw/b"])),
            listed("raw/b", 10, Some(&["raw/a", "raw/b"])),
            listed("raw/c", 10, None),
        ];
        let options = PlanOptions {
            target_file_size: 1 << 20,
            ..PlanOptions::default()
        };
        let plan = plan(objects, &options).unwrap();
        assert_eq!(keys(&plan), [vec!["raw/c"]]);
        assert_eq!((plan.listed, plan.skipped), (3, 2));
    }

    #[test]
    fn force_regroups_by_the_recorded_manifests_in_their_order() {
        let objects = vec![
            listed("raw/a", 10, Some(&["raw/b", "raw/a"])),
            listed("raw/b", 10, Some(&["raw/b", "raw/a"])),
            listed("raw/c", 10, Some(&["raw/c"])),
            listed("raw/d", 10, None),
            listed("raw/e", 10, None),
        ];
        let options = PlanOptions {
            target_file_size: 1 << 20,
            force: true,
            ..PlanOptions::default()
        };
        let plan = plan(objects, &options).unwrap();
        assert_eq!(
            keys(&plan),
            [
                vec!["raw/b", "raw/a"],
                vec!["raw/c"],
                vec!["raw/d", "raw/e"]
            ]
        );
        assert_eq!(plan.skipped, 0);
    }

    #[test]
    fn force_refuses_a_recorded_group_selected_in_part() {
        let objects = vec![listed("raw/a", 10, Some(&["raw/a", "raw/b", "raw/c"]))];
        let options = PlanOptions {
            force: true,
            ..PlanOptions::default()
        };
        let err = plan(objects, &options)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with("s3://raw/raw/a was converted together with 2 other raw object(s)"),
            "{err}"
        );
    }

    #[test]
    fn inputs_pin_the_listed_version() {
        let root = StorageLocation::parse("/tmp/feedpipe-backfill-doc").unwrap();
        let group = [meta("raw/a", 1)];
        let inputs = inputs(&root, &group);
        assert_eq!(inputs.len(), 1);
        assert_eq!(inputs[0].listed_version.as_deref(), Some("etag-raw/a"));
        assert_eq!(inputs[0].location.path.as_ref(), "raw/a");
    }
}
