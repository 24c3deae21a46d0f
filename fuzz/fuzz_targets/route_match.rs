//! The route matcher (`apigw_gateway::router`) against a reference matcher, with the path
//! patterns parsed by `apigw_model::PathPattern` and the request-path guard.
//!
//! Input: text, `METHOD /pattern` lines (`METHOD! /pattern` with `EscapePathParam`), a
//! line `--`, then `METHOD /path` request lines; or any other bytes, decoded with
//! `arbitrary`.
//!
//! Invariants checked:
//! - the router finds a route exactly when some route matches (method, literals compared
//!   with the percent-decoded segment, non-empty `[param]` segments, prefixes);
//! - the route it finds is the one the precedence rules pick: at the first segment where two
//!   matching routes differ, a literal beats a `[param]`, which beats a prefix ending there;
//!   an exact route beats a prefix route ending at the same place; the exact method beats
//!   `ANY`; of two routes with the same method and pattern the first one inserted stays;
//! - the captures are the `[param]` positions of that route, `rest_from` its prefix length;
//! - a segment the path guard calls a dot-segment decodes to `.` or `..`.
#![no_main]

use apigw_gateway::path_guard::{dot_segment, is_dot_segment, unsafe_text};
use apigw_gateway::router::{percent_decode, split_path, MethodMatch, PatternSegment, Router};
use apigw_model::{PathPattern, Segment};
use arbitrary::Arbitrary;
use http::Method;
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    routes: Vec<RouteIn>,
    requests: Vec<(u8, PathIn)>,
}

#[derive(Arbitrary, Debug)]
struct RouteIn {
    method: u8,
    pattern: PathIn,
    escape: bool,
}

/// A path: free text, or built from segments more likely to meet each other.
#[derive(Arbitrary, Debug)]
enum PathIn {
    Text(String),
    Segments(Vec<SegIn>, bool),
}

#[derive(Arbitrary, Debug)]
enum SegIn {
    Word(u8),
    Param(u8),
    Text(String),
}

const WORDS: &[&str] = &[
    "",
    "a",
    "b",
    "users",
    "me",
    "%41",
    "A",
    "商品",
    "%E5%95%86%E5%93%81",
    "*",
    "[x]",
    ".",
    "..",
    "%2e",
    "%2F",
];
const METHODS: &[&str] = &[
    "GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "ANY",
];

impl PathIn {
    fn text(&self) -> String {
        match self {
            PathIn::Text(t) => t.clone(),
            PathIn::Segments(segs, prefix) => {
                let mut out = String::new();
                for s in segs {
                    out.push('/');
                    match s {
                        SegIn::Word(i) => out.push_str(WORDS[*i as usize % WORDS.len()]),
                        SegIn::Param(i) => out.push_str(&format!("[p{}]", i % 4)),
                        SegIn::Text(t) => out.push_str(t),
                    }
                }
                if *prefix {
                    out.push_str("/*");
                }
                if out.is_empty() {
                    out.push('/');
                }
                out
            }
        }
    }
}

/// A route as the reference matcher sees it.
struct Ref {
    method: MethodMatch,
    segments: Vec<Option<Vec<u8>>>,
    prefix: bool,
    index: usize,
}

impl Ref {
    /// Whether the route matches; when it does, its precedence key (smaller wins).
    fn key(&self, method: &Method, segs: &[&str]) -> Option<(Vec<u8>, bool)> {
        let method_ok = match &self.method {
            MethodMatch::Any => true,
            MethodMatch::One(m) => m == method,
        };
        if !method_ok {
            return None;
        }
        let n = self.segments.len();
        if segs.len() < n || (!self.prefix && segs.len() != n) {
            return None;
        }
        let mut key = Vec::with_capacity(n + 1);
        for (pat, seg) in self.segments.iter().zip(segs) {
            match pat {
                Some(lit) => {
                    if percent_decode(seg).as_ref() != lit.as_slice() {
                        return None;
                    }
                    key.push(0);
                }
                None => {
                    if seg.is_empty() {
                        return None;
                    }
                    key.push(1);
                }
            }
        }
        key.push(if self.prefix { 2 } else { 0 });
        Some((key, matches!(self.method, MethodMatch::Any)))
    }

    fn same_route(&self, other: &Ref) -> bool {
        self.method == other.method
            && self.prefix == other.prefix
            && self.segments == other.segments
    }
}

/// The text form, when the input is one.
fn from_text(data: &[u8]) -> Option<Input> {
    let text = std::str::from_utf8(data).ok()?;
    let first = text.split('\n').next()?;
    let (m, p) = first.split_once(' ')?;
    if m.is_empty()
        || !m
            .trim_end_matches('!')
            .bytes()
            .all(|b| b.is_ascii_uppercase())
        || !p.starts_with('/')
    {
        return None;
    }
    let method = |m: &str| {
        METHODS
            .iter()
            .position(|x| *x == m.trim_end_matches('!'))
            .unwrap_or(0) as u8
    };
    let mut routes = Vec::new();
    let mut requests = Vec::new();
    let mut in_routes = true;
    for line in text.split('\n') {
        if line == "--" {
            in_routes = false;
            continue;
        }
        let Some((m, p)) = line.split_once(' ') else {
            continue;
        };
        if in_routes {
            routes.push(RouteIn {
                method: method(m),
                pattern: PathIn::Text(p.to_string()),
                escape: m.ends_with('!'),
            });
        } else {
            requests.push((method(m), PathIn::Text(p.to_string())));
        }
    }
    Some(Input { routes, requests })
}

fuzz_target!(|data: &[u8]| {
    let input = match from_text(data) {
        Some(input) => input,
        None => match Input::arbitrary_take_rest(arbitrary::Unstructured::new(data)) {
            Ok(input) => input,
            Err(_) => return,
        },
    };
    if apigw_fuzz::debug() {
        eprintln!("{input:#?}");
    }
    let mut router: Router<usize> = Router::default();
    let mut refs: Vec<Ref> = Vec::new();
    for (index, r) in input.routes.iter().take(64).enumerate() {
        let Ok(pattern) = PathPattern::parse(&r.pattern.text(), r.escape) else {
            continue;
        };
        let method = match METHODS[r.method as usize % METHODS.len()] {
            "ANY" => MethodMatch::Any,
            m => MethodMatch::One(m.parse().expect("a method")),
        };
        let segments: Vec<Option<Vec<u8>>> = pattern
            .segments
            .iter()
            .map(|s| match s {
                Segment::Literal(l) => Some(l.as_bytes().to_vec()),
                Segment::Param(_) => None,
            })
            .collect();
        let me = Ref {
            method: method.clone(),
            segments,
            prefix: pattern.prefix,
            index,
        };
        let taken = refs.iter().any(|r| r.same_route(&me));
        let result = router.insert(
            method,
            pattern.segments.iter().map(|s| match s {
                Segment::Literal(l) => PatternSegment::Literal(l.as_str()),
                Segment::Param(_) => PatternSegment::Param,
            }),
            pattern.prefix,
            index,
        );
        assert_eq!(result.is_err(), taken, "duplicate detection");
        if !taken {
            refs.push(me);
        }
    }
    assert_eq!(router.len(), refs.len());

    for (m, path) in input.requests.iter().take(64) {
        let path = path.text();
        let method: Method = match METHODS[*m as usize % METHODS.len()] {
            "ANY" => Method::GET,
            m => m.parse().expect("a method"),
        };
        // The guard runs before routing; it must agree with what it describes.
        for seg in path.split('/') {
            if is_dot_segment(seg) {
                let decoded = percent_decode(seg);
                assert!(
                    decoded.as_ref() == b"." || decoded.as_ref() == b"..",
                    "{seg:?}"
                );
            }
        }
        if let Some(seg) = dot_segment(&path) {
            assert!(is_dot_segment(seg));
            assert!(unsafe_text(&path).is_some());
        }

        let segs = split_path(&path);
        let expected = refs
            .iter()
            .filter_map(|r| r.key(&method, &segs).map(|k| (k, r)))
            .min_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, r)| r);
        let found = router.find(&method, &segs);
        match (found, expected) {
            (None, None) => {}
            (Some(f), Some(r)) => {
                assert_eq!(*f.value, r.index, "{method} {path}: wrong route");
                let params: Vec<u16> = r
                    .segments
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.is_none())
                    .map(|(i, _)| i as u16)
                    .collect();
                assert_eq!(f.captures.as_slice(), params.as_slice());
                assert_eq!(f.rest_from, r.prefix.then_some(r.segments.len()));
            }
            (f, r) => panic!(
                "{method} {path}: router found {:?}, reference {:?}",
                f.map(|f| *f.value),
                r.map(|r| r.index)
            ),
        }
    }
});
