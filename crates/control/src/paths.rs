//! Path conflicts of many APIs in one pass.
//!
//! [`check_conflicts`] compares one API with every other API of its group; checking each API
//! of a group that way is quadratic. [`PathIndex`] keeps the APIs of one group (drafts, or what
//! is live in one stage) in tries keyed by (prefix route, number of segments) and method, so
//! the APIs a new one could collide with are found by walking its segments; the verdict and
//! the message still come from [`check_conflicts`], run on those candidates only.

use apigw_model::path::Segment;
use apigw_model::validate::check_conflicts;
use apigw_model::{ApiDefinition, ModelError, PathPattern};
use std::collections::HashMap;

#[derive(Default)]
struct Node {
    literals: HashMap<String, Node>,
    param: Option<Box<Node>>,
    /// Entries whose path ends here.
    here: Vec<usize>,
}

/// The APIs of one group (or of one group in one stage), for conflict checks.
#[derive(Default)]
pub(crate) struct PathIndex<'a> {
    entries: Vec<&'a ApiDefinition>,
    names: HashMap<&'a str, Vec<usize>>,
    /// (prefix route, number of segments) → method → trie of the segments.
    tries: HashMap<(bool, usize), HashMap<String, Node>>,
}

impl<'a> PathIndex<'a> {
    /// Adds `api`. A path that does not parse takes part in name checks only, as in
    /// [`check_conflicts`].
    pub(crate) fn insert(&mut self, api: &'a ApiDefinition) {
        let i = self.entries.len();
        self.entries.push(api);
        self.names.entry(&api.api_name).or_default().push(i);
        let rc = &api.request_config;
        let Ok(path) = PathPattern::parse(&rc.request_path, rc.escape_path_param) else {
            return;
        };
        let mut node = self
            .tries
            .entry((path.prefix, path.segments.len()))
            .or_default()
            .entry(api.method())
            .or_default();
        for seg in path.segments {
            node = match seg {
                Segment::Literal(s) => node.literals.entry(s).or_default(),
                Segment::Param(_) => node.param.get_or_insert_with(Box::default),
            };
        }
        node.here.push(i);
    }

    /// What [`check_conflicts`] answers for `api` (its parsed `path`) against every API
    /// inserted so far, in insertion order.
    pub(crate) fn check(&self, api: &ApiDefinition, path: &PathPattern) -> Result<(), ModelError> {
        let mut found: Vec<usize> = self
            .names
            .get(api.api_name.as_str())
            .cloned()
            .unwrap_or_default();
        if let Some(by_method) = self.tries.get(&(path.prefix, path.segments.len())) {
            let method = api.method();
            for (m, root) in by_method {
                if *m == method || m == "ANY" || method == "ANY" {
                    collect(root, &path.segments, path.prefix, &mut found);
                }
            }
        }
        if found.is_empty() {
            return Ok(());
        }
        // Candidates in insertion order: the first that check_conflicts refuses is the one it
        // would have named scanning everything.
        found.sort_unstable();
        found.dedup();
        check_conflicts(api, path, found.iter().map(|&i| self.entries[i]))
    }
}

/// Entries whose path a request could match together with `rest` (the rules of
/// `PathPattern::conflicts_with`: a parameter meets any segment, except in prefix routes,
/// which conflict only when identical).
fn collect(node: &Node, rest: &[Segment], prefix: bool, out: &mut Vec<usize>) {
    let Some((first, rest)) = rest.split_first() else {
        out.extend(&node.here);
        return;
    };
    match first {
        Segment::Literal(s) => {
            if let Some(n) = node.literals.get(s) {
                collect(n, rest, prefix, out);
            }
            if !prefix {
                if let Some(n) = &node.param {
                    collect(n, rest, prefix, out);
                }
            }
        }
        Segment::Param(_) => {
            if let Some(n) = &node.param {
                collect(n, rest, prefix, out);
            }
            if !prefix {
                for n in node.literals.values() {
                    collect(n, rest, prefix, out);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(id: &str, name: &str, method: &str, path: &str) -> ApiDefinition {
        serde_json::from_value(json!({
            "ApiId": id, "ApiName": name, "AuthType": "ANONYMOUS",
            "RequestConfig": {"RequestHttpMethod": method, "RequestPath": path},
            "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:9000", "ServiceTimeout": 1000}
        }))
        .unwrap()
    }

    /// The index answers exactly what the quadratic scan answers, for every pair of a set of
    /// paths that exercises literals, parameters, prefixes, methods and names.
    #[test]
    fn agrees_with_check_conflicts() {
        let paths = [
            "/", "/a", "/a/", "/b", "/[x]", "/a/b", "/a/[y]", "/[x]/b", "/[x]/[y]", "/a/*",
            "/[x]/*", "/*", "/a/b/*",
        ];
        let methods = ["GET", "POST", "ANY"];
        let mut all = Vec::new();
        for (i, p) in paths.iter().enumerate() {
            for (j, m) in methods.iter().enumerate() {
                all.push(api(&format!("{i}-{j}"), &format!("api_{i}_{j}"), m, p));
            }
        }
        all.push(api("dup", "api_0_0", "GET", "/unique"));
        for me in &all {
            let path = PathPattern::parse(&me.request_config.request_path, false).unwrap();
            for n in 0..=all.len() {
                let mut index = PathIndex::default();
                for other in &all[..n] {
                    index.insert(other);
                }
                let fast = index.check(me, &path).map_err(|e| e.to_string());
                let slow = check_conflicts(me, &path, &all[..n]).map_err(|e| e.to_string());
                assert_eq!(fast, slow, "{} {}", me.api_id, n);
            }
        }
    }
}
