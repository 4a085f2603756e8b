//! A case's status and the transitions between them, checked before anything is stored.

use serde::{Deserialize, Serialize};

/// Where a case stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = CaseStatus)]
pub enum Status {
    /// Opened by a rule, nobody has started.
    Open,
    /// Someone works on it.
    InProgress,
    /// Done, with a resolution code and note; waiting to be closed (or reopened).
    Resolved,
    /// Finished.
    Closed,
    /// Came back after being resolved or closed.
    Reopened,
}

impl Status {
    /// Every status.
    pub const ALL: [Status; 5] = [
        Status::Open,
        Status::InProgress,
        Status::Resolved,
        Status::Closed,
        Status::Reopened,
    ];

    /// Name in the API and the warehouse.
    pub fn name(self) -> &'static str {
        match self {
            Status::Open => "open",
            Status::InProgress => "in_progress",
            Status::Resolved => "resolved",
            Status::Closed => "closed",
            Status::Reopened => "reopened",
        }
    }

    /// The status with this name.
    pub fn parse(name: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether somebody still owes the customer an answer (an SLA runs).
    pub fn is_active(self) -> bool {
        matches!(self, Status::Open | Status::InProgress | Status::Reopened)
    }

    /// The statuses a case may move to from this one.
    pub fn next(self) -> &'static [Status] {
        match self {
            Status::Open | Status::Reopened => &[Status::InProgress, Status::Resolved],
            Status::InProgress => &[Status::Resolved],
            Status::Resolved => &[Status::Closed, Status::Reopened],
            Status::Closed => &[Status::Reopened],
        }
    }
}

/// A resolution: why the case is done, in a code for reporting and a note for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub code: String,
    pub note: String,
}

/// Longest resolution code and note, and note on any change.
pub const MAX_CODE_CHARS: usize = 64;
pub const MAX_NOTE_CHARS: usize = 4000;

/// Why a transition is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The target cannot follow the current status.
    #[error("a {} case cannot become {}; it can become {}", .from.name(), .to.name(), names(.from.next()))]
    NotAllowed { from: Status, to: Status },
    /// Resolving needs a code and a note.
    #[error("resolving a case needs a resolution_code and a note saying what was done")]
    ResolutionMissing,
    /// A code or note too long, or a code that is not a word.
    #[error("{0}")]
    Invalid(String),
}

fn names(statuses: &[Status]) -> String {
    statuses
        .iter()
        .map(|s| s.name())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Checks a move from `from` to `to`; resolving requires `code` and `note`. Returns the
/// resolution to store when `to` is `resolved`.
///
/// # Errors
/// When the move is not allowed or the resolution is missing or malformed.
pub fn transition(
    from: Status,
    to: Status,
    code: Option<&str>,
    note: Option<&str>,
) -> Result<Option<Resolution>, TransitionError> {
    if !from.next().contains(&to) {
        return Err(TransitionError::NotAllowed { from, to });
    }
    if to != Status::Resolved {
        return Ok(None);
    }
    let code = code.map(str::trim).filter(|c| !c.is_empty());
    let note = note.map(str::trim).filter(|n| !n.is_empty());
    let (Some(code), Some(note)) = (code, note) else {
        return Err(TransitionError::ResolutionMissing);
    };
    check_code(code)?;
    check_note(note)?;
    Ok(Some(Resolution {
        code: code.to_owned(),
        note: note.to_owned(),
    }))
}

/// A resolution code: a short word of letters, digits, `_` and `-` (reports group by it).
///
/// # Errors
/// When it is not.
pub fn check_code(code: &str) -> Result<(), TransitionError> {
    if code.chars().count() > MAX_CODE_CHARS
        || !code
            .chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(TransitionError::Invalid(format!(
            "resolution_code must be up to {MAX_CODE_CHARS} letters, digits, _ or -"
        )));
    }
    Ok(())
}

/// A note of bounded length.
///
/// # Errors
/// When it is too long.
pub fn check_note(note: &str) -> Result<(), TransitionError> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(TransitionError::Invalid(format!(
            "note must be at most {MAX_NOTE_CHARS} characters"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_path_and_reopening_are_allowed() {
        let path = [
            Status::Open,
            Status::InProgress,
            Status::Resolved,
            Status::Closed,
            Status::Reopened,
            Status::Resolved,
        ];
        for pair in path.windows(2) {
            let resolution = transition(pair[0], pair[1], Some("refund"), Some("refunded"));
            assert!(resolution.is_ok(), "{pair:?}: {resolution:?}");
        }
    }

    #[test]
    fn skipping_backwards_or_staying_is_refused() {
        for (from, to) in [
            (Status::Open, Status::Closed),
            (Status::Open, Status::Open),
            (Status::InProgress, Status::Open),
            (Status::Closed, Status::InProgress),
            (Status::Resolved, Status::InProgress),
        ] {
            assert_eq!(
                transition(from, to, Some("x"), Some("y")),
                Err(TransitionError::NotAllowed { from, to })
            );
        }
    }

    #[test]
    fn resolving_needs_a_code_and_a_note() {
        for (code, note) in [
            (None, Some("done")),
            (Some("refund"), None),
            (Some("refund"), Some("   ")),
        ] {
            assert_eq!(
                transition(Status::InProgress, Status::Resolved, code, note),
                Err(TransitionError::ResolutionMissing)
            );
        }
        assert!(matches!(
            transition(Status::Open, Status::Resolved, Some("a b"), Some("done")),
            Err(TransitionError::Invalid(_))
        ));
        let long = "x".repeat(MAX_NOTE_CHARS + 1);
        assert!(matches!(
            transition(Status::Open, Status::Resolved, Some("ok"), Some(&long)),
            Err(TransitionError::Invalid(_))
        ));
        assert_eq!(
            transition(
                Status::Open,
                Status::Resolved,
                Some(" refund "),
                Some(" paid back ")
            ),
            Ok(Some(Resolution {
                code: "refund".into(),
                note: "paid back".into()
            }))
        );
    }

    #[test]
    fn every_status_name_parses_back() {
        for status in Status::ALL {
            assert_eq!(Status::parse(status.name()), Some(status));
        }
        assert_eq!(Status::parse("done"), None);
    }
}
