//! The jwtAuth plugin document.

use crate::key::{parse_jwk, Key};
use serde_json::{Map, Value};

/// Where a token is read from, or where a claim is forwarded to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenLocation {
    /// A request header (for `Authorization`, a `Bearer ` scheme word is stripped).
    Header,
    /// A query-string parameter.
    Query,
    /// A cookie of the `Cookie` header (token source only).
    Cookie,
}

impl TokenLocation {
    fn parse(s: &str) -> Option<TokenLocation> {
        if s.eq_ignore_ascii_case("header") {
            Some(TokenLocation::Header)
        } else if s.eq_ignore_ascii_case("query") {
            Some(TokenLocation::Query)
        } else if s.eq_ignore_ascii_case("cookie") {
            Some(TokenLocation::Cookie)
        } else {
            None
        }
    }
}

/// One `claimParameters` entry: forward claim `claim_name` as backend parameter
/// `parameter_name` in `location` ([`TokenLocation::Header`] or [`TokenLocation::Query`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClaimParameter {
    pub claim_name: String,
    pub parameter_name: String,
    pub location: TokenLocation,
}

/// A parsed jwtAuth plugin document (JSON or YAML; YAML may start with `---`).
///
/// See the crate documentation for the accepted keys and their defaults.
#[derive(Clone, Debug)]
pub struct JwtConfig {
    /// The name of the header, query parameter or cookie carrying the token.
    pub parameter: String,
    pub parameter_location: TokenLocation,
    pub claim_parameters: Vec<ClaimParameter>,
    /// Reject a `jti` seen before (the gateway keeps the memory; this crate demands the claim).
    pub prevent_jti_replay: bool,
    /// No token → skip verification and forward the request.
    pub bypass_empty_token: bool,
    /// Do not check `exp`.
    pub ignore_expiration_check: bool,
    /// JWT *or* APP signature authentication passes (**UNVERIFIED** cloud key `orAppAuth`).
    pub or_app_auth: bool,
    /// The `blacklist` dataset reference, kept verbatim (not enforced by this crate).
    pub blacklist: Option<String>,
    pub(crate) keys: Vec<Key>,
}

impl JwtConfig {
    /// Parses a plugin document. `Err` is a human-readable reason, meant for the `${JWT}`
    /// placeholder of `I400JP` ("Invalid JWT plugin config: ...") or a management error.
    pub fn parse(doc: &str) -> Result<JwtConfig, String> {
        let value = parse_document(doc)?;
        let Some(map) = value.as_object() else {
            return Err("the document must be a mapping of keys to values".to_string());
        };

        let parameter = match string(map, "parameter")? {
            None => "Authorization".to_string(),
            Some(p) if p.trim().is_empty() => return Err("`parameter` is empty".to_string()),
            Some(p) => p.trim().to_string(),
        };
        let parameter_location = match string(map, "parameterLocation")? {
            None => TokenLocation::Header,
            Some(l) => TokenLocation::parse(l.trim()).ok_or_else(|| {
                format!(
                    "`parameterLocation` is `{}`, expected header, query or cookie",
                    crate::printable(l, 32)
                )
            })?,
        };
        if parameter_location == TokenLocation::Header && !is_header_name(&parameter) {
            return Err(format!(
                "`parameter` `{}` is not a valid header name",
                crate::printable(&parameter, 64)
            ));
        }

        let claim_parameters = claim_parameters(map.get("claimParameters"))?;

        let mut keys = Vec::new();
        match map.get("jwk") {
            None | Some(Value::Null) => {}
            Some(Value::Array(list)) => {
                for (i, v) in list.iter().enumerate() {
                    keys.push(parse_jwk(v, &format!("jwk[{i}]"))?);
                }
            }
            Some(v) => keys.push(parse_jwk(v, "jwk")?),
        }
        match map.get("jwks") {
            None | Some(Value::Null) => {}
            Some(v) => {
                // Either a list of JWKs or an RFC 7517 JWK Set `{"keys": [...]}`.
                let list = match v {
                    Value::Array(list) => list,
                    Value::Object(set) => match set.get("keys") {
                        Some(Value::Array(list)) => list,
                        _ => return Err("`jwks` must be a list of JWKs or {keys: [...]}".into()),
                    },
                    _ => return Err("`jwks` must be a list of JWKs".to_string()),
                };
                for (i, v) in list.iter().enumerate() {
                    keys.push(parse_jwk(v, &format!("jwks[{i}]"))?);
                }
            }
        }
        if keys.is_empty() {
            return Err("no verification key: set `jwk` or `jwks`".to_string());
        }
        for (i, k) in keys.iter().enumerate() {
            if let Some(kid) = &k.kid {
                if keys[..i].iter().any(|o| o.kid.as_ref() == Some(kid)) {
                    return Err(format!(
                        "two JWKs have the kid `{}`",
                        crate::printable(kid, 64)
                    ));
                }
            }
        }

        Ok(JwtConfig {
            parameter,
            parameter_location,
            claim_parameters,
            prevent_jti_replay: boolean(map, "preventJtiReplay")?,
            bypass_empty_token: boolean(map, "bypassEmptyToken")?,
            ignore_expiration_check: boolean(map, "ignoreExpirationCheck")?,
            or_app_auth: boolean(map, "orAppAuth")?,
            blacklist: string(map, "blacklist")?.map(str::to_string),
            keys,
        })
    }

    /// Where the gateway must read the token: the location and the header / query parameter /
    /// cookie name (`parameter`, as written in the document).
    pub fn token_location(&self) -> (TokenLocation, &str) {
        (self.parameter_location, &self.parameter)
    }

    /// The `kid`s of the configured keys, in document order (`None` for a key without one).
    pub fn key_ids(&self) -> impl Iterator<Item = Option<&str>> {
        self.keys.iter().map(|k| k.kid.as_deref())
    }
}

fn parse_document(doc: &str) -> Result<Value, String> {
    let doc = doc.trim_start_matches('\u{feff}').trim();
    if doc.is_empty() {
        return Err("the document is empty".to_string());
    }
    let mut json_error = None;
    if doc.starts_with('{') {
        match serde_json::from_str::<Value>(doc) {
            Ok(v) => return Ok(v),
            Err(e) => json_error = Some(e),
        }
    }
    serde_norway::from_str::<Value>(doc).map_err(|yaml| match json_error {
        Some(json) => format!("invalid JSON: {json}"),
        None => format!("invalid YAML: {yaml}"),
    })
}

fn string<'a>(map: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` must be a string")),
    }
}

/// A flag: a boolean, or the strings `true` / `false`; absent or null → false.
fn boolean(map: &Map<String, Value>, name: &str) -> Result<bool, String> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(format!("`{name}` must be true or false")),
    }
}

fn claim_parameters(value: Option<&Value>) -> Result<Vec<ClaimParameter>, String> {
    let list = match value {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(list)) => list,
        Some(_) => return Err("`claimParameters` must be a list".to_string()),
    };
    let mut out = Vec::with_capacity(list.len());
    for (i, item) in list.iter().enumerate() {
        let at = format!("claimParameters[{i}]");
        let Some(map) = item.as_object() else {
            return Err(format!("{at}: must be a mapping"));
        };
        let field = |name: &str| string(map, name).map_err(|e| format!("{at}: {e}"));
        let claim_name = match field("claimName")? {
            Some(c) if !c.is_empty() => c.to_string(),
            _ => return Err(format!("{at}: `claimName` is required")),
        };
        let parameter_name = match field("parameterName")? {
            Some(p) if !p.trim().is_empty() => p.trim().to_string(),
            Some(_) => return Err(format!("{at}: `parameterName` is empty")),
            None => claim_name.clone(),
        };
        let location = match field("location")? {
            None => TokenLocation::Header,
            Some(l) => match TokenLocation::parse(l.trim()) {
                Some(loc @ (TokenLocation::Header | TokenLocation::Query)) => loc,
                _ => {
                    return Err(format!(
                        "{at}: `location` is `{}`, expected header or query",
                        crate::printable(l, 32)
                    ))
                }
            },
        };
        if location == TokenLocation::Header && !is_header_name(&parameter_name) {
            return Err(format!(
                "{at}: `{}` is not a valid header name",
                crate::printable(&parameter_name, 64)
            ));
        }
        out.push(ClaimParameter {
            claim_name,
            parameter_name,
            location,
        });
    }
    Ok(out)
}

/// RFC 9110 `token`: the characters an HTTP field name may use.
fn is_header_name(s: &str) -> bool {
    !s.is_empty()
        && s.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// One public verification key given outside a plugin document (an `APPOPENID` API's
/// `PublicKeyId` and `PublicKey`: a JWK, or a PEM public key converted to one).
#[derive(Clone, Debug)]
pub struct PublicKey(Key);

impl PublicKey {
    /// Parses `text` (JWK JSON or PEM, see `apigw_model::openid::public_jwk`) as the key with
    /// id `kid`. `Err` says why it is unusable; a shared secret (`kty: oct`) is refused.
    pub fn parse(text: &str, kid: &str) -> Result<PublicKey, String> {
        let jwk = apigw_model::openid::public_jwk(text, kid)?;
        if jwk.get("kty").and_then(Value::as_str) == Some("oct") {
            return Err("kty `oct` is a shared secret, not a public key".to_string());
        }
        parse_jwk(&Value::Object(jwk), "PublicKey").map(PublicKey)
    }

    /// The key id (`PublicKeyId`).
    pub fn kid(&self) -> &str {
        self.0.kid.as_deref().unwrap_or("")
    }
}

impl JwtConfig {
    /// A verifier over `keys` reading the token from `parameter` in `location`, with every
    /// option of the plugin document at its default (`exp` and `nbf` checked, no `jti`
    /// demanded, no claims forwarded). Keys whose `kid` repeats an earlier one are dropped: the
    /// first wins.
    pub fn from_keys(
        parameter: &str,
        location: TokenLocation,
        keys: impl IntoIterator<Item = PublicKey>,
    ) -> JwtConfig {
        let mut list: Vec<Key> = Vec::new();
        for PublicKey(k) in keys {
            if !list.iter().any(|o| o.kid == k.kid) {
                list.push(k);
            }
        }
        JwtConfig {
            parameter: parameter.to_string(),
            parameter_location: location,
            claim_parameters: Vec::new(),
            prevent_jti_replay: false,
            bypass_empty_token: false,
            ignore_expiration_check: false,
            or_app_auth: false,
            blacklist: None,
            keys: list,
        }
    }
}
