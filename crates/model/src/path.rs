//! Request path patterns: `/users/[userId]/orders`, and `/static/*` prefix routes.

use crate::error::ModelError;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed `RequestPath` (or `ServicePath`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathPattern {
    pub segments: Vec<Segment>,
    /// Trailing `/*`: matches any suffix (including none) after the segments.
    pub prefix: bool,
}

impl PathPattern {
    /// Parses a path. With `escape_params` (CloudAPI `EscapePathParam=true`) `[x]` is literal.
    pub fn parse(path: &str, escape_params: bool) -> Result<PathPattern, String> {
        let rest = path.strip_prefix('/').ok_or("must start with `/`")?;
        if path.len() > 2048 {
            return Err("longer than 2048 characters".into());
        }
        let (rest, prefix) = match rest.strip_suffix("/*") {
            Some(r) => (r, true),
            None if rest == "*" => ("", true),
            None => (rest, false),
        };
        let mut segments = Vec::new();
        if !rest.is_empty() || !prefix {
            let parts: Vec<&str> = rest.split('/').collect();
            let last = parts.len() - 1;
            for (i, part) in parts.into_iter().enumerate() {
                // An empty last segment is a trailing slash, which is significant; empty inner
                // segments (`//`) are not allowed. `/` alone is one empty segment.
                if part.is_empty() && i != last {
                    return Err("empty segment (`//`)".into());
                }
                segments.push(parse_segment(part, escape_params)?);
            }
        }
        let mut names: Vec<&str> = segments
            .iter()
            .filter_map(|s| match s {
                Segment::Param(n) => Some(n.as_str()),
                Segment::Literal(_) => None,
            })
            .collect();
        let before = names.len();
        names.sort_unstable();
        names.dedup();
        if names.len() != before {
            return Err("a path parameter name is used twice".into());
        }
        Ok(PathPattern { segments, prefix })
    }

    /// Names of the `[param]` segments, in order.
    pub fn param_names(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(n) => Some(n.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// True when some request path would match both patterns: same shape, and at every
    /// position equal literals or a parameter on either side. Prefix routes conflict only
    /// with the same normalised prefix.
    pub fn conflicts_with(&self, other: &PathPattern) -> bool {
        if self.prefix != other.prefix || self.segments.len() != other.segments.len() {
            return false;
        }
        self.segments
            .iter()
            .zip(&other.segments)
            .all(|(a, b)| match (a, b) {
                (Segment::Literal(x), Segment::Literal(y)) => x == y,
                (Segment::Param(_), Segment::Param(_)) => true,
                // A dynamic segment collides with a fixed one at the same position (CloudAPI FAQ),
                // except for prefix routes, which only conflict when identical.
                _ => !self.prefix,
            })
    }
}

fn parse_segment(part: &str, escape_params: bool) -> Result<Segment, String> {
    if !escape_params {
        if let Some(name) = part.strip_prefix('[').and_then(|p| p.strip_suffix(']')) {
            let ok = !name.is_empty()
                && name.len() <= 64
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
            if !ok {
                return Err(format!("bad parameter name `[{name}]`"));
            }
            return Ok(Segment::Param(name.to_string()));
        }
        if part.contains(['[', ']']) {
            return Err(format!(
                "`{part}`: a parameter must be a whole segment, like `[id]`"
            ));
        }
    }
    if let Some(bad) = part.chars().find(|c| !is_path_char(*c)) {
        return Err(format!("character {bad:?} is not allowed in a path"));
    }
    Ok(Segment::Literal(part.to_string()))
}

/// RFC 3986 `pchar` (unreserved, sub-delims, `:`, `@`, `%`), plus non-ASCII text, which is
/// matched against the percent-decoded request path.
fn is_path_char(c: char) -> bool {
    !c.is_ascii() || c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:@%[]".contains(c)
}

/// Checks `path` as a `RequestPath` and names the field in the error.
pub fn parse_field(field: &str, path: &str, escape: bool) -> Result<PathPattern, ModelError> {
    PathPattern::parse(path, escape).map_err(|why| ModelError::invalid(field, why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> PathPattern {
        PathPattern::parse(s, false).unwrap()
    }

    #[test]
    fn parses_literals_params_and_prefix() {
        let pat = p("/users/[userId]/orders");
        assert_eq!(
            pat.segments,
            vec![
                Segment::Literal("users".into()),
                Segment::Param("userId".into()),
                Segment::Literal("orders".into())
            ]
        );
        assert!(!pat.prefix);
        let pre = p("/static/*");
        assert!(pre.prefix);
        assert_eq!(pre.segments, vec![Segment::Literal("static".into())]);
        assert_eq!(p("/*").segments, vec![]);
        assert_eq!(p("/").segments, vec![Segment::Literal(String::new())]);
    }

    #[test]
    fn escape_keeps_brackets_literal() {
        let pat = PathPattern::parse("/a/[b]", true).unwrap();
        assert_eq!(pat.segments[1], Segment::Literal("[b]".into()));
    }

    #[test]
    fn refuses_bad_paths() {
        for bad in [
            "",
            "users",
            "/a//b",
            "/a/b[c]",
            "/a/[]",
            "/a/[x]/[x]",
            "/a b",
            "/a?b",
            "/a/[x y]",
        ] {
            assert!(PathPattern::parse(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn conflicts() {
        assert!(p("/instance/disk/[disk]").conflicts_with(&p("/instance/disk/abcd123")));
        assert!(p("/a/[x]").conflicts_with(&p("/a/[y]")));
        assert!(p("/a/b").conflicts_with(&p("/a/b")));
        assert!(!p("/a/b").conflicts_with(&p("/a/c")));
        assert!(!p("/a/[x]/c").conflicts_with(&p("/a/b/d")));
        assert!(!p("/a/[x]").conflicts_with(&p("/a/[x]/c")));
        assert!(!p("/a/b").conflicts_with(&p("/a/b/")));
        assert!(p("/s/*").conflicts_with(&p("/s/*")));
        assert!(!p("/s/*").conflicts_with(&p("/[x]/*")));
        assert!(!p("/s/*").conflicts_with(&p("/s")));
    }
}
