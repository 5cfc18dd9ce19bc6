//! Glob lists: the matching rule every filter in the configuration uses.
//!
//! `*` matches within one `/`-separated segment, `**` across segments, `?` one character,
//! `[...]` a class. A leading `!` excludes. A value passes a list when it matches an include
//! (or the list has only excludes) and no exclude. Patterns compile to finite automata
//! (via `globset`/`regex`), so matching is linear in the length of the value.

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

/// Longest pattern accepted, in bytes.
pub const MAX_PATTERN_LEN: usize = 256;
/// Most patterns accepted in one list.
pub const MAX_PATTERNS: usize = 100;

/// Why a glob list was rejected; the message names the offending entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GlobError {
    #[error("must not be empty (leave the field out to match everything)")]
    Empty,
    #[error("has {0} patterns; at most {MAX_PATTERNS} are allowed")]
    TooMany(usize),
    #[error("[{index}]: pattern is {len} bytes; at most {MAX_PATTERN_LEN} are allowed")]
    TooLong { index: usize, len: usize },
    #[error("[{index}]: empty pattern")]
    EmptyPattern { index: usize },
    #[error("[{index}]: {reason}")]
    Invalid { index: usize, reason: String },
}

/// A compiled list of include and exclude patterns.
#[derive(Debug, Clone)]
pub struct GlobList {
    includes: GlobSet,
    excludes: GlobSet,
    has_includes: bool,
    /// The list is one pattern without any glob character: this exact value.
    literal: Option<String>,
    /// The patterns as written, for reasons a person reads.
    written: String,
}

impl GlobList {
    /// Compiles `patterns`; `case_insensitive` is used for repository names.
    pub fn new<S: AsRef<str>>(patterns: &[S], case_insensitive: bool) -> Result<Self, GlobError> {
        if patterns.is_empty() {
            return Err(GlobError::Empty);
        }
        if patterns.len() > MAX_PATTERNS {
            return Err(GlobError::TooMany(patterns.len()));
        }
        let mut includes = GlobSetBuilder::new();
        let mut excludes = GlobSetBuilder::new();
        let mut has_includes = false;
        for (index, pattern) in patterns.iter().enumerate() {
            let pattern = pattern.as_ref();
            if pattern.len() > MAX_PATTERN_LEN {
                return Err(GlobError::TooLong { index, len: pattern.len() });
            }
            let (negated, body) = match pattern.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, pattern),
            };
            if body.is_empty() {
                return Err(GlobError::EmptyPattern { index });
            }
            let glob = GlobBuilder::new(body)
                .literal_separator(true)
                .case_insensitive(case_insensitive)
                .backslash_escape(true)
                .build()
                .map_err(|e| GlobError::Invalid { index, reason: describe(&e) })?;
            if negated {
                excludes.add(glob);
            } else {
                has_includes = true;
                includes.add(glob);
            }
        }
        let build = |builder: GlobSetBuilder| {
            builder.build().map_err(|e| GlobError::Invalid { index: 0, reason: describe(&e) })
        };
        let literal = match patterns {
            [only] if !only.as_ref().contains(['*', '?', '[', ']', '{', '}', '!', '\\']) => {
                Some(only.as_ref().to_owned())
            }
            _ => None,
        };
        let written = patterns.iter().map(|p| p.as_ref()).collect::<Vec<_>>().join(", ");
        Ok(Self { includes: build(includes)?, excludes: build(excludes)?, has_includes, literal, written })
    }

    /// The patterns as written (`main, release/**, !release/legacy`).
    pub fn written(&self) -> &str {
        &self.written
    }

    /// The one value the list matches, when it is a single pattern with no glob character.
    pub fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    /// Whether `value` passes the list.
    pub fn is_match(&self, value: &str) -> bool {
        self.is_match_candidate(&Candidate::new(value))
    }

    /// Like [`GlobList::is_match`], for a value prepared once and tested against many lists.
    pub fn is_match_candidate(&self, value: &Candidate<'_>) -> bool {
        (!self.has_includes || self.includes.is_match_candidate(value)) && !self.excludes.is_match_candidate(value)
    }
}

fn describe(error: &globset::Error) -> String {
    // globset's Display repeats the whole pattern; its kind alone is the useful part.
    error.kind().to_string()
}

/// A value prepared for matching against many lists (see [`GlobList::is_match_candidate`]).
pub fn candidate(value: &str) -> Candidate<'_> {
    Candidate::new(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn list(patterns: &[&str]) -> GlobList {
        GlobList::new(patterns, false).unwrap()
    }

    #[test]
    fn single_star_stays_in_one_segment() {
        let l = list(&["release/*"]);
        assert!(l.is_match("release/1.0"));
        assert!(!l.is_match("release/1.0/hotfix"));
        assert!(!l.is_match("release"));
    }

    #[test]
    fn double_star_crosses_segments() {
        let l = list(&["release/**"]);
        assert!(l.is_match("release/1.0"));
        assert!(l.is_match("release/1.0/hotfix"));
        let paths = list(&["services/app/**"]);
        assert!(paths.is_match("services/app/src/main.rs"));
        assert!(!paths.is_match("services/other/src/main.rs"));
        assert!(list(&["**/*.md"]).is_match("docs/deep/readme.md"));
        assert!(list(&["**/*.md"]).is_match("readme.md"));
    }

    #[test]
    fn question_mark_and_class() {
        let l = list(&["v?.[0-9]"]);
        assert!(l.is_match("v1.2"));
        assert!(!l.is_match("v1.x"));
        assert!(!l.is_match("v/.2"));
    }

    #[test]
    fn excludes_win_over_includes() {
        let l = list(&["main", "release/**", "!release/legacy"]);
        assert!(l.is_match("main"));
        assert!(l.is_match("release/2.0"));
        assert!(!l.is_match("release/legacy"));
        assert!(!l.is_match("develop"));
    }

    #[test]
    fn only_excludes_pass_everything_else() {
        let l = list(&["!**/*.md"]);
        assert!(l.is_match("src/main.rs"));
        assert!(!l.is_match("docs/readme.md"));
    }

    #[test]
    fn case_insensitive_when_asked() {
        let l = GlobList::new(&["Acme/App"], true).unwrap();
        assert!(l.is_match("acme/app"));
        assert!(!list(&["Acme/App"]).is_match("acme/app"));
    }

    #[test]
    fn bad_lists_are_rejected_with_the_index() {
        assert_eq!(GlobList::new::<&str>(&[], false).unwrap_err(), GlobError::Empty);
        let err = GlobList::new(&["main", "feature/[abc"], false).unwrap_err();
        assert!(matches!(err, GlobError::Invalid { index: 1, .. }), "{err:?}");
        assert!(err.to_string().starts_with("[1]: unclosed"), "{err}");
        let long = "a".repeat(MAX_PATTERN_LEN + 1);
        assert!(matches!(GlobList::new(&[long], false), Err(GlobError::TooLong { index: 0, .. })));
        assert!(matches!(GlobList::new(&["!"], false), Err(GlobError::EmptyPattern { index: 0 })));
        let many = vec!["a"; MAX_PATTERNS + 1];
        assert!(matches!(GlobList::new(&many, false), Err(GlobError::TooMany(_))));
    }

    proptest! {
        #[test]
        fn literal_patterns_match_only_themselves(a in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}", b in "[a-z0-9]{1,8}(/[a-z0-9]{1,8}){0,3}") {
            let l = list(&[a.as_str()]);
            prop_assert!(l.is_match(&a));
            prop_assert_eq!(l.is_match(&b), a == b);
        }

        #[test]
        fn star_never_crosses_a_slash(prefix in "[a-z]{1,6}", rest in "[a-z]{1,6}(/[a-z]{1,6}){0,3}") {
            let value = format!("{prefix}/{rest}");
            let star = list(&[format!("{prefix}/*").as_str()]);
            let globstar = list(&[format!("{prefix}/**").as_str()]);
            prop_assert_eq!(star.is_match(&value), !rest.contains('/'));
            prop_assert!(globstar.is_match(&value));
        }

        #[test]
        fn an_exclude_always_removes_its_match(value in "[a-z]{1,6}(/[a-z]{1,6}){0,3}") {
            let l = list(&["**", format!("!{value}").as_str()]);
            prop_assert!(!l.is_match(&value));
            let other = format!("{value}x");
            prop_assert!(l.is_match(&other));
        }
    }
}
