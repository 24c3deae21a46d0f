//! Rejections: a request the gateway answers itself with a row of the error table, and what
//! kind of failure it was (the circuit breaker counts backend failures only, by type).

use crate::body::GwBody;
use apigw_model::codes::ErrorCode;
use http::header::{self, HeaderName, HeaderValue};
use http::{Response, StatusCode};
use std::borrow::Cow;

pub static X_CA_ERROR_CODE: HeaderName = HeaderName::from_static("x-ca-error-code");
pub static X_CA_ERROR_MESSAGE: HeaderName = HeaderName::from_static("x-ca-error-message");

/// Whose failure a rejection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The request or the configuration (the default).
    Request,
    /// The backend could not be reached or did not answer in time.
    Backend(BackendFailure),
    /// The gateway itself (overload, its own deadline, an internal error).
    Gateway,
}

/// How a backend call failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendFailure {
    /// No answer within the API's timeout.
    Timeout,
    /// The host name did not resolve.
    Resolve,
    /// TLS to an HTTPS backend failed.
    Tls,
    /// Connection refused, reset or closed; an unreadable answer.
    Connect,
}

/// A gateway-made error: a row of the error table and its filled-in message.
#[derive(Debug)]
pub struct Reject {
    pub code: &'static ErrorCode,
    pub message: Cow<'static, str>,
    pub cause: Cause,
}

impl Reject {
    pub fn new(code: &'static ErrorCode, values: &[&str]) -> Reject {
        let message = if code.is_fixed() {
            Cow::Borrowed(code.template)
        } else {
            Cow::Owned(code.message(values))
        };
        Reject {
            code,
            message,
            cause: Cause::Request,
        }
    }

    /// A row of the table with a message of our own (e.g. `A403IS` "Empty Signature").
    pub fn with_message(code: &'static ErrorCode, message: impl Into<Cow<'static, str>>) -> Reject {
        Reject {
            code,
            message: message.into(),
            cause: Cause::Request,
        }
    }

    /// The same rejection, classified as `cause`.
    pub fn because(mut self, cause: Cause) -> Reject {
        self.cause = cause;
        self
    }

    /// A backend failure (the circuit breaker counts these).
    pub fn backend_failure(&self) -> Option<BackendFailure> {
        match self.cause {
            Cause::Backend(f) => Some(f),
            _ => None,
        }
    }

    /// The documented status, `X-Ca-Error-Code`, `X-Ca-Error-Message`, and an empty body.
    pub fn into_response(self) -> Response<GwBody> {
        let mut resp = Response::new(GwBody::empty());
        *resp.status_mut() =
            StatusCode::from_u16(self.code.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let h = resp.headers_mut();
        h.insert(&X_CA_ERROR_CODE, HeaderValue::from_static(self.code.code));
        h.insert(&X_CA_ERROR_MESSAGE, header_text(&self.message));
        h.insert(header::CONTENT_LENGTH, HeaderValue::from_static("0"));
        resp
    }
}

/// A header value carrying `text`; control characters become spaces so that nothing a client
/// sent can break the header.
pub fn header_text(text: &str) -> HeaderValue {
    match HeaderValue::from_str(text) {
        Ok(v) => v,
        Err(_) => {
            let clean: Vec<u8> = text
                .bytes()
                .map(|b| {
                    if b < 0x20 && b != b'\t' || b == 0x7f {
                        b' '
                    } else {
                        b
                    }
                })
                .collect();
            HeaderValue::from_bytes(&clean).unwrap_or_else(|_| HeaderValue::from_static("invalid"))
        }
    }
}
