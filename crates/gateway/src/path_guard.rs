//! No path escapes its API (`I400PA`).
//!
//! Two checks, both byte scans that allocate nothing:
//! - [`dot_segment`]: the request path is refused, before routing, when one of its segments is
//!   a dot-segment (`.` or `..`, raw or with its dots percent-encoded: `%2e`, `%2E`). The
//!   gateway does not resolve them (RFC 3986 §5.2.4): a client that means `/a/../b` sends
//!   `/b` (browsers and HTTP clients resolve them before sending), the APP signature covers the
//!   path as sent, and a refused request cannot be routed to one API and resolved into another.
//! - [`unsafe_text`]: text the gateway copies from the request path into a backend path (the
//!   whole path without `ServicePath`, a `[param]` capture, a prefix route's rest, a request
//!   PATH parameter mapped to a backend PATH parameter) may not carry a dot-segment, an encoded
//!   `/` (`%2f`, `%2F`), a `\` or an encoded `\` (`%5c`, `%5C`): a backend that decodes its path
//!   before splitting it would otherwise see a separator the gateway did not route on.
//!
//! A value the gateway percent-encodes itself (a query, header, body, constant or system value
//! mapped to a backend PATH parameter) is one segment by construction; only a value that is a
//! dot-segment as a whole is refused ([`is_dot_segment`]).

/// True when `seg` is `.` or `..`, each dot raw or percent-encoded (`%2e`, `%2E`).
pub fn is_dot_segment(seg: &str) -> bool {
    let b = seg.as_bytes();
    let (mut i, mut dots) = (0, 0);
    while i < b.len() {
        if b[i] == b'.' {
            i += 1;
        } else if b[i] == b'%'
            && b.get(i + 1) == Some(&b'2')
            && matches!(b.get(i + 2), Some(b'e' | b'E'))
        {
            i += 3;
        } else {
            return false;
        }
        dots += 1;
        if dots > 2 {
            return false;
        }
    }
    dots > 0
}

/// The first dot-segment of `path` (`/`-separated), if any.
pub fn dot_segment(path: &str) -> Option<&str> {
    // Every dot-segment holds a `.` or a `%`; most paths are ruled out by one scan.
    if !path.bytes().any(|b| b == b'.' || b == b'%') {
        return None;
    }
    path.split('/').find(|s| is_dot_segment(s))
}

/// Why `text` (one or more raw segments of the request path) cannot be copied into a backend
/// path, or `None` when it can.
pub fn unsafe_text(text: &str) -> Option<&'static str> {
    let b = text.as_bytes();
    if !b.iter().any(|&c| matches!(c, b'.' | b'%' | b'\\')) {
        return None;
    }
    if dot_segment(text).is_some() {
        return Some("dot-segment (. or ..)");
    }
    for (i, &c) in b.iter().enumerate() {
        if c == b'\\' {
            return Some("backslash");
        }
        if c == b'%' {
            match (b.get(i + 1), b.get(i + 2)) {
                (Some(b'2'), Some(b'f' | b'F')) => return Some("encoded / (%2F)"),
                (Some(b'5'), Some(b'c' | b'C')) => return Some("encoded backslash (%5C)"),
                _ => {}
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_raw_and_encoded() {
        for s in [
            ".", "..", "%2e", "%2E", "%2e%2e", "%2E%2e", ".%2e", "%2e.", "%2E.",
        ] {
            assert!(is_dot_segment(s), "{s}");
        }
        for s in [
            "",
            "...",
            "a",
            ".a",
            "a.",
            "..a",
            ".hidden",
            "%2e%2e%2e",
            "%2",
            "%2f",
            "%2e%2",
            "%3e",
            "%2e%2fx",
            "..%2f",
            "s.txt",
        ] {
            assert!(!is_dot_segment(s), "{s}");
        }
    }

    #[test]
    fn paths_with_a_dot_segment() {
        assert_eq!(dot_segment("/pub/../private/s.txt"), Some(".."));
        assert_eq!(dot_segment("/pub/./a"), Some("."));
        assert_eq!(dot_segment("/files/%2e%2e"), Some("%2e%2e"));
        assert_eq!(dot_segment("/files/%2E%2E/x"), Some("%2E%2E"));
        assert_eq!(dot_segment("/.."), Some(".."));
        assert_eq!(dot_segment("/a/.."), Some(".."));
        assert_eq!(dot_segment("/pub/a/b.txt"), None);
        assert_eq!(dot_segment("/pub/.well-known/x"), None);
        assert_eq!(dot_segment("/pub/a..b/..."), None);
        assert_eq!(dot_segment("/"), None);
        assert_eq!(dot_segment("/a%20b"), None);
        // An encoded `/` hides the segment boundary: not a dot-segment here, refused by
        // `unsafe_text` where it would reach a backend path.
        assert_eq!(dot_segment("/pub/..%2fprivate"), None);
    }

    #[test]
    fn text_copied_into_a_backend_path() {
        for ok in [
            "s.txt",
            "a/b.txt",
            "a%20b.txt",
            "caf%C3%A9",
            ".well-known",
            "a..b",
            "",
            "%25",
            "%2",
            "x%2",
        ] {
            assert_eq!(unsafe_text(ok), None, "{ok}");
        }
        for (bad, why) in [
            ("..", "dot-segment"),
            ("a/../b", "dot-segment"),
            ("%2e%2e", "dot-segment"),
            ("a/%2E", "dot-segment"),
            ("..%2fprivate%2fs.txt", "encoded /"),
            ("%2e%2e%2fprivate%2fs.txt", "encoded /"),
            ("a%2Fb", "encoded /"),
            ("a\\b", "backslash"),
            ("..%5c..%5cwin.ini", "encoded backslash"),
            ("a%5Cb", "encoded backslash"),
        ] {
            let got = unsafe_text(bad);
            assert!(got.is_some_and(|w| w.starts_with(why)), "{bad}: {got:?}");
        }
    }
}
