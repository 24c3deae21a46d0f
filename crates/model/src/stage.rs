//! The three deployment stages.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Stage {
    Release,
    Pre,
    Test,
}

impl Stage {
    pub const ALL: [Stage; 3] = [Stage::Release, Stage::Pre, Stage::Test];

    pub const fn as_str(self) -> &'static str {
        match self {
            Stage::Release => "RELEASE",
            Stage::Pre => "PRE",
            Stage::Test => "TEST",
        }
    }

    /// Dense index, for per-stage arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Parses a stage name case-insensitively (`X-Ca-Stage: test` selects TEST).
    pub fn parse(s: &[u8]) -> Option<Stage> {
        if s.eq_ignore_ascii_case(b"RELEASE") {
            Some(Stage::Release)
        } else if s.eq_ignore_ascii_case(b"PRE") {
            Some(Stage::Pre)
        } else if s.eq_ignore_ascii_case(b"TEST") {
            Some(Stage::Test)
        } else {
            None
        }
    }
}

impl FromStr for Stage {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Stage::parse(s.as_bytes())
            .ok_or_else(|| format!("unknown stage `{s}` (RELEASE, PRE or TEST)"))
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_case_insensitively() {
        assert_eq!(Stage::parse(b"test"), Some(Stage::Test));
        assert_eq!(Stage::parse(b"Pre"), Some(Stage::Pre));
        assert_eq!(Stage::parse(b"RELEASE"), Some(Stage::Release));
        assert_eq!(Stage::parse(b"PROD"), None);
        assert_eq!(Stage::parse(b""), None);
    }
}
