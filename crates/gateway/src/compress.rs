//! gzip, exactly when CloudAPI compresses: the client accepts gzip, the body is larger than
//! 2 KB, and its media type is one of the listed text-like types. The body is compressed as it
//! flows (`body::GzipStream`), with bounded memory whatever its size.

use http::header::{HeaderMap, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE};

/// Bodies of this size or smaller are sent as they are.
pub const MIN_SIZE: usize = 2048;

const TYPES: [&str; 9] = [
    "text/xml",
    "text/plain",
    "text/css",
    "application/javascript",
    "application/x-javascript",
    "application/rss+xml",
    "application/xml",
    "application/json",
    "application/octet-stream",
];

/// Condition 1: the request's `Accept-Encoding` lists gzip (and not with `q=0`).
pub fn client_accepts_gzip(request: &HeaderMap) -> bool {
    request
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or("").trim();
            let q_zero = parts.any(|p| {
                let p = p.trim();
                p.strip_prefix("q=")
                    .is_some_and(|q| q.trim().parse::<f32>().is_ok_and(|q| q == 0.0))
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !q_zero
        })
}

/// Condition 3, and no `Content-Encoding` already.
pub fn compressible(response: &HeaderMap) -> bool {
    if response.contains_key(CONTENT_ENCODING) {
        return false;
    }
    let Some(ct) = response.get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media = ct.split(';').next().unwrap_or("").trim();
    TYPES.iter().any(|t| media.eq_ignore_ascii_case(t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: http::header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn accept_encoding() {
        assert!(client_accepts_gzip(&headers(ACCEPT_ENCODING, "gzip")));
        assert!(client_accepts_gzip(&headers(
            ACCEPT_ENCODING,
            "deflate, GZIP;q=0.5"
        )));
        assert!(!client_accepts_gzip(&headers(ACCEPT_ENCODING, "gzip;q=0")));
        assert!(!client_accepts_gzip(&headers(ACCEPT_ENCODING, "br")));
        assert!(!client_accepts_gzip(&HeaderMap::new()));
    }

    #[test]
    fn media_types() {
        assert!(compressible(&headers(
            CONTENT_TYPE,
            "application/json; charset=utf-8"
        )));
        assert!(compressible(&headers(CONTENT_TYPE, "Text/XML")));
        assert!(!compressible(&headers(CONTENT_TYPE, "text/html")));
        assert!(!compressible(&headers(CONTENT_TYPE, "image/png")));
        let mut already = headers(CONTENT_TYPE, "text/plain");
        already.insert(CONTENT_ENCODING, HeaderValue::from_static("br"));
        assert!(!compressible(&already));
    }
}
