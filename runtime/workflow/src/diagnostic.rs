//! Diagnostics: what is wrong (or suspicious) in a workflow definition, and where.
//!
//! Every finding names the JSON pointer of the offending field in the source
//! document (as the user wrote it, whatever the dialect), its line and column,
//! and a sentence the user can act on. They serialize to JSON for tools.

use std::fmt;

use serde::Serialize;

use super::source::Position;

/// Whether a finding stops the definition from loading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about a definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// RFC 6901 JSON pointer into the source document, e.g. `/states/2/transition/nextState`.
    pub pointer: String,
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let severity = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(
            f,
            "{}:{}: {severity}: {} (at {})",
            self.line, self.column, self.message, self.pointer
        )
    }
}

/// All findings of one load, errors first in source order; returned as the
/// error of [`crate::parse`] when at least one is an error.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, thiserror::Error)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, diagnostic) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(f)?;
            }
            write!(f, "{diagnostic}")?;
        }
        Ok(())
    }
}

impl Diagnostics {
    pub fn has_errors(&self) -> bool {
        self.0.iter().any(|d| d.severity == Severity::Error)
    }

    pub fn error(&mut self, pointer: &Pointer, position: Position, message: impl Into<String>) {
        self.push(Severity::Error, pointer, position, message.into());
    }

    pub fn warning(&mut self, pointer: &Pointer, position: Position, message: impl Into<String>) {
        self.push(Severity::Warning, pointer, position, message.into());
    }

    fn push(&mut self, severity: Severity, pointer: &Pointer, position: Position, message: String) {
        self.0.push(Diagnostic {
            severity,
            pointer: pointer.to_string(),
            line: position.line,
            column: position.column,
            message,
        });
    }

    /// Orders findings by severity then source position, so output is stable
    /// whatever order the checks ran in.
    pub fn sort(&mut self) {
        self.0.sort_by_key(|d| (d.severity, d.line, d.column));
    }
}

/// A JSON pointer under construction.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Pointer(Vec<String>);

impl Pointer {
    pub fn root() -> Self {
        Pointer(Vec::new())
    }

    pub fn key(&self, key: &str) -> Self {
        let mut parts = self.0.clone();
        parts.push(key.to_owned());
        Pointer(parts)
    }

    pub fn index(&self, index: usize) -> Self {
        self.key(&index.to_string())
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.0 {
            write!(f, "/{}", part.replace('~', "~0").replace('/', "~1"))?;
        }
        Ok(())
    }
}

/// Names longer than this neither get nor are offered a suggestion: comparing
/// two names costs the product of their lengths (two 400 KB names took
/// minutes), and no one needs help with a typo in a name this long.
pub const MAX_SUGGESTED_NAME_BYTES: usize = 128;

/// "; did you mean 'X'?" when one candidate is close to `wanted`, else "".
pub fn did_you_mean<'a>(wanted: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    if wanted.len() > MAX_SUGGESTED_NAME_BYTES {
        return String::new();
    }
    let wanted = wanted.to_lowercase();
    let best = candidates
        .into_iter()
        .filter(|c| c.len() <= MAX_SUGGESTED_NAME_BYTES)
        .map(|c| (strsim::jaro_winkler(&wanted, &c.to_lowercase()), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    match best {
        Some((_, candidate)) => format!("; did you mean '{candidate}'?"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointer_escapes_per_rfc_6901() {
        assert_eq!(
            Pointer::root().key("a/b").key("c~d").index(2).to_string(),
            "/a~1b/c~0d/2"
        );
    }

    #[test]
    fn suggestions_pick_the_closest_name() {
        assert_eq!(
            did_you_mean("Aprove", ["Approve", "Reject"]),
            "; did you mean 'Approve'?"
        );
        assert_eq!(did_you_mean("Zzz", ["Approve"]), "");
    }

    /// Two state names of 400 KB, one transitioning to a near miss of the
    /// other, took minutes: the similarity of two names costs the product of
    /// their lengths.
    #[test]
    fn regression_long_names_made_suggestions_take_minutes() {
        let long = "A".repeat(400_000);
        let started = std::time::Instant::now();
        assert_eq!(
            did_you_mean(&format!("{long}B"), [format!("{long}C").as_str()]),
            ""
        );
        assert_eq!(
            did_you_mean("Aprove", [long.as_str(), "Approve"]),
            "; did you mean 'Approve'?"
        );
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
    }
}
