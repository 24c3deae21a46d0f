//! Route matching on one (group, stage): method + path with `[param]` segments and `/*`
//! prefixes, as a segment trie.
//!
//! Precedence at each segment: a literal child, then the `[param]` child, then a prefix route
//! ending here; the first full match wins (backtracking), so static segments beat dynamic
//! ones and longer literal prefixes beat shorter ones. A match costs one hash lookup per
//! segment, whatever the number of APIs.

use ahash::AHashMap;
use http::Method;
use smallvec::SmallVec;
use std::borrow::Cow;

/// Positions (segment indexes) of the `[param]` captures of a match, in path order.
pub type Captures = SmallVec<[u16; 8]>;

/// How a route accepts methods.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MethodMatch {
    Any,
    One(Method),
}

#[derive(Debug)]
struct Route<T> {
    method: MethodMatch,
    value: T,
}

#[derive(Debug)]
struct Node<T> {
    literal: AHashMap<Box<[u8]>, Node<T>>,
    param: Option<Box<Node<T>>>,
    exact: Vec<Route<T>>,
    prefix: Vec<Route<T>>,
}

impl<T> Default for Node<T> {
    fn default() -> Self {
        Node {
            literal: AHashMap::new(),
            param: None,
            exact: Vec::new(),
            prefix: Vec::new(),
        }
    }
}

/// Segments of a route pattern, as the router needs them.
pub enum PatternSegment<'a> {
    Literal(&'a str),
    Param,
}

/// A trie of routes carrying values of type `T`.
#[derive(Debug)]
pub struct Router<T> {
    root: Node<T>,
    len: usize,
}

impl<T> Default for Router<T> {
    fn default() -> Self {
        Router {
            root: Node::default(),
            len: 0,
        }
    }
}

/// A successful lookup.
#[derive(Debug)]
pub struct Match<'r, T> {
    pub value: &'r T,
    /// Segment indexes of the `[param]` captures, in order.
    pub captures: Captures,
    /// For a prefix route: the index of the first segment the prefix did not consume.
    pub rest_from: Option<usize>,
}

impl<T> Router<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a route. Returns the value back when the same method and pattern is already taken
    /// (the first one stays).
    pub fn insert<'a>(
        &mut self,
        method: MethodMatch,
        segments: impl IntoIterator<Item = PatternSegment<'a>>,
        prefix: bool,
        value: T,
    ) -> Result<(), T> {
        let mut node = &mut self.root;
        for seg in segments {
            node = match seg {
                PatternSegment::Literal(s) => node.literal.entry(s.as_bytes().into()).or_default(),
                PatternSegment::Param => node.param.get_or_insert_with(Default::default),
            };
        }
        let routes = if prefix {
            &mut node.prefix
        } else {
            &mut node.exact
        };
        if routes.iter().any(|r| r.method == method) {
            return Err(value);
        }
        routes.push(Route { method, value });
        self.len += 1;
        Ok(())
    }

    /// Finds the route for `method` and the segments of a request path (see [`split_path`]).
    pub fn find<'r>(&'r self, method: &Method, segments: &[&str]) -> Option<Match<'r, T>> {
        let mut captures = Captures::new();
        let (value, rest_from) = find_in(&self.root, method, segments, 0, &mut captures)?;
        Some(Match {
            value,
            captures,
            rest_from,
        })
    }
}

fn find_in<'r, T>(
    node: &'r Node<T>,
    method: &Method,
    segments: &[&str],
    depth: usize,
    captures: &mut Captures,
) -> Option<(&'r T, Option<usize>)> {
    match segments.get(depth) {
        None => {
            if let Some(v) = pick(&node.exact, method) {
                return Some((v, None));
            }
        }
        Some(seg) => {
            if !node.literal.is_empty() {
                let key = percent_decode(seg);
                if let Some(child) = node.literal.get(key.as_ref()) {
                    if let Some(found) = find_in(child, method, segments, depth + 1, captures) {
                        return Some(found);
                    }
                }
            }
            if let Some(child) = &node.param {
                if !seg.is_empty() {
                    captures.push(depth as u16);
                    if let Some(found) = find_in(child, method, segments, depth + 1, captures) {
                        return Some(found);
                    }
                    captures.pop();
                }
            }
        }
    }
    pick(&node.prefix, method).map(|v| (v, Some(depth)))
}

/// The route for this exact method first, else an `ANY` route.
fn pick<'r, T>(routes: &'r [Route<T>], method: &Method) -> Option<&'r T> {
    let mut any = None;
    for r in routes {
        match &r.method {
            MethodMatch::One(m) if m == method => return Some(&r.value),
            MethodMatch::Any => any = Some(&r.value),
            MethodMatch::One(_) => {}
        }
    }
    any
}

/// Splits `/a/b/c` into `["a", "b", "c"]`; `/` is one empty segment, `/a/` is `["a", ""]`.
pub fn split_path(path: &str) -> SmallVec<[&str; 16]> {
    path.strip_prefix('/').unwrap_or(path).split('/').collect()
}

/// Decodes `%XX` escapes; other bytes are kept. Borrowed when there is nothing to decode.
pub fn percent_decode(s: &str) -> Cow<'_, [u8]> {
    if !s.as_bytes().contains(&b'%') {
        return Cow::Borrowed(s.as_bytes());
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(out)
}

fn hex(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn router(routes: &[(&str, &str, &'static str)]) -> Router<&'static str> {
        let mut r = Router::default();
        for (method, path, name) in routes {
            let pattern = apigw_model::PathPattern::parse(path, false).unwrap();
            let segs = pattern.segments.iter().map(|s| match s {
                apigw_model::Segment::Literal(l) => PatternSegment::Literal(l.as_str()),
                apigw_model::Segment::Param(_) => PatternSegment::Param,
            });
            let m = if *method == "ANY" {
                MethodMatch::Any
            } else {
                MethodMatch::One(method.parse().unwrap())
            };
            r.insert(m, segs.collect::<Vec<_>>(), pattern.prefix, *name)
                .unwrap();
        }
        r
    }

    fn find(r: &Router<&'static str>, method: &str, path: &str) -> Option<&'static str> {
        r.find(&method.parse().unwrap(), &split_path(path))
            .map(|m| *m.value)
    }

    #[test]
    fn static_beats_param_beats_prefix() {
        let r = router(&[
            ("GET", "/users/me", "me"),
            ("GET", "/users/[id]", "by_id"),
            ("GET", "/users/[id]/orders", "orders"),
            ("GET", "/users/*", "users_prefix"),
            ("GET", "/*", "catch_all"),
        ]);
        assert_eq!(find(&r, "GET", "/users/me"), Some("me"));
        assert_eq!(find(&r, "GET", "/users/42"), Some("by_id"));
        assert_eq!(find(&r, "GET", "/users/me/orders"), Some("orders"));
        assert_eq!(find(&r, "GET", "/users/42/orders"), Some("orders"));
        assert_eq!(find(&r, "GET", "/users/42/other"), Some("users_prefix"));
        assert_eq!(find(&r, "GET", "/users"), Some("users_prefix"));
        assert_eq!(find(&r, "GET", "/elsewhere/x"), Some("catch_all"));
        assert_eq!(find(&r, "POST", "/users/me"), None);
    }

    #[test]
    fn backtracks_from_a_literal_dead_end() {
        let r = router(&[("GET", "/a/b/c", "abc"), ("GET", "/a/[x]/d", "axd")]);
        assert_eq!(find(&r, "GET", "/a/b/d"), Some("axd"));
        let m = r.find(&Method::GET, &split_path("/a/b/d")).unwrap();
        assert_eq!(m.captures.as_slice(), &[1]);
    }

    #[test]
    fn methods_and_any() {
        let r = router(&[("GET", "/x", "get"), ("ANY", "/x", "any")]);
        assert_eq!(find(&r, "GET", "/x"), Some("get"));
        assert_eq!(find(&r, "DELETE", "/x"), Some("any"));
    }

    #[test]
    fn trailing_slash_and_empty_params() {
        let r = router(&[("GET", "/a", "a"), ("GET", "/b/[id]", "b")]);
        assert_eq!(find(&r, "GET", "/a/"), None);
        assert_eq!(find(&r, "GET", "/b/"), None);
        assert_eq!(find(&r, "GET", "/b/1"), Some("b"));
        let root = router(&[("GET", "/", "root")]);
        assert_eq!(find(&root, "GET", "/"), Some("root"));
    }

    #[test]
    fn literals_match_percent_decoded_text() {
        let r = router(&[("GET", "/商品/list", "cn")]);
        assert_eq!(find(&r, "GET", "/%E5%95%86%E5%93%81/list"), Some("cn"));
        assert_eq!(find(&r, "GET", "/%e5%95%86%e5%93%81/list"), Some("cn"));
        assert_eq!(percent_decode("a%2"), Cow::Borrowed(b"a%2".as_slice()));
        assert_eq!(percent_decode("%41%zz").as_ref(), b"A%zz");
    }

    #[test]
    fn duplicates_are_refused() {
        let mut r = router(&[("GET", "/x", "first")]);
        assert_eq!(
            r.insert(
                MethodMatch::One(Method::GET),
                [PatternSegment::Literal("x")],
                false,
                "second"
            ),
            Err("second")
        );
        assert_eq!(r.len(), 1);
    }
}
