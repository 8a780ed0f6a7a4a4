//! The Snowflake scripts of a deployment with many feeds (`feedpipe sql render`): the
//! schemachange root folder of a
//! deployment with many feeds, one table, stage, pipe, manifest stage and dedup view
//! per feed, generated from each feed's contract (sql/README.md, "Many feeds").
//!
//! The layout, and why (schemachange runs a `V` script once, and only if its version
//! is above every version applied; an `R__` script whenever its rendered text
//! changes, after the `V` scripts, in name order):
//!
//! - `V1__database_and_schema.sql`, `V3__file_format.sql`,
//!   `V8__file_format_options.sql`: copies of `sql/`, byte for byte, so that a
//!   deployment that started from `sql/` finds them applied under the same names.
//! - `V2__storage_integration.sql`: `sql/V2` with every feed's table and manifest
//!   prefix in `STORAGE_ALLOWED_LOCATIONS` (a new deployment).
//! - `R__1_storage_locations.sql`: `ALTER STORAGE INTEGRATION … SET
//!   STORAGE_ALLOWED_LOCATIONS` to the same list; it changes when a feed is added, so
//!   it runs again then, before the new feed's objects.
//! - per feed, `R__2_<table>__objects.sql`: the statements of `sql/V4`, `V5` (the
//!   contract's table), `V6`, `V7` and `R__dedup_view.sql` with `{{ table }}` set, and
//!   `R__3_<table>__monitoring.sql` from `R__monitoring.sql`. Every object but the view
//!   is `CREATE … IF NOT EXISTS`, so running them again replaces nothing (a pipe keeps
//!   its load history); a new feed is a new script, which schemachange runs whatever
//!   the versions applied. Feeds as versioned scripts could not be added later: a
//!   version below the highest applied is skipped.
//!
//! The output depends on the feeds file's entries and the contracts alone (not on
//! where the feeds file is or what it is called), so two renders are byte for byte the
//! same, and adding a feed changes only V2, `R__1` and the new feed's files.

use feedpipe_shared::feeds::FeedsFile;

use crate::contract::{Column, ColumnType, SchemaContract};

const V1: &str = include_str!("../../../sql/V1__database_and_schema.sql");
const V2: &str = include_str!("../../../sql/V2__storage_integration.sql");
const V3: &str = include_str!("../../../sql/V3__file_format.sql");
const V4: &str = include_str!("../../../sql/V4__stage.sql");
const V6: &str = include_str!("../../../sql/V6__pipe.sql");
const V7: &str = include_str!("../../../sql/V7__manifest_stage.sql");
const V8: &str = include_str!("../../../sql/V8__file_format_options.sql");
const DEDUP: &str = include_str!("../../../sql/R__dedup_view.sql");
const MONITORING: &str = include_str!("../../../sql/R__monitoring.sql");

/// `sql/V2`'s allowed locations, for one table.
const V2_LOCATIONS: &str = "  STORAGE_ALLOWED_LOCATIONS = ('s3://{{ curated_bucket }}/{{ table }}/', 's3://{{ curated_bucket }}/_manifests/{{ table }}/')\n";
const V2_COMMENT: &str =
    "  COMMENT = 'feedpipe: read-only access to the curated Parquet of {{ table }}';\n";

/// The scripts (file name, text) for the feeds of `feeds`, each with its contract (in
/// the feeds file's order, tables as the feeds file names them). Nothing in them names
/// the feeds file or this machine, so renaming or moving the file changes no script.
pub fn render_feeds(
    feeds: &FeedsFile,
    contracts: &[SchemaContract],
) -> Result<Vec<(String, String)>, String> {
    let tables: Vec<&str> = contracts.iter().map(|c| c.table.as_str()).collect();
    for (i, (feed, contract)) in feeds.feeds.iter().zip(contracts).enumerate() {
        jinja_free(&contract.columns, "").map_err(|column| {
            format!(
                "feeds file {}: entry {} (table `{}`): the description of column `{column}` holds `{{{{`, `{{%` or `{{#`, which schemachange's Jinja would read as a template; reword it",
                feeds.origin,
                i + 1,
                feed.table
            )
        })?;
    }
    let locations = tables
        .iter()
        .map(|t| {
            format!("    's3://{{{{ curated_bucket }}}}/{t}/', 's3://{{{{ curated_bucket }}}}/_manifests/{t}/'")
        })
        .collect::<Vec<_>>()
        .join(",\n");
    let mut scripts = vec![
        ("V1__database_and_schema.sql".to_owned(), V1.to_owned()),
        (
            "V2__storage_integration.sql".to_owned(),
            v2(&tables, &locations)?,
        ),
        ("V3__file_format.sql".to_owned(), V3.to_owned()),
        ("V8__file_format_options.sql".to_owned(), V8.to_owned()),
        (
            "R__1_storage_locations.sql".to_owned(),
            format!(
                "-- R (re-applied when it changes, so whenever a feed is added or removed): the\n\
                 -- prefixes of the curated bucket that the storage integration of V2 may read,\n\
                 -- every feed's table and its conversion manifests ({}).\n\
                 -- Rendered by `feedpipe sql render` from the feeds file; do not edit, render again.\n\
                 -- Placeholders: {{{{ storage_integration }}}}, {{{{ curated_bucket }}}}.\n\
                 -- A deployment made from this folder has them from V2 already; one whose V2 ran\n\
                 -- with fewer tables (sql/'s single feed, or before a feed was added) gets the new\n\
                 -- ones here, before the R__2_ scripts create the new stages on them. The list\n\
                 -- replaces the old one; the integration keeps its external id (it is not\n\
                 -- created again). Needs the integration's owner (the role that ran V2).\n\
                 -- The Snowflake IAM role must be allowed to read the same prefixes (Terraform:\n\
                 -- feeds_tables, modules/snowflake_access).\n\n\
                 ALTER STORAGE INTEGRATION {{{{ storage_integration }}}} SET\n  STORAGE_ALLOWED_LOCATIONS = (\n{locations}\n  );\n",
                tables.join(", ")
            ),
        ),
    ];
    for (feed, contract) in feeds.feeds.iter().zip(contracts) {
        let table = contract.table.as_str();
        let contract_name = feed.contract.as_deref().unwrap_or_default();
        let objects = [
            ("sql/V4__stage.sql", body(V4)),
            (
                "the table: `feedpipe schema sql` of the contract",
                body(&contract.snowflake_table_sql()),
            ),
            ("sql/V6__pipe.sql", body(V6)),
            ("sql/V7__manifest_stage.sql", body(V7)),
            ("sql/R__dedup_view.sql", body(DEDUP)),
        ]
        .iter()
        .map(|(from, text)| format!("-- ---- {from}\n{}", with_table(text, table)))
        .collect::<Vec<_>>()
        .join("\n");
        scripts.push((
            format!("R__2_{table}__objects.sql"),
            format!(
                "-- R (re-applied when it changes): the Snowflake objects of feed `{table}` (contract\n\
                 -- {contract_name}): its stage on s3://<curated>/{table}/, its table, its pipe, its\n\
                 -- manifest stage on s3://<curated>/_manifests/{table}/ and its view {table}_dedup.\n\
                 -- Rendered by `feedpipe sql render` from the feeds file; do not edit: change the\n\
                 -- contract or the feeds file and render again.\n\
                 -- The statements are those of sql/V4__stage.sql, the contract's table\n\
                 -- (`feedpipe schema sql`), sql/V6__pipe.sql, sql/V7__manifest_stage.sql and\n\
                 -- sql/R__dedup_view.sql, with their placeholder `table` set to {table}; their\n\
                 -- notes are there.\n\
                 -- Placeholders: {{{{ database }}}}, {{{{ schema }}}}, {{{{ curated_bucket }}}},\n\
                 -- {{{{ storage_integration }}}}.\n\
                 -- Running it again replaces nothing that holds data or history: the stage, table,\n\
                 -- pipe, file format and manifest stage are CREATE … IF NOT EXISTS, so an existing\n\
                 -- one stays as it is (a pipe keeps its load history, a table its rows). Only the\n\
                 -- view is CREATE OR REPLACE, which a changed contract makes run again, so that the\n\
                 -- view follows the table's columns. A column added to an existing table comes\n\
                 -- from `feedpipe schema diff OLD NEW`, run before this (sql/README.md, \"Many feeds\").\n\n\
                 {objects}"
            ),
        ));
        scripts.push((
            format!("R__3_{table}__monitoring.sql"),
            format!(
                "-- R (re-applied when it changes): read-only monitoring queries of feed `{table}`:\n\
                 -- sql/R__monitoring.sql, with its placeholder `table` set to {table}; its notes are\n\
                 -- there. Creates nothing. Rendered by `feedpipe sql render` from the feeds file.\n\
                 -- Placeholders: {{{{ database }}}}, {{{{ schema }}}}.\n\n{}",
                with_table(body(MONITORING), table)
            ),
        ));
    }
    for (file, text) in &scripts {
        if text.contains("{{ table") || text.contains("{{table") {
            return Err(format!(
                "{file}: a `{{{{ table }}}}` placeholder is left (a template of sql/ changed?)"
            ));
        }
    }
    Ok(scripts)
}

/// `sql/V2` with the allowed locations of every table.
fn v2(tables: &[&str], locations: &str) -> Result<String, String> {
    let text = body(V2);
    if !text.contains(V2_LOCATIONS) || !text.contains(V2_COMMENT) {
        return Err(
            "sql/V2__storage_integration.sql changed: its STORAGE_ALLOWED_LOCATIONS or COMMENT line is not the one `feedpipe sql render` replaces".into(),
        );
    }
    let text = text
        .replace(
            V2_LOCATIONS,
            &format!("  STORAGE_ALLOWED_LOCATIONS = (\n{locations}\n  )\n"),
        )
        .replace(
            V2_COMMENT,
            "  COMMENT = 'feedpipe: read-only access to the curated Parquet of the feeds'' tables';\n",
        );
    Ok(format!(
        "-- V2: creates the storage integration through which Snowflake reads the\n\
         -- curated bucket, by assuming the IAM role Terraform made: sql/V2__storage_integration.sql\n\
         -- with the Parquet and manifest prefixes of every feed ({}).\n\
         -- Rendered by `feedpipe sql render` from the feeds file; do not edit, render again.\n\
         -- Run once, by hand, for the handshake (sql/README.md, \"Deploying\"); a feed added\n\
         -- later gets its prefixes from R__1_storage_locations.sql (this file's text then\n\
         -- changes, and schemachange only notes that an applied script drifted).\n\
         -- Needs from Terraform: sql_vars ({{{{ snowflake_role_arn }}}}, {{{{ curated_bucket }}}}).\n\
         -- Placeholders: {{{{ storage_integration }}}}, {{{{ snowflake_role_arn }}}}, {{{{ curated_bucket }}}}.\n\
         -- Needs a role with CREATE INTEGRATION (ACCOUNTADMIN by default).\n\
         -- IF NOT EXISTS, never OR REPLACE: replacing the integration gives it a new\n\
         -- external id, and the IAM role's trust policy would no longer match.\n\n{text}",
        tables.join(", ")
    ))
}

/// A script without its opening comment (what it creates, for which file): the lines
/// up to the first that is not a comment, and the blank lines after them.
fn body(script: &str) -> &str {
    let mut rest = script;
    while rest.starts_with("--") {
        rest = rest.split_once('\n').map_or("", |(_, r)| r);
    }
    rest.trim_start_matches('\n')
}

fn with_table(text: &str, table: &str) -> String {
    text.replace("{{ table }}", table)
}

/// `Err(column path)` when a description would be read as Jinja by schemachange.
fn jinja_free(columns: &[Column], path: &str) -> Result<(), String> {
    for c in columns {
        let at = format!("{path}{}", c.name);
        if c.description
            .as_deref()
            .is_some_and(|d| d.contains("{{") || d.contains("{%") || d.contains("{#"))
        {
            return Err(at);
        }
        let mut ty = &c.ty;
        while let ColumnType::List(inner) = ty {
            ty = inner;
        }
        if let ColumnType::Struct(fields) = ty {
            jinja_free(fields, &format!("{at}."))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feeds(text: &str) -> FeedsFile {
        FeedsFile::parse("deploy/feeds.toml", text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn contract_of(table: &str) -> SchemaContract {
        SchemaContract::from_json(&format!(
            r#"{{"table":"{table}","columns":[{{"name":"id","type":"string","nullable":false}},{{"name":"n","type":"int64","description":"A count"}}]}}"#
        ))
        .unwrap_or_else(|e| panic!("{e}"))
    }

    const TWO: &str = "[[feeds]]\ntable = \"orders\"\nprefix = \"orders/\"\ncontract = \"c/orders.json\"\n\n[[feeds]]\ntable = \"customers\"\nprefix = \"customers/\"\ncontract = \"c/customers.json\"\n";

    #[test]
    fn the_per_feed_statements_are_the_single_feed_ones_with_the_table_set() {
        let file = feeds(TWO);
        let contracts = [contract_of("orders"), contract_of("customers")];
        let scripts = render_feeds(&file, &contracts).unwrap();
        let text = |n: &str| {
            scripts
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| panic!("no {n}"))
        };
        let objects = text("R__2_orders__objects.sql");
        for template in [V4, V6, V7, DEDUP] {
            let want = body(template).replace("{{ table }}", "orders");
            assert!(objects.contains(&want), "{want}\nnot in\n{objects}");
        }
        assert!(
            objects.contains(
                body(&contracts[0].snowflake_table_sql())
                    .replace("{{ table }}", "orders")
                    .as_str()
            )
        );
        assert!(
            text("R__3_customers__monitoring.sql")
                .contains(&body(MONITORING).replace("{{ table }}", "customers"))
        );
        assert_eq!(text("V1__database_and_schema.sql"), V1);
        assert_eq!(text("V3__file_format.sql"), V3);
        assert_eq!(text("V8__file_format_options.sql"), V8);
        for (name, t) in &scripts {
            assert!(!t.contains("{{ table }}"), "{name}");
        }
    }

    #[test]
    fn a_jinja_delimiter_in_a_description_is_refused_naming_the_column() {
        let file = feeds(TWO);
        let mut bad = contract_of("customers");
        bad.columns[1].description = Some("the {{ n }}".into());
        let err = render_feeds(&file, &[contract_of("orders"), bad]).unwrap_err();
        assert!(
            err.contains("entry 2 (table `customers`): the description of column `n`"),
            "{err}"
        );
    }

    #[test]
    fn body_drops_the_opening_comment_only() {
        assert_eq!(
            body("-- a\n-- b\n\nSELECT 1;\n-- c\nSELECT 2;\n"),
            "SELECT 1;\n-- c\nSELECT 2;\n"
        );
        assert_eq!(body("-- a\nCREATE x;\n"), "CREATE x;\n");
    }
}
