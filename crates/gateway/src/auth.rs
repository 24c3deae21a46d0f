//! The authentication phase: APP digest signature, AppCode, the jwtAuth plugin, the OpenID
//! Connect id token of `APPOPENID` APIs (`openid.rs`), anti-replay (`X-Ca-Timestamp`,
//! `X-Ca-Nonce`, JWT `jti`) and the per-stage authorization of the app.
//!
//! Everything it needs (apps by AppKey and AppCode, grants, plugin configs) is compiled into
//! the snapshot; the only shared mutable state it touches is the [`ReplayGuard`].

use crate::openid::OpenIdPolicy;
use crate::reject::Reject;
use crate::replay::{ReplayGuard, Seen};
use ahash::AHashMap;
use apigw_jwt::{JwtConfig, TokenLocation};
use apigw_model::codes;
use apigw_model::AuthType;
use apigw_signature::{Algorithm, SignedRequest};
use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName};
use http::request::Parts;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

pub static X_CA_KEY: HeaderName = HeaderName::from_static("x-ca-key");
pub static X_CA_SIGNATURE: HeaderName = HeaderName::from_static("x-ca-signature");
pub static X_CA_SIGNATURE_METHOD: HeaderName = HeaderName::from_static("x-ca-signature-method");
pub static X_CA_TIMESTAMP: HeaderName = HeaderName::from_static("x-ca-timestamp");
pub static X_CA_NONCE: HeaderName = HeaderName::from_static("x-ca-nonce");
static CONTENT_MD5: HeaderName = HeaderName::from_static("content-md5");

/// Timestamps and nonces are valid for 15 minutes.
pub const REPLAY_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long a `jti` is remembered when the token has no `exp`.
const JTI_DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

/// An app as the data plane knows it.
#[derive(Debug)]
pub struct AppIdentity {
    pub app_id: i64,
    /// The account owning the app (the "user" of flow control).
    pub owner_id: i64,
    pub app_name: Box<str>,
    pub extend: Box<str>,
}

#[derive(Debug)]
pub struct KeyEntry {
    pub app: Arc<AppIdentity>,
    /// Current secret first, then a previous one with its end of validity (ms since epoch).
    secrets: Vec<(Box<[u8]>, Option<i64>)>,
}

/// Every enabled app's AppKeys and AppCodes.
#[derive(Debug, Default)]
pub struct Credentials {
    by_key: AHashMap<Box<str>, KeyEntry>,
    by_code: AHashMap<Box<str>, Arc<AppIdentity>>,
}

impl Credentials {
    pub fn compile(apps: &[apigw_model::App]) -> Credentials {
        let mut c = Credentials::default();
        for app in apps.iter().filter(|a| !a.disabled) {
            let id = Arc::new(AppIdentity {
                app_id: app.app_id,
                owner_id: app.owner_id,
                app_name: app.app_name.as_str().into(),
                extend: app.extend.as_str().into(),
            });
            for k in &app.keys {
                let mut secrets: Vec<(Box<[u8]>, Option<i64>)> =
                    vec![(k.app_secret.as_bytes().into(), None)];
                if let (Some(prev), Some(until)) =
                    (&k.previous_secret, k.previous_secret_valid_until)
                {
                    secrets.push((prev.as_bytes().into(), Some(until)));
                }
                c.by_key.insert(
                    k.app_key.as_str().into(),
                    KeyEntry {
                        app: id.clone(),
                        secrets,
                    },
                );
            }
            for code in &app.app_codes {
                c.by_code.insert(code.as_str().into(), id.clone());
            }
        }
        c
    }
}

/// Where an APP API accepts AppCodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppCodeMode {
    Disabled,
    Header,
    HeaderOrQuery,
}

impl AppCodeMode {
    /// `AppCodeAuthType`; `DEFAULT` (or absent) means `HEADER` (decisions.md).
    pub fn parse(v: Option<&str>) -> AppCodeMode {
        match v.map(|s| s.trim().to_ascii_uppercase()).as_deref() {
            Some("DISABLE") => AppCodeMode::Disabled,
            Some("HEADER_QUERY") => AppCodeMode::HeaderOrQuery,
            _ => AppCodeMode::Header,
        }
    }
}

/// A bound jwtAuth plugin.
#[derive(Debug)]
pub struct JwtPlugin {
    pub plugin_id: Box<str>,
    pub config: JwtConfig,
}

/// How one API in one stage authenticates callers.
#[derive(Debug)]
pub struct AuthPolicy {
    pub auth: AuthType,
    pub allow_sha1: bool,
    pub force_nonce: bool,
    pub app_code: AppCodeMode,
    /// App id → end of the grant (ms since epoch; None = no end).
    pub grants: AHashMap<i64, Option<i64>>,
    pub jwt: Option<Arc<JwtPlugin>>,
    /// `APPOPENID` APIs: the id token check of their `OpenIdConnectConfig`, run after APP
    /// authentication unless a bound jwtAuth plugin replaces it.
    pub openid: Option<OpenIdPolicy>,
}

impl AuthPolicy {
    /// `APP` and `APPOPENID` authenticate the caller as an app.
    fn app_auth(&self) -> bool {
        matches!(self.auth, AuthType::App | AuthType::AppOpenId)
    }
}

/// Who called, as far as authentication found out.
#[derive(Debug, Default)]
pub struct Caller {
    pub app: Option<Arc<AppIdentity>>,
    /// Claims to add to the backend request's query string (jwtAuth `claimParameters`).
    pub extra_query: Vec<(String, String)>,
    /// Claims to add to the backend request's headers (jwtAuth `claimParameters`).
    pub extra_headers: Vec<(HeaderName, http::HeaderValue)>,
    /// The request's query carried the AppCode: strip it before forwarding.
    pub strip_app_code_query: bool,
    /// The AppKey of a signed request (the `CaAppKey` system parameter).
    pub app_key: Option<Box<str>>,
    /// The claims of the JWT the jwtAuth plugin verified (`Token:` variables of plugins).
    pub claims: Option<Arc<serde_json::Map<String, serde_json::Value>>>,
}

/// What the phase needs from the request.
pub struct Request<'a> {
    pub parts: &'a mut Parts,
    /// The body, when it was read (form posts and `Content-MD5` requests).
    pub body: Option<&'a Bytes>,
    pub now_ms: i64,
}

/// True when the signature check will need the body: a signed form post, or `Content-MD5`.
pub fn needs_body(policy: &AuthPolicy, headers: &HeaderMap) -> bool {
    policy.app_auth()
        && headers.contains_key(&X_CA_SIGNATURE)
        && (headers.contains_key(&CONTENT_MD5) || is_form(headers))
}

fn is_form(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).is_some_and(|v| {
        let b = v.as_bytes();
        b.len() >= 33 && b[..33].eq_ignore_ascii_case(b"application/x-www-form-urlencoded")
    })
}

pub async fn authenticate(
    policy: &AuthPolicy,
    creds: &Credentials,
    guard: &dyn ReplayGuard,
    req: Request<'_>,
) -> Result<Caller, Reject> {
    let mut caller = Caller::default();
    let jwt_alone = policy.jwt.as_ref().is_some_and(|j| {
        // orAppAuth: a caller without APP credentials may pass with a token alone.
        !policy.app_auth() || (j.config.or_app_auth && !has_app_credentials(req.parts))
    });
    if policy.app_auth() && !jwt_alone {
        let app = app_auth(policy, creds, guard, &req, &mut caller).await?;
        check_grant(policy, &app, req.now_ms)?;
        caller.app = Some(app);
    }
    if let Some(jwt) = &policy.jwt {
        // A bound jwtAuth plugin replaces the API's own OpenID Connect check.
        let skip = policy.app_auth() && !jwt_alone && jwt.config.or_app_auth;
        if !skip {
            jwt_auth(jwt, guard, req.parts, req.now_ms, &mut caller).await?;
        }
    } else if let Some(openid) = &policy.openid {
        openid.verify(req.parts, req.now_ms)?;
    }
    Ok(caller)
}

fn has_app_credentials(parts: &Parts) -> bool {
    parts.headers.contains_key(&X_CA_KEY) || appcode_header(&parts.headers).is_some()
}

/// The code of `Authorization: APPCODE <code>` (scheme case-insensitive, code trimmed).
fn appcode_header(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, code) = v.trim_start().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("APPCODE")
        .then(|| code.trim())
        .filter(|c| !c.is_empty())
}

fn appcode_query(query: Option<&str>) -> Option<Cow<'_, str>> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "AppCode")
        .map(|(_, v)| v)
}

async fn app_auth(
    policy: &AuthPolicy,
    creds: &Credentials,
    guard: &dyn ReplayGuard,
    req: &Request<'_>,
    caller: &mut Caller,
) -> Result<Arc<AppIdentity>, Reject> {
    let headers = &req.parts.headers;
    let signed = headers.contains_key(&X_CA_SIGNATURE) || !has_any_appcode(req.parts);
    if headers.contains_key(&X_CA_KEY) && signed {
        let app = signature_auth(policy, creds, guard, req).await?;
        caller.app_key = headers
            .get(&X_CA_KEY)
            .and_then(|v| v.to_str().ok())
            .map(Into::into);
        return Ok(app);
    }
    let code = match appcode_header(headers) {
        Some(c) => Some(Cow::Borrowed(c)),
        None => match appcode_query(req.parts.uri.query()) {
            Some(c) if policy.app_code == AppCodeMode::HeaderOrQuery => {
                caller.strip_app_code_query = true;
                Some(c)
            }
            Some(_) => {
                return Err(Reject::new(
                    &codes::A400AC,
                    &["`AppCode` in the query is not accepted by this API"],
                ))
            }
            None => None,
        },
    };
    let Some(code) = code else {
        return Err(Reject::new(&codes::A400MA, &[]));
    };
    if policy.app_code == AppCodeMode::Disabled {
        return Err(Reject::new(
            &codes::A400AC,
            &["AppCode authentication is disabled for this API"],
        ));
    }
    creds
        .by_code
        .get(code.as_ref())
        .cloned()
        .ok_or_else(|| Reject::new(&codes::A400AC, &["not found"]))
}

fn has_any_appcode(parts: &Parts) -> bool {
    appcode_header(&parts.headers).is_some() || appcode_query(parts.uri.query()).is_some()
}

async fn signature_auth(
    policy: &AuthPolicy,
    creds: &Credentials,
    guard: &dyn ReplayGuard,
    req: &Request<'_>,
) -> Result<Arc<AppIdentity>, Reject> {
    let headers = &req.parts.headers;
    let key = headers
        .get(&X_CA_KEY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let entry = creds
        .by_key
        .get(key)
        .ok_or_else(|| Reject::new(&codes::A400IK, &[]))?;
    let signature = headers
        .get(&X_CA_SIGNATURE)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Reject::with_message(&codes::A403IS, "Empty Signature"))?;
    let algorithm = match headers.get(&X_CA_SIGNATURE_METHOD) {
        None => Algorithm::HmacSha256,
        Some(v) => {
            let name = String::from_utf8_lossy(v.as_bytes());
            match Algorithm::parse(&name) {
                Some(Algorithm::HmacSha1) if !policy.allow_sha1 => {
                    return Err(Reject::new(
                        &codes::I400HD,
                        &[
                            "X-Ca-Signature-Method",
                            "HmacSHA1 is not allowed by this API (AllowSignatureMethod)",
                        ],
                    ))
                }
                Some(a) => a,
                None => {
                    return Err(Reject::new(
                        &codes::I400HD,
                        &["X-Ca-Signature-Method", &format!("{name} unsupported")],
                    ))
                }
            }
        }
    };
    check_timestamp(headers, req.now_ms)?;
    if let Some(md5) = headers.get(&CONTENT_MD5) {
        check_md5(md5.as_bytes(), req.body)?;
    }
    let form = if is_form(headers) {
        req.body.map(|b| b.as_ref())
    } else {
        None
    };
    let signed = SignedRequest {
        method: req.parts.method.as_str(),
        path: req.parts.uri.path(),
        query: req.parts.uri.query(),
        headers,
        form,
    };
    let mut secrets: smallvec::SmallVec<[&[u8]; 2]> = smallvec::SmallVec::new();
    for (secret, until) in &entry.secrets {
        if until.is_none_or(|u| req.now_ms < u) {
            secrets.push(secret);
        }
    }
    apigw_signature::verify(&signed, algorithm, &secrets, signature)
        .map_err(|m| Reject::new(&codes::A403IS, &[&m.server_string_to_sign()]))?;
    check_nonce(policy, headers, key, guard).await?;
    Ok(entry.app.clone())
}

/// `X-Ca-Timestamp`, when sent, must be within 15 minutes of now (either way). Values shorter
/// than 13 digits are read as seconds.
fn check_timestamp(headers: &HeaderMap, now_ms: i64) -> Result<(), Reject> {
    let Some(v) = headers.get(&X_CA_TIMESTAMP) else {
        return Ok(());
    };
    let text = std::str::from_utf8(v.as_bytes()).unwrap_or("").trim();
    let ts: i64 = text
        .parse()
        .ok()
        .filter(|_| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .ok_or_else(|| {
            Reject::new(
                &codes::I400HD,
                &[
                    "X-Ca-Timestamp",
                    "is not a number of milliseconds since the epoch",
                ],
            )
        })?;
    let ts = if text.len() < 13 {
        ts.saturating_mul(1000)
    } else {
        ts
    };
    if (now_ms - ts).abs() > REPLAY_WINDOW_MS {
        return Err(Reject::new(&codes::S403TE, &[]));
    }
    Ok(())
}

fn check_md5(sent: &[u8], body: Option<&Bytes>) -> Result<(), Reject> {
    let body = body
        .filter(|b| !b.is_empty())
        .ok_or_else(|| Reject::new(&codes::I400I5, &["`Content-MD5` sent with an empty body"]))?;
    if apigw_signature::content_md5(body).as_bytes() != sent.trim_ascii() {
        return Err(Reject::new(&codes::I400I5, &["does not match the body"]));
    }
    Ok(())
}

/// Checked only after the signature passed, so nobody can burn another app's nonces.
async fn check_nonce(
    policy: &AuthPolicy,
    headers: &HeaderMap,
    app_key: &str,
    guard: &dyn ReplayGuard,
) -> Result<(), Reject> {
    let nonce = headers
        .get(&X_CA_NONCE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()))
        .filter(|n| !n.trim().is_empty());
    match nonce {
        None if policy.force_nonce => Err(Reject::new(&codes::I400NC, &[])),
        None => Ok(()),
        Some(n) => {
            let ttl = Duration::from_millis(REPLAY_WINDOW_MS as u64);
            match guard.check(app_key, n.trim(), ttl).await {
                Seen::First => Ok(()),
                Seen::Again => Err(Reject::new(&codes::S403NU, &[])),
                Seen::Unavailable => Err(Reject::new(&codes::X503NS, &[])),
            }
        }
    }
}

fn check_grant(policy: &AuthPolicy, app: &AppIdentity, now_ms: i64) -> Result<(), Reject> {
    match policy.grants.get(&app.app_id) {
        None => Err(Reject::new(&codes::A403UA, &[])),
        Some(Some(until)) if now_ms >= *until => Err(Reject::new(&codes::A403EP, &[])),
        Some(_) => Ok(()),
    }
}

async fn jwt_auth(
    jwt: &JwtPlugin,
    guard: &dyn ReplayGuard,
    parts: &mut Parts,
    now_ms: i64,
    caller: &mut Caller,
) -> Result<(), Reject> {
    let cfg = &jwt.config;
    let (location, name) = cfg.token_location();
    let token: Option<String> = match location {
        TokenLocation::Header => parts
            .headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        TokenLocation::Query => form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned()),
        TokenLocation::Cookie => parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string()),
    };
    let token = token.filter(|t| !t.trim().is_empty());
    let Some(token) = token else {
        if cfg.bypass_empty_token {
            return Ok(());
        }
        return Err(Reject::new(&codes::I400JR, &[]));
    };
    let now_s = (now_ms / 1000).max(0) as u64;
    let verified = cfg
        .verify(&token, now_s)
        .map_err(|r| Reject::with_message(r.code, r.message))?;
    if cfg.prevent_jti_replay {
        if let Some(jti) = &verified.jti {
            let ttl = verified
                .exp
                .map(|exp| Duration::from_secs(exp.saturating_sub(now_s).max(1)))
                .unwrap_or(JTI_DEFAULT_TTL);
            let scope = format!("jwt:{}", jwt.plugin_id);
            match guard.check(&scope, jti, ttl).await {
                Seen::First => {}
                Seen::Again => return Err(Reject::new(&codes::A403SV, &[])),
                Seen::Unavailable => return Err(Reject::new(&codes::X503NS, &[])),
            }
        }
    }
    caller.claims = Some(Arc::new(verified.claims.clone()));
    for (location, name, value) in verified.forwarded(cfg) {
        match location {
            TokenLocation::Query => caller.extra_query.push((name, value)),
            _ => {
                let name = HeaderName::from_bytes(name.as_bytes());
                let value = http::HeaderValue::from_str(&value);
                if let (Ok(n), Ok(v)) = (name, value) {
                    caller.extra_headers.push((n, v));
                } else {
                    return Err(Reject::new(
                        &codes::I400IP,
                        &["a JWT claim", "cannot be sent as a header"],
                    ));
                }
            }
        }
    }
    Ok(())
}
