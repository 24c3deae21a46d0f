//! The online deployments handed out by [`crate::Store::load_live`], shared between loads.
//!
//! A history version is immutable, so a store keeps the deployments of its last answer and
//! reads and parses again only the (API, stage, version) rows it did not hand out then: an
//! unchanged deployment is the same `Arc` in the next [`crate::LiveConfig`], which the data
//! plane relies on to recompile only what changed. Both stores use this in the same way:
//! walk the online keys ([`crate::sql::ONLINE_KEYS`], in (API, stage) order) through
//! [`Merge::row`], fetch the documents of [`Merge::missing`], then [`Merge::finish`].

use crate::sql;
use crate::Result;
use apigw_model::Deployment;
use std::iter::Peekable;
use std::sync::Arc;

/// A (API, stage, version) key.
pub(crate) type Key = (String, String, String);

/// One load of the online deployments against the previous answer.
pub(crate) struct Merge {
    old: Peekable<std::vec::IntoIter<Arc<Deployment>>>,
    /// The answer so far: a shared deployment, or a place for the next missing one.
    slots: Vec<Option<Arc<Deployment>>>,
    missing: Vec<Key>,
}

impl Merge {
    /// Starts from `previous`, the deployments of the last answer (in (API, stage) order).
    pub fn new(previous: Vec<Arc<Deployment>>) -> Merge {
        Merge {
            slots: Vec::with_capacity(previous.len()),
            old: previous.into_iter().peekable(),
            missing: Vec::new(),
        }
    }

    /// The next online row, in (API, stage) order. Compared in place: only the keys of rows
    /// not handed out before are copied.
    pub fn row(&mut self, api: &str, stage: &str, version: &str) {
        // Skip earlier deployments that sort before this row (no longer online).
        while self
            .old
            .peek()
            .is_some_and(|d| (d.api_id.as_str(), d.stage_name.as_str()) < (api, stage))
        {
            self.old.next();
        }
        let cached = self.old.next_if(|d| {
            d.api_id == api && d.stage_name.as_str() == stage && d.history_version == version
        });
        if cached.is_none() {
            self.missing
                .push((api.to_string(), stage.to_string(), version.to_string()));
        }
        self.slots.push(cached);
    }

    /// The keys whose documents [`Merge::finish`] needs, in this order.
    pub fn missing(&self) -> &[Key] {
        &self.missing
    }

    /// The online deployments: the shared ones and those parsed from `docs` (the documents
    /// of [`Merge::missing`], in that order).
    pub fn finish(self, docs: Vec<String>) -> Result<Vec<Arc<Deployment>>> {
        if docs.len() != self.missing.len() {
            return Err(crate::StoreError::Corrupt(format!(
                "{} online deployments changed while they were read",
                self.missing.len().abs_diff(docs.len())
            )));
        }
        let mut docs = docs.into_iter();
        self.slots
            .into_iter()
            .map(|slot| match slot {
                Some(d) => Ok(d),
                None => {
                    let doc = docs.next().unwrap_or_default();
                    Ok(Arc::new(sql::deployment(&doc, true)?))
                }
            })
            .collect()
    }
}
