//! gRPC through the gateway. A gRPC call is an HTTP/2 `POST` with `Content-Type:
//! application/grpc…`; it runs the pipeline like any request and is proxied as a stream both
//! ways, trailers (`grpc-status`) included, to an `h2c://` backend or an `https://` one that
//! negotiates HTTP/2. When the gateway itself refuses the call, a gRPC client would see only
//! an HTTP status it cannot read as a gRPC status, so the refusal is also given as a gRPC
//! "trailers-only" answer: HTTP 200, `grpc-status` and `grpc-message` (the gateway's message),
//! beside the usual `X-Ca-*` headers.

use crate::body::GwBody;
use http::header::{self, HeaderMap, HeaderValue};
use http::{Response, StatusCode, Version};

/// Whether the request is a gRPC call (not gRPC-Web, which is HTTP/1-friendly and answered as
/// plain HTTP).
pub fn is_call(version: Version, headers: &HeaderMap) -> bool {
    version == Version::HTTP_2
        && headers
            .get(header::CONTENT_TYPE)
            .map(HeaderValue::as_bytes)
            .is_some_and(|ct| {
                ct.len() >= 16
                    && ct[..16].eq_ignore_ascii_case(b"application/grpc")
                    && !ct[16..].starts_with(b"-")
            })
}

/// The gRPC status code for a gateway refusal with this HTTP status (docs/configuration.md,
/// "gRPC").
pub fn status_for(http: StatusCode) -> u8 {
    match http.as_u16() {
        400 | 413 | 414 | 431 => 3, // INVALID_ARGUMENT
        401 => 16,                  // UNAUTHENTICATED
        403 => 7,                   // PERMISSION_DENIED
        404 => 12,                  // UNIMPLEMENTED
        408 | 504 => 4,             // DEADLINE_EXCEEDED
        429 => 8,                   // RESOURCE_EXHAUSTED
        500 => 13,                  // INTERNAL
        502 | 503 => 14,            // UNAVAILABLE
        _ => 2,                     // UNKNOWN
    }
}

/// Rewrites a gateway refusal as a trailers-only gRPC answer, keeping its headers.
pub fn refusal(resp: Response<GwBody>, message: Option<&HeaderValue>) -> Response<GwBody> {
    let (mut parts, _) = resp.into_parts();
    let status = status_for(parts.status);
    parts.status = StatusCode::OK;
    let headers = &mut parts.headers;
    headers.remove(header::CONTENT_LENGTH);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert("grpc-status", HeaderValue::from(u16::from(status)));
    if let Some(m) = message {
        let encoded = percent_encode(m.as_bytes());
        if let Ok(v) = HeaderValue::from_str(&encoded) {
            headers.insert("grpc-message", v);
        }
    }
    Response::from_parts(parts, GwBody::empty())
}

/// `grpc-message` encoding: bytes outside printable ASCII, and `%`, as `%XX`.
fn percent_encode(text: &[u8]) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_http2_grpc_content_types_are_calls() {
        let with = |ct: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_str(ct).unwrap());
            h
        };
        assert!(is_call(Version::HTTP_2, &with("application/grpc")));
        assert!(is_call(Version::HTTP_2, &with("application/grpc+proto")));
        assert!(is_call(Version::HTTP_2, &with("Application/GRPC")));
        assert!(!is_call(Version::HTTP_2, &with("application/grpc-web")));
        assert!(!is_call(Version::HTTP_11, &with("application/grpc")));
        assert!(!is_call(Version::HTTP_2, &with("application/json")));
        assert!(!is_call(Version::HTTP_2, &HeaderMap::new()));
    }

    #[test]
    fn refusals_keep_their_headers_and_carry_a_grpc_status() {
        let resp = Response::builder()
            .status(403)
            .header("x-ca-error-code", "A403IP")
            .header("content-length", "0")
            .body(GwBody::empty())
            .unwrap();
        let message = HeaderValue::from_static("Access denied by IP Control Policy 100%");
        let out = refusal(resp, Some(&message));
        assert_eq!(out.status(), 200);
        assert_eq!(out.headers()["grpc-status"], "7");
        assert_eq!(
            out.headers()["grpc-message"],
            "Access denied by IP Control Policy 100%25"
        );
        assert_eq!(out.headers()["x-ca-error-code"], "A403IP");
        assert_eq!(out.headers()["content-type"], "application/grpc");
        assert!(out.headers().get("content-length").is_none());
    }
}
