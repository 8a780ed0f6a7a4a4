//! How a handler's failure reaches Lambda: retryable or not, and all of an event's
//! failures in one.
//!
//! The `error_type` of the [`Diagnostic`] is one of two stable words, "Retryable" and
//! "Permanent", so that an alarm or a DLQ consumer can filter on it; the message is
//! the error's text and may change. A handler attempts every object of an event even
//! when one fails, then answers with the one failure or with [`Failures`] of them all.
//!
//! ```
//! use lambda_shared::failure::{Retryable, diagnostic};
//!
//! #[derive(Debug, thiserror::Error)]
//! #[error("throttled")]
//! struct Throttled;
//! impl Retryable for Throttled {
//!     fn is_retryable(&self) -> bool { true }
//! }
//! assert_eq!(diagnostic(&Throttled).error_type, "Retryable");
//! ```

use std::fmt;

use lambda_runtime::Diagnostic;

/// An error that knows whether running the same event again may succeed.
pub trait Retryable {
    /// True when a retry may help (throttling, a network error); false when the same
    /// event would fail the same way (a bad key, a missing object).
    fn is_retryable(&self) -> bool;

    /// The error's stable type for Lambda.
    fn error_type(&self) -> ErrorType {
        if self.is_retryable() {
            ErrorType::Retryable
        } else {
            ErrorType::Permanent
        }
    }
}

/// The `error_type` a handler's failure is reported with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// Running the event again may succeed.
    Retryable,
    /// It will not.
    Permanent,
}

impl ErrorType {
    /// The word Lambda reports: `Retryable` or `Permanent`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorType::Retryable => "Retryable",
            ErrorType::Permanent => "Permanent",
        }
    }
}

impl fmt::Display for ErrorType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The diagnostic Lambda reports for `error`: its [`ErrorType`] and its text. A
/// handler's `impl From<HandlerError> for Diagnostic` calls this.
pub fn diagnostic<E: Retryable + fmt::Display>(error: &E) -> Diagnostic {
    Diagnostic {
        error_type: error.error_type().as_str().into(),
        error_message: error.to_string(),
    }
}

/// The failures of two or more of an event's objects, each of them attempted.
/// Retryable when any of them is: retrying the event redoes the others, which the
/// cores make safe.
#[derive(Debug, PartialEq, Eq)]
pub struct Failures<E>(Vec<E>);

impl<E> Failures<E> {
    /// How many objects failed.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when none did (never, for failures [`gather`] made).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The failures, in the order of the objects.
    pub fn iter(&self) -> std::slice::Iter<'_, E> {
        self.0.iter()
    }
}

impl<E: fmt::Display> fmt::Display for Failures<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} of the event's objects failed: ", self.0.len())?;
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl<E: std::error::Error> std::error::Error for Failures<E> {}

impl<E: Retryable> Retryable for Failures<E> {
    fn is_retryable(&self) -> bool {
        self.0.iter().any(Retryable::is_retryable)
    }
}

/// Every outcome's value when all succeeded; else the one failure as it is, or all of
/// them through `several` (a handler passes its `HandlerError::Several`).
pub fn gather<T, E>(
    outcomes: impl IntoIterator<Item = Result<T, E>>,
    several: impl FnOnce(Failures<E>) -> E,
) -> Result<Vec<T>, E> {
    let (mut done, mut failed) = (Vec::new(), Vec::new());
    for outcome in outcomes {
        match outcome {
            Ok(value) => done.push(value),
            Err(e) => failed.push(e),
        }
    }
    if failed.len() > 1 {
        return Err(several(Failures(failed)));
    }
    match failed.pop() {
        Some(only) => Err(only),
        None => Ok(done),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, thiserror::Error)]
    enum Fail {
        #[error("throttled on {0}")]
        Throttled(&'static str),
        #[error("no such key {0}")]
        Missing(&'static str),
        #[error(transparent)]
        Several(Failures<Fail>),
    }

    impl Retryable for Fail {
        fn is_retryable(&self) -> bool {
            match self {
                Fail::Throttled(_) => true,
                Fail::Missing(_) => false,
                Fail::Several(all) => all.is_retryable(),
            }
        }
    }

    #[test]
    fn all_succeeded_gives_every_value_in_order() {
        let outcomes: Vec<Result<u32, Fail>> = vec![Ok(1), Ok(2), Ok(3)];
        assert_eq!(gather(outcomes, Fail::Several), Ok(vec![1, 2, 3]));
    }

    #[test]
    fn one_failure_is_returned_as_it_is() {
        let outcomes = vec![Ok(1), Err(Fail::Missing("a")), Ok(3)];
        assert_eq!(gather(outcomes, Fail::Several), Err(Fail::Missing("a")));
    }

    #[test]
    fn several_failures_are_returned_together_in_order() {
        let outcomes: Vec<Result<u32, Fail>> =
            vec![Err(Fail::Missing("a")), Ok(2), Err(Fail::Throttled("b"))];
        let err = gather(outcomes, Fail::Several).unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 of the event's objects failed: no such key a; throttled on b"
        );
        assert!(matches!(&err, Fail::Several(all) if all.len() == 2));
    }

    #[test]
    fn several_are_retryable_when_any_one_is() {
        let permanent = Fail::Several(Failures(vec![Fail::Missing("a"), Fail::Missing("b")]));
        let mixed = Fail::Several(Failures(vec![Fail::Missing("a"), Fail::Throttled("b")]));
        assert_eq!(diagnostic(&permanent).error_type, "Permanent");
        assert_eq!(diagnostic(&mixed).error_type, "Retryable");
        assert_eq!(
            diagnostic(&Fail::Missing("k")),
            Diagnostic {
                error_type: "Permanent".into(),
                error_message: "no such key k".into()
            }
        );
    }
}
