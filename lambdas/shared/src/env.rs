//! A Lambda's environment, read once at cold start into its typed configuration.
//!
//! Values are trimmed and an empty value counts as unset (Terraform passes `""` for an
//! optional setting left out). Every error names the variable, so a cold start that
//! fails says what to fix. Each Lambda's `config.rs` spells out its own variable
//! names; this module only reads them.
//!
//! ```
//! use lambda_shared::env::{ConfigError, Env};
//!
//! let env = Env::new(|name| (name == "FEEDPIPE_MAX_ATTEMPTS").then(|| " 3 ".to_owned()));
//! assert_eq!(env.number_or("FEEDPIPE_MAX_ATTEMPTS", 8, 1..=20), Ok(3));
//! assert_eq!(env.optional("FEEDPIPE_TABLE"), None);
//! assert_eq!(env.required("FEEDPIPE_TABLE"), Err(ConfigError::Missing("FEEDPIPE_TABLE")));
//! ```

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// What is wrong with the environment.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    /// A required variable is not set (or empty).
    #[error("environment variable {0} is required but not set")]
    Missing(&'static str),
    /// A variable has a value that cannot be used.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// Its value, trimmed.
        value: String,
        /// What a valid value looks like.
        reason: String,
    },
}

/// With a feeds file (`FEEDPIPE_FEEDS_URL`), the single-feed variables must be unset:
/// each feed names its own table, contract, event time and partition key there.
pub fn feeds_exclude(
    feeds_url: Option<&str>,
    single: &[(&'static str, Option<&str>)],
) -> Result<(), ConfigError> {
    let Some(url) = feeds_url else {
        return Ok(());
    };
    let set: Vec<&str> = single
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(name, _)| *name)
        .collect();
    if set.is_empty() {
        return Ok(());
    }
    Err(ConfigError::Invalid {
        name: "FEEDPIPE_FEEDS_URL",
        value: url.to_owned(),
        reason: format!(
            "{} set too: with a feeds file each feed names its own; unset {}",
            set.join(", "),
            if set.len() == 1 { "it" } else { "them" }
        ),
    })
}

/// The process environment, for [`Env::new`] (tests pass a closure over a list).
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Environment variables looked up through a function.
pub struct Env<F> {
    lookup: F,
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Variables as `lookup` gives them ([`process_env`] in a Lambda).
    pub fn new(lookup: F) -> Self {
        Self { lookup }
    }

    /// The value of `name`, trimmed; `None` when it is unset or empty.
    pub fn optional(&self, name: &'static str) -> Option<String> {
        (self.lookup)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// The value of `name`, which must be set.
    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    /// `name` parsed with [`FromStr`] (its error becomes the reason), or `default` when unset.
    pub fn parsed_or<T>(&self, name: &'static str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let Some(value) = self.optional(name) else {
            return Ok(default);
        };
        value.parse().map_err(|e: T::Err| ConfigError::Invalid {
            name,
            reason: e.to_string(),
            value,
        })
    }

    /// `name` as a whole number within `range`, or `default` when unset.
    pub fn number_or<T>(
        &self,
        name: &'static str,
        default: T,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: FromStr + PartialOrd + Display + Copy,
    {
        let Some(value) = self.optional(name) else {
            return Ok(default);
        };
        match value.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError::Invalid {
                name,
                value,
                reason: format!(
                    "expected a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(vars: &'static [(&'static str, &'static str)]) -> Env<impl Fn(&str) -> Option<String>> {
        Env::new(move |name: &str| {
            vars.iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn values_are_trimmed_and_empty_ones_are_unset() {
        let e = env(&[("A", "  x "), ("B", "   "), ("C", "")]);
        assert_eq!(e.optional("A").as_deref(), Some("x"));
        assert_eq!(e.optional("B"), None);
        assert_eq!(e.required("C"), Err(ConfigError::Missing("C")));
        assert_eq!(
            e.required("D").unwrap_err().to_string(),
            "environment variable D is required but not set"
        );
    }

    #[test]
    fn parse_errors_name_the_variable_and_give_the_reason() {
        let e = env(&[("PORT", "eighty"), ("FLAG", "true")]);
        let err = e.parsed_or::<u16>("PORT", 80).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable PORT=\"eighty\" is invalid: invalid digit found in string"
        );
        assert_eq!(e.parsed_or("FLAG", false), Ok(true));
        assert_eq!(e.parsed_or("UNSET", 7u8), Ok(7));
    }

    #[test]
    fn numbers_outside_the_range_are_invalid() {
        let e = env(&[("N", "0"), ("M", "20"), ("X", "-1")]);
        assert_eq!(
            e.number_or("N", 8u32, 1..=20).unwrap_err().to_string(),
            "environment variable N=\"0\" is invalid: expected a whole number from 1 to 20"
        );
        assert_eq!(e.number_or("M", 8u32, 1..=20), Ok(20));
        assert!(e.number_or("X", 8u32, 1..=20).is_err());
        assert_eq!(e.number_or("UNSET", 8u32, 1..=20), Ok(8));
    }
}
