//! Versioned schemas. Each store has an ordered list of migrations (`migrations/<store>/`,
//! one SQL file a version, numbered from 1); a schema records the version it is at (SQLite:
//! `PRAGMA user_version`; PostgreSQL: the `schema_version` table), and opening a store runs,
//! in one transaction, the migrations it has not had yet. Schemas only move forward: a store
//! at a newer version than this binary knows is refused ([`StoreError::SchemaTooNew`]), never
//! changed.

use crate::{Result, StoreError};

/// The indexes in `migrations` of those a schema at version `found` still needs (version
/// `n` is `migrations[n - 1]`).
pub(crate) fn pending(found: i64, migrations: &[&str]) -> Result<std::ops::Range<usize>> {
    let known = migrations.len();
    match usize::try_from(found) {
        Ok(found) if found <= known => Ok(found..known),
        _ => Err(StoreError::SchemaTooNew {
            found,
            supported: known as i64,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_schema_gets_what_it_lacks_and_a_newer_one_is_refused() {
        let list = ["a", "b", "c"];
        assert_eq!(pending(0, &list).unwrap(), 0..3);
        assert_eq!(pending(1, &list).unwrap(), 1..3);
        assert_eq!(pending(3, &list).unwrap(), 3..3);
        let err = pending(999, &list).unwrap_err();
        assert!(matches!(
            err,
            StoreError::SchemaTooNew {
                found: 999,
                supported: 3
            }
        ));
        let text = err.to_string();
        assert!(text.contains("999") && text.contains('3'), "{text}");
        assert!(pending(-1, &list).is_err());
    }
}
