//! `OpenIdConnectConfig` (management-api.md §4.11): the OpenID Connect settings of an
//! `APPOPENID` API, stored verbatim in the definition's `extra` members and read from there.
//!
//! An `IDTOKEN` API issues id tokens (its backend signs them) and declares the public half of
//! the key pair: `PublicKeyId` (the `kid` tokens carry) and `PublicKey`, a JWK (RFC 7517, JSON
//! text or an object) or a PEM public key (`BEGIN PUBLIC KEY`, SubjectPublicKeyInfo, or
//! `BEGIN RSA PUBLIC KEY`, PKCS#1). A `BUSINESS` API accepts the token found in the request
//! parameter `IdTokenParamName`. The data plane's verification lives in `apigw-gateway`
//! (`openid.rs`, on top of `apigw-jwt`); this module reads and checks the configuration, and
//! turns a PEM key into a JWK so that one key parser serves both forms.

use crate::api::ApiDefinition;
use crate::error::ModelError;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use serde_json::{json, Map, Value};

/// The member of the definition holding the configuration.
pub const MEMBER: &str = "OpenIdConnectConfig";

/// Longest `PublicKey` accepted (an 8192-bit RSA JWK is about 1.5 KB).
const MAX_PUBLIC_KEY: usize = 16 * 1024;

/// Base64url with or without `=` padding.
const B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// `OpenIdApiType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenIdApiType {
    /// The API that issues id tokens; declares the public key.
    IdToken,
    /// An API that accepts an id token.
    Business,
}

/// A parsed `OpenIdConnectConfig`; `null` and empty members are `None`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenIdConnectConfig {
    pub api_type: OpenIdApiType,
    pub id_token_param_name: Option<String>,
    pub public_key_id: Option<String>,
    /// The key as written (JWK JSON text, or PEM); an object is kept as its JSON text.
    pub public_key: Option<String>,
}

impl ApiDefinition {
    /// The API's `OpenIdConnectConfig`: `Ok(None)` when absent (or `null`), `Err`
    /// (`InvalidOpenIdConnectConfig`) when it cannot be read. The member may be an object or a
    /// string holding its JSON. Only the shape is checked here; see [`validate`].
    pub fn open_id_connect_config(&self) -> Result<Option<OpenIdConnectConfig>, ModelError> {
        let parsed;
        let map = match self.extra.get(MEMBER) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => return Ok(None),
            Some(Value::String(s)) => {
                parsed = serde_json::from_str::<Value>(s).map_err(invalid)?;
                match &parsed {
                    Value::Object(m) => m,
                    _ => return Err(invalid("must be a JSON object")),
                }
            }
            Some(Value::Object(m)) => m,
            Some(_) => return Err(invalid("must be a JSON object")),
        };
        let api_type = match text(map, "OpenIdApiType")? {
            Some(t) if t.eq_ignore_ascii_case("IDTOKEN") => OpenIdApiType::IdToken,
            Some(t) if t.eq_ignore_ascii_case("BUSINESS") => OpenIdApiType::Business,
            Some(t) => {
                return Err(invalid(format!(
                    "`OpenIdApiType` is `{t}`, expected IDTOKEN or BUSINESS"
                )))
            }
            None => return Err(invalid("`OpenIdApiType` is required (IDTOKEN or BUSINESS)")),
        };
        let public_key = match map.get("PublicKey") {
            Some(Value::Object(o)) => Some(Value::Object(o.clone()).to_string()),
            _ => text(map, "PublicKey")?,
        };
        Ok(Some(OpenIdConnectConfig {
            api_type,
            id_token_param_name: text(map, "IdTokenParamName")?,
            public_key_id: text(map, "PublicKeyId")?,
            public_key,
        }))
    }
}

fn invalid(why: impl std::fmt::Display) -> ModelError {
    ModelError::invalid(MEMBER, why)
}

/// A string member, trimmed; `null`/absent/empty → `None`.
fn text(map: &Map<String, Value>, name: &str) -> Result<Option<String>, ModelError> {
    match map.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(_) => Err(invalid(format!("`{name}` must be a string"))),
    }
}

/// Checks the OpenID Connect settings of a definition (part of
/// [`crate::validate::validate_api`]): an `APPOPENID` API needs a readable config; `IDTOKEN`
/// needs `PublicKeyId` and a usable `PublicKey`; `BUSINESS` needs `IdTokenParamName` (a valid
/// header name) and, when it declares a key of its own, both `PublicKeyId` and a usable
/// `PublicKey`. Other auth types ignore the member (clients send it with `null`s).
pub fn validate(api: &ApiDefinition) -> Result<(), ModelError> {
    if api.auth_type != crate::AuthType::AppOpenId {
        return Ok(());
    }
    let Some(cfg) = api.open_id_connect_config()? else {
        return Err(ModelError::missing(MEMBER));
    };
    if cfg.api_type == OpenIdApiType::Business {
        let Some(name) = &cfg.id_token_param_name else {
            return Err(invalid("a BUSINESS API needs `IdTokenParamName`"));
        };
        if !name.bytes().all(is_token_byte) {
            return Err(invalid(format!(
                "`IdTokenParamName` `{name}` is not a valid header name"
            )));
        }
    }
    match (&cfg.public_key_id, &cfg.public_key) {
        (None, None) if cfg.api_type == OpenIdApiType::Business => Ok(()),
        (Some(kid), Some(key)) => check_public_key(key, kid).map(|_| ()),
        (None, _) => Err(invalid("`PublicKeyId` is required with a public key")),
        (Some(_), None) => Err(invalid(
            "`PublicKey` is required (a JWK or a PEM public key)",
        )),
    }
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The public JWK (a JSON object) that `PublicKey` holds, with `kid` set to `kid`; a PEM key is
/// converted. `Err` says why the text is not a public key. The key material is not checked
/// here beyond its shape; [`check_public_key`] does.
pub fn public_jwk(text: &str, kid: &str) -> Result<Map<String, Value>, String> {
    let text = text.trim();
    if text.len() > MAX_PUBLIC_KEY {
        return Err(format!("longer than {MAX_PUBLIC_KEY} bytes"));
    }
    let mut jwk = if text.starts_with("-----BEGIN") {
        pem_to_jwk(text)?
    } else {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err("a JWK must be a JSON object".into()),
            Err(e) => return Err(format!("neither a JWK (JSON: {e}) nor a PEM public key")),
        }
    };
    match jwk.get("kid") {
        None | Some(Value::Null) => {}
        Some(Value::String(k)) if k == kid => {}
        Some(_) => {
            return Err(format!(
                "the JWK's `kid` differs from `PublicKeyId` `{kid}`"
            ))
        }
    }
    jwk.insert("kid".into(), Value::String(kid.into()));
    Ok(jwk)
}

/// [`public_jwk`] and the checks the data plane's key parser (`apigw-jwt`) makes: `kty` `RSA`
/// (modulus 2048–8192 bits, exponent 1–4 bytes), `EC` (`P-256`/`P-384`), `OKP` (`Ed25519`);
/// members base64url; `use` `sig` and an `alg` that fits the key, when present. A shared
/// secret (`oct`) is not a public key and is refused.
pub fn check_public_key(text: &str, kid: &str) -> Result<Map<String, Value>, ModelError> {
    let jwk = public_jwk(text, kid).map_err(|e| invalid(format!("`PublicKey`: {e}")))?;
    check_jwk(&jwk).map_err(|e| invalid(format!("`PublicKey`: {e}")))?;
    Ok(jwk)
}

fn check_jwk(jwk: &Map<String, Value>) -> Result<(), String> {
    let text = |name: &str| -> Result<Option<&str>, String> {
        match jwk.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("`{name}` must be a string")),
        }
    };
    let bytes = |name: &str| -> Result<Vec<u8>, String> {
        let s = text(name)?.ok_or_else(|| format!("`{name}` is required"))?;
        B64URL
            .decode(s.trim())
            .map_err(|_| format!("`{name}` is not base64url"))
    };
    if let Some(u) = text("use")? {
        if u != "sig" {
            return Err(format!("`use` is `{u}`, a verification key needs `sig`"));
        }
    }
    let algs: &[&str] = match text("kty")? {
        Some("RSA") => {
            let n = bytes("n")?;
            let e = bytes("e")?;
            let n = strip_zeros(&n);
            let bits = n
                .first()
                .map_or(0, |t| (n.len() - 1) * 8 + 8 - t.leading_zeros() as usize);
            if !(2048..=8192).contains(&bits) {
                return Err(format!(
                    "RSA modulus has {bits} bits, 2048 to 8192 are supported"
                ));
            }
            let e = strip_zeros(&e);
            if e.is_empty() || e.len() > 4 {
                return Err("RSA exponent `e` is out of range".into());
            }
            &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
        }
        Some("EC") => {
            let (size, alg) = match text("crv")? {
                Some("P-256") => (32, "ES256"),
                Some("P-384") => (48, "ES384"),
                Some(c) => return Err(format!("curve `{c}` is not supported (P-256, P-384)")),
                None => return Err("`crv` is required for kty EC".into()),
            };
            for c in ["x", "y"] {
                let v = bytes(c)?;
                if v.is_empty() || v.len() > size {
                    return Err(format!("`{c}` has {} bytes, expected {size}", v.len()));
                }
            }
            if alg == "ES256" {
                &["ES256"]
            } else {
                &["ES384"]
            }
        }
        Some("OKP") => {
            match text("crv")? {
                Some("Ed25519") => {}
                Some(c) => return Err(format!("curve `{c}` is not supported (Ed25519)")),
                None => return Err("`crv` is required for kty OKP".into()),
            }
            let x = bytes("x")?;
            if x.is_empty() || x.len() > 32 {
                return Err(format!("`x` has {} bytes, expected 32", x.len()));
            }
            &["EdDSA"]
        }
        Some("oct") => return Err("kty `oct` is a shared secret, not a public key".into()),
        Some(k) => return Err(format!("kty `{k}` is not supported (RSA, EC, OKP)")),
        None => return Err("`kty` is required".into()),
    };
    if let Some(alg) = text("alg")? {
        if !algs.contains(&alg) {
            return Err(format!("alg `{alg}` does not fit the key"));
        }
    }
    Ok(())
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

// --- PEM → JWK ------------------------------------------------------------------------------

const OID_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2B, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2B, 0x65, 0x70];

/// A PEM public key (`PUBLIC KEY`: SubjectPublicKeyInfo with RSA, EC P-256/P-384 or Ed25519;
/// `RSA PUBLIC KEY`: PKCS#1) as a JWK.
fn pem_to_jwk(pem: &str) -> Result<Map<String, Value>, String> {
    let mut lines = pem.lines().map(str::trim).filter(|l| !l.is_empty());
    let label = lines
        .next()
        .and_then(|l| l.strip_prefix("-----BEGIN "))
        .and_then(|l| l.strip_suffix("-----"))
        .ok_or("malformed PEM header")?
        .to_string();
    let mut body = String::new();
    let mut ended = false;
    for l in lines {
        if l == format!("-----END {label}-----") {
            ended = true;
            break;
        }
        body.push_str(l);
    }
    if !ended {
        return Err(format!("PEM without `-----END {label}-----`"));
    }
    let der = STANDARD
        .decode(body)
        .map_err(|_| "PEM body is not base64")?;
    let bad = || "not a DER public key".to_string();
    match label.as_str() {
        "RSA PUBLIC KEY" => {
            let (seq, _) = tlv(&der, 0x30).ok_or_else(bad)?;
            rsa_jwk(seq).ok_or_else(bad)
        }
        "PUBLIC KEY" => {
            let (spki, _) = tlv(&der, 0x30).ok_or_else(bad)?;
            let (alg, rest) = tlv(spki, 0x30).ok_or_else(bad)?;
            let (bits, _) = tlv(rest, 0x03).ok_or_else(bad)?;
            let key = match bits.split_first() {
                Some((0, key)) => key,
                _ => return Err(bad()),
            };
            let (oid, params) = tlv(alg, 0x06).ok_or_else(bad)?;
            if oid == OID_RSA {
                let (seq, _) = tlv(key, 0x30).ok_or_else(bad)?;
                rsa_jwk(seq).ok_or_else(bad)
            } else if oid == OID_EC {
                let (curve, _) = tlv(params, 0x06).ok_or_else(bad)?;
                let (crv, size) = if curve == OID_P256 {
                    ("P-256", 32)
                } else if curve == OID_P384 {
                    ("P-384", 48)
                } else {
                    return Err("EC curve not supported (P-256, P-384)".into());
                };
                match key.split_first() {
                    Some((4, xy)) if xy.len() == 2 * size => Ok(obj(json!({
                        "kty": "EC", "crv": crv,
                        "x": B64URL.encode(&xy[..size]), "y": B64URL.encode(&xy[size..]),
                    }))),
                    _ => Err("EC point must be uncompressed".into()),
                }
            } else if oid == OID_ED25519 {
                Ok(obj(
                    json!({"kty": "OKP", "crv": "Ed25519", "x": B64URL.encode(key)}),
                ))
            } else {
                Err("key algorithm not supported (RSA, EC, Ed25519)".into())
            }
        }
        other => Err(format!(
            "PEM `{other}` is not a public key (`PUBLIC KEY` or `RSA PUBLIC KEY`)"
        )),
    }
}

fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }` (contents).
fn rsa_jwk(seq: &[u8]) -> Option<Map<String, Value>> {
    let (n, rest) = tlv(seq, 0x02)?;
    let (e, _) = tlv(rest, 0x02)?;
    Some(obj(json!({
        "kty": "RSA",
        "n": B64URL.encode(strip_zeros(n)),
        "e": B64URL.encode(strip_zeros(e)),
    })))
}

/// One DER element of type `tag` at the start of `der`: (contents, the rest).
fn tlv(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&t, rest) = der.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        rest = &rest[count..];
        len
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 2048-bit modulus (only its length matters here).
    fn rsa_jwk_text(extra: &str) -> String {
        let n = B64URL.encode([0xC5u8; 256]);
        format!(r#"{{"kty":"RSA","e":"AQAB","n":"{n}"{extra}}}"#)
    }

    fn api(cfg: Option<Value>, auth: &str) -> ApiDefinition {
        let mut v = json!({
            "ApiName": "openid_api", "AuthType": auth,
            "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": "/x"},
            "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:9000", "ServiceTimeout": 1000}
        });
        if let Some(c) = cfg {
            v["OpenIdConnectConfig"] = c;
        }
        serde_json::from_value(v).unwrap()
    }

    fn code(cfg: Value) -> Option<String> {
        validate(&api(Some(cfg), "APPOPENID")).err().map(|e| e.code)
    }

    #[test]
    fn reads_objects_strings_and_nulls() {
        let a = api(
            Some(
                json!({"OpenIdApiType": "BUSINESS", "IdTokenParamName": "token",
                        "PublicKeyId": null, "PublicKey": null}),
            ),
            "APPOPENID",
        );
        let c = a.open_id_connect_config().unwrap().unwrap();
        assert_eq!(c.api_type, OpenIdApiType::Business);
        assert_eq!(c.id_token_param_name.as_deref(), Some("token"));
        assert_eq!(c.public_key, None);
        let text = json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1",
                          "PublicKey": rsa_jwk_text("")})
        .to_string();
        let a = api(Some(Value::String(text)), "APPOPENID");
        let c = a.open_id_connect_config().unwrap().unwrap();
        assert_eq!(c.api_type, OpenIdApiType::IdToken);
        assert!(validate(&a).is_ok());
        assert_eq!(api(None, "APP").open_id_connect_config().unwrap(), None);
    }

    #[test]
    fn validates_per_api_type() {
        let ok_key = rsa_jwk_text(r#","kid":"k1","alg":"RS256","use":"sig""#);
        assert_eq!(
            code(json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1", "PublicKey": ok_key})),
            None
        );
        // The key may also be an object.
        let as_object: Value = serde_json::from_str(&ok_key).unwrap();
        assert_eq!(
            code(json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1", "PublicKey": as_object})),
            None
        );
        assert_eq!(
            code(json!({"OpenIdApiType": "BUSINESS", "IdTokenParamName": "X-Token"})),
            None
        );
        let bad = "InvalidOpenIdConnectConfig";
        for cfg in [
            json!({"OpenIdApiType": "OTHER"}),
            json!({"IdTokenParamName": "t"}),
            json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1"}),
            json!({"OpenIdApiType": "IDTOKEN", "PublicKey": ok_key}),
            json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1", "PublicKey": "not a key"}),
            json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k2", "PublicKey": ok_key}),
            json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1",
                   "PublicKey": rsa_jwk_text(r#","alg":"ES256""#)}),
            json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1",
                   "PublicKey": r#"{"kty":"RSA","e":"AQAB","n":"AQAB"}"#}),
            json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": "k1",
                   "PublicKey": r#"{"kty":"oct","k":"c2VjcmV0"}"#}),
            json!({"OpenIdApiType": "BUSINESS"}),
            json!({"OpenIdApiType": "BUSINESS", "IdTokenParamName": "a b"}),
            json!({"OpenIdApiType": "BUSINESS", "IdTokenParamName": "t", "PublicKeyId": "k"}),
            json!("[1]"),
        ] {
            assert_eq!(code(cfg.clone()).as_deref(), Some(bad), "{cfg}");
        }
        assert_eq!(
            validate(&api(None, "APPOPENID")).unwrap_err().code,
            "MissingOpenIdConnectConfig"
        );
        // Other auth types ignore the member.
        assert!(validate(&api(Some(json!({"OpenIdApiType": "X"})), "APP")).is_ok());
    }

    #[test]
    fn converts_pem_public_keys() {
        // SubjectPublicKeyInfo of an EC P-256 key (generated with OpenSSL 3).
        let pem = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE0AM/IeC73P52dH0PqguyFhyy7djk
UUYYnazBWHmMiJlbGiQx2GnbFEZ0hN8woddVyuoMc8M7ij7JYz1GdF+uPw==
-----END PUBLIC KEY-----";
        let jwk = check_public_key(pem, "ec1").unwrap();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["kid"], "ec1");
        assert_eq!(B64URL.decode(jwk["x"].as_str().unwrap()).unwrap().len(), 32);
        // PKCS#1 RSA: SEQUENCE { INTEGER n (2048 bits), INTEGER 65537 }.
        let mut der = vec![0x30, 0x82, 0x01, 0x0A, 0x02, 0x82, 0x01, 0x01, 0x00];
        der.extend([0xC5u8; 256]);
        der.extend([0x02, 0x03, 0x01, 0x00, 0x01]);
        let pem = format!(
            "-----BEGIN RSA PUBLIC KEY-----\n{}\n-----END RSA PUBLIC KEY-----\n",
            STANDARD.encode(&der)
        );
        let jwk = check_public_key(&pem, "r1").unwrap();
        assert_eq!(jwk["e"], "AQAB");
        assert!(check_public_key("-----BEGIN PUBLIC KEY-----\nAAAA\n", "k").is_err());
        assert!(check_public_key(
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "k"
        )
        .is_err());
    }
}
