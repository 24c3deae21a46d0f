//! The management OpenAPI, compatible with CloudAPI 2016-07-14 (RPC style): what the official
//! SDKs (`alibabacloud-cloudapi20160714` with the V3 signature, `aliyun-python-sdk-core` with
//! the V1 signature) send to `POST|GET /?Action=...`.
//!
//! A call is authenticated (signature, AccessKey, timestamp window, nonce), then dispatched to
//! an action, which calls [`apigw_control::Control`]; every answer is JSON with `RequestId`,
//! errors as `{RequestId, HostId, Code, Message}` with CloudAPI's codes and statuses.
#![forbid(unsafe_code)]

mod actions;
pub mod error;
pub mod monitor;
mod nonce;
pub mod params;

pub use actions::ACTIONS;
use apigw_control::Control;
use apigw_model::account::ROOT_ACCOUNT_ID;
use apigw_model::AccessKey;
use apigw_signature::mgmt::{self, MgmtRequest};
pub use error::ApiError;
use http::HeaderMap;
pub use params::Params;
use serde_json::{Map, Value};
use std::time::Duration;

/// The only API version served.
pub const VERSION: &str = "2016-07-14";
/// Timestamps (`Timestamp`, `x-acs-date`) must be within 15 minutes of the server's clock.
const WINDOW_MS: i64 = 15 * 60 * 1000;

/// The management API: authentication and actions on one [`Control`].
pub struct Management {
    control: Control,
    nonces: nonce::NonceCache,
    host_id: String,
    monitor: Option<std::sync::Arc<dyn monitor::MonitorSource>>,
}

/// A response: HTTP status and JSON body.
pub struct Reply {
    pub status: u16,
    pub body: String,
}

impl Management {
    pub fn new(control: Control, host_id: impl Into<String>) -> Management {
        Management {
            control,
            nonces: nonce::NonceCache::new(100_000),
            host_id: host_id.into(),
            monitor: None,
        }
    }

    /// Where the monitoring actions read their series (without one they answer empty
    /// series).
    pub fn with_monitor(
        mut self,
        source: std::sync::Arc<dyn monitor::MonitorSource>,
    ) -> Management {
        self.monitor = Some(source);
        self
    }

    /// Makes sure a root AccessKey exists: the one given (from `APIGW_ROOT_ACCESS_KEY_ID` /
    /// `..._SECRET`) is stored (its secret updated if it changed); without one, a key is
    /// generated the first time. Returns a generated key, to be shown once. Nodes of a
    /// cluster starting together make one key: the check and the write hold the writers' lock.
    pub async fn ensure_root_key(
        &self,
        given: Option<(String, String)>,
    ) -> Result<Option<AccessKey>, ApiError> {
        let _w = self.control.lock_writes().await?;
        let store = self.control.store();
        let keys = store.list_access_keys().await.map_err(store_error)?;
        let now = apigw_control::now_utc();
        match given {
            Some((id, secret)) => {
                if id.trim().is_empty() || secret.len() < 8 {
                    return Err(ApiError::invalid(
                        "AccessKey",
                        "APIGW_ROOT_ACCESS_KEY_ID must not be empty and the secret must have 8 characters or more",
                    ));
                }
                let same = keys
                    .iter()
                    .any(|k| k.access_key_id == id && k.access_key_secret == secret && !k.disabled);
                if !same {
                    let key = AccessKey {
                        access_key_id: id,
                        access_key_secret: secret,
                        account_id: ROOT_ACCOUNT_ID,
                        disabled: false,
                        created_time: now,
                    };
                    store.put_access_key(&key).await.map_err(store_error)?;
                }
                Ok(None)
            }
            None if keys.iter().any(|k| k.account_id == ROOT_ACCOUNT_ID) => Ok(None),
            None => {
                let key = AccessKey {
                    access_key_id: format!(
                        "LTAI{}",
                        random(
                            20,
                            b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
                        )
                    ),
                    access_key_secret: random(
                        30,
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                    ),
                    account_id: ROOT_ACCOUNT_ID,
                    disabled: false,
                    created_time: now,
                };
                store.put_access_key(&key).await.map_err(store_error)?;
                Ok(Some(key))
            }
        }
    }

    /// Serves one call. Never fails: every problem is a JSON error reply.
    pub async fn handle(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Reply {
        let result = self.call(method, path, query, headers, body).await;
        self.reply(result)
    }

    /// A JSON reply: the document with `RequestId`, or the error as
    /// `{RequestId, HostId, Code, Message}` with its status.
    pub fn reply(&self, result: Result<Map<String, Value>, ApiError>) -> Reply {
        let request_id = request_id();
        let (status, mut doc) = match result {
            Ok(doc) => (200, doc),
            Err(e) => {
                let mut m = Map::new();
                m.insert("HostId".into(), Value::String(self.host_id.clone()));
                m.insert("Code".into(), Value::String(e.code));
                m.insert("Message".into(), Value::String(e.message));
                (e.status, m)
            }
        };
        doc.insert("RequestId".into(), Value::String(request_id));
        Reply {
            status,
            body: Value::Object(doc).to_string(),
        }
    }

    async fn call(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Map<String, Value>, ApiError> {
        let signed = self
            .authenticate(method, path, query, headers, body)
            .await?;
        let params = Params::new(signed.parsed.params.clone());
        let control = self.control.as_account(signed.account_id);
        actions::dispatch(
            &control,
            self.monitor.as_deref(),
            &signed.parsed.action,
            &params,
        )
        .await
    }

    /// Checks a signed request as every call is checked (signature, AccessKey, timestamp
    /// window, nonce, version) without running an action: for endpoints beside the actions
    /// that take the same credentials (the console's relay).
    pub async fn authenticate(
        &self,
        method: &str,
        path: &str,
        query: Option<&str>,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<Signed, ApiError> {
        let req = MgmtRequest {
            method,
            path,
            query,
            headers,
            body,
        };
        let parsed = mgmt::parse(&req).map_err(sig_error)?;
        let keys = self
            .control
            .store()
            .list_access_keys()
            .await
            .map_err(store_error)?;
        let key = keys
            .iter()
            .find(|k| k.access_key_id == parsed.access_key_id)
            .ok_or_else(|| {
                ApiError::new(
                    400,
                    "InvalidAccessKeyId.NotFound",
                    "Specified access key is not found.",
                )
            })?;
        if key.disabled {
            return Err(ApiError::new(
                400,
                "InvalidAccessKeyId.Inactive",
                "Specified access key is disabled.",
            ));
        }
        parsed.verify(&key.access_key_secret).map_err(sig_error)?;
        let now = now_ms();
        if (now - parsed.timestamp_ms).abs() > WINDOW_MS {
            return Err(ApiError::new(
                400,
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired (more than 15 minutes from the server's clock).",
            ));
        }
        if !self.nonces.first_use(
            &key.access_key_id,
            &parsed.nonce,
            Duration::from_millis(WINDOW_MS as u64 * 2),
        ) {
            return Err(ApiError::new(
                400,
                "SignatureNonceUsed",
                "Specified signature nonce was used already.",
            ));
        }
        if parsed.version != VERSION {
            return Err(ApiError::new(
                400,
                "InvalidVersion",
                format!(
                    "Specified parameter Version `{}` is not valid; this server speaks {VERSION}.",
                    parsed.version
                ),
            ));
        }
        Ok(Signed {
            account_id: key.account_id,
            parsed,
        })
    }
}

/// A request whose signature, AccessKey, timestamp, nonce and version checked out.
pub struct Signed {
    /// The account of the AccessKey.
    pub account_id: i64,
    /// What the request carried (scheme, action, parameters).
    pub parsed: mgmt::Parsed,
}

fn sig_error(e: mgmt::MgmtError) -> ApiError {
    ApiError::new(e.status, e.code, e.message)
}

fn store_error(e: apigw_store::StoreError) -> ApiError {
    apigw_control::ControlError::Store(e).into()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn random(n: usize, alphabet: &[u8]) -> String {
    apigw_control::random_token(n, alphabet)
}

/// An upper-case UUID v4, like the cloud's request ids.
fn request_id() -> String {
    let v = fastrand::u128(..);
    let v = (v & !(0xf000 << 64)) | (0x4000 << 64);
    let v = (v & !(0xc000 << 48)) | (0x8000 << 48);
    let h = format!("{v:032X}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_action_is_documented() {
        let doc = include_str!("../../../docs/management-api.md");
        for a in super::ACTIONS {
            assert!(
                doc.contains(&format!("`{a}`")),
                "{a} missing from docs/management-api.md"
            );
        }
    }
}
