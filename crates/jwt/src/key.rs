//! JSON Web Keys (RFC 7517/7518) as accepted in the plugin document, and the algorithms each
//! key may verify.

use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};
use std::fmt;

/// Base64url that accepts input with or without `=` padding (JWK producers differ).
pub(crate) const B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What kind of public key a JWK holds; decides which `alg`s it may verify.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Oct,
    Ed25519,
}

impl KeyKind {
    /// True when a token signed with `alg` can be verified with a key of this kind.
    pub(crate) fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        match self {
            KeyKind::Rsa => matches!(alg, RS256 | RS384 | RS512 | PS256 | PS384 | PS512),
            KeyKind::EcP256 => alg == ES256,
            KeyKind::EcP384 => alg == ES384,
            KeyKind::Oct => matches!(alg, HS256 | HS384 | HS512),
            KeyKind::Ed25519 => alg == EdDSA,
        }
    }

    fn name(self) -> &'static str {
        match self {
            KeyKind::Rsa => "RSA",
            KeyKind::EcP256 => "EC P-256",
            KeyKind::EcP384 => "EC P-384",
            KeyKind::Oct => "oct",
            KeyKind::Ed25519 => "OKP Ed25519",
        }
    }
}

/// Parses a JWS `alg` name. `Err` carries the reason for `A403JT` / the config error.
pub(crate) fn parse_alg(name: &str) -> Result<Algorithm, String> {
    Ok(match name {
        "RS256" => Algorithm::RS256,
        "RS384" => Algorithm::RS384,
        "RS512" => Algorithm::RS512,
        "PS256" => Algorithm::PS256,
        "PS384" => Algorithm::PS384,
        "PS512" => Algorithm::PS512,
        "ES256" => Algorithm::ES256,
        "ES384" => Algorithm::ES384,
        "HS256" => Algorithm::HS256,
        "HS384" => Algorithm::HS384,
        "HS512" => Algorithm::HS512,
        "EdDSA" => Algorithm::EdDSA,
        n if n.eq_ignore_ascii_case("none") => {
            return Err("algorithm `none` is not allowed".to_string())
        }
        n => {
            return Err(format!(
                "unsupported algorithm `{}`",
                crate::printable(n, 32)
            ))
        }
    })
}

/// One verification key of the plugin.
#[derive(Clone)]
pub(crate) struct Key {
    pub(crate) kid: Option<String>,
    pub(crate) kind: KeyKind,
    /// The JWK's own `alg`, when it pins one.
    pub(crate) alg: Option<Algorithm>,
    decoding: DecodingKey,
}

impl fmt::Debug for Key {
    // Never prints key material (an `oct` key is a shared secret).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Key")
            .field("kid", &self.kid)
            .field("kind", &self.kind)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl Key {
    /// True when this key may verify a token signed with `alg`.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.alg.is_none_or(|a| a == alg)
    }

    /// Checks `signature` (base64url, the token's third part) over `message` (the first two
    /// parts with their dot). Call only when [`Key::accepts`] `alg`.
    pub(crate) fn verify(&self, alg: Algorithm, message: &str, signature: &str) -> bool {
        debug_assert!(self.accepts(alg));
        if !self.accepts(alg) {
            // jsonwebtoken panics when an RSA component key meets a non-RSA algorithm.
            return false;
        }
        jsonwebtoken::crypto::verify(signature, message.as_bytes(), &self.decoding, alg)
            .unwrap_or(false)
    }
}

/// Parses one JWK. `at` names it in error messages (`jwk`, `jwks[2]`).
pub(crate) fn parse_jwk(value: &Value, at: &str) -> Result<Key, String> {
    let parsed;
    let value = match value {
        // A JWK pasted as a JSON string inside the document.
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s)
                .map_err(|e| format!("{at}: not a JSON object: {e}"))?;
            &parsed
        }
        v => v,
    };
    let Some(map) = value.as_object() else {
        return Err(format!("{at}: a JWK must be an object"));
    };
    let text = |name: &str| -> Result<Option<&str>, String> {
        match map.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("{at}: `{name}` must be a string")),
        }
    };
    let kid = match text("kid")? {
        Some("") => return Err(format!("{at}: `kid` is empty")),
        k => k.map(str::to_string),
    };
    if let Some(usage) = text("use")? {
        if usage != "sig" {
            return Err(format!(
                "{at}: `use` is `{}`, a verification key needs `sig`",
                crate::printable(usage, 32)
            ));
        }
    }
    let Some(kty) = text("kty")? else {
        return Err(format!("{at}: `kty` is required"));
    };
    let (kind, decoding) = match kty {
        "RSA" => {
            let n = bytes(map, "n", at)?;
            let e = bytes(map, "e", at)?;
            let n = strip_zeros(&n);
            let e = strip_zeros(&e);
            let bits = bit_len(n);
            if !(2048..=8192).contains(&bits) {
                return Err(format!(
                    "{at}: RSA modulus has {bits} bits, 2048 to 8192 are supported"
                ));
            }
            if e.is_empty() || e.len() > 4 {
                return Err(format!("{at}: RSA exponent `e` is out of range"));
            }
            (KeyKind::Rsa, DecodingKey::from_rsa_raw_components(n, e))
        }
        "EC" => {
            let (kind, size) = match text("crv")? {
                Some("P-256") => (KeyKind::EcP256, 32),
                Some("P-384") => (KeyKind::EcP384, 48),
                Some(c) => {
                    return Err(format!(
                        "{at}: curve `{}` is not supported (P-256, P-384)",
                        crate::printable(c, 32)
                    ))
                }
                None => return Err(format!("{at}: `crv` is required for kty EC")),
            };
            let x = coordinate(map, "x", size, at)?;
            let y = coordinate(map, "y", size, at)?;
            let key = DecodingKey::from_ec_components(&B64URL.encode(x), &B64URL.encode(y))
                .map_err(|e| format!("{at}: {e}"))?;
            (kind, key)
        }
        "oct" => {
            let k = bytes(map, "k", at)?;
            if k.is_empty() {
                return Err(format!("{at}: `k` is empty"));
            }
            (KeyKind::Oct, DecodingKey::from_secret(&k))
        }
        "OKP" => {
            match text("crv")? {
                Some("Ed25519") => {}
                Some(c) => {
                    return Err(format!(
                        "{at}: curve `{}` is not supported (Ed25519)",
                        crate::printable(c, 32)
                    ))
                }
                None => return Err(format!("{at}: `crv` is required for kty OKP")),
            }
            let x = coordinate(map, "x", 32, at)?;
            let key = DecodingKey::from_ed_components(&B64URL.encode(x))
                .map_err(|e| format!("{at}: {e}"))?;
            (KeyKind::Ed25519, key)
        }
        other => {
            return Err(format!(
                "{at}: kty `{}` is not supported (RSA, EC, oct, OKP)",
                crate::printable(other, 32)
            ))
        }
    };
    let alg = match text("alg")? {
        None => None,
        Some(name) => {
            let alg = parse_alg(name).map_err(|why| format!("{at}: {why}"))?;
            if !kind.fits(alg) {
                return Err(format!(
                    "{at}: alg `{name}` cannot be used with a {} key",
                    kind.name()
                ));
            }
            Some(alg)
        }
    };
    Ok(Key {
        kid,
        kind,
        alg,
        decoding,
    })
}

fn bytes(map: &Map<String, Value>, name: &str, at: &str) -> Result<Vec<u8>, String> {
    match map.get(name) {
        Some(Value::String(s)) => B64URL
            .decode(s.trim())
            .map_err(|_| format!("{at}: `{name}` is not base64url")),
        None | Some(Value::Null) => Err(format!("{at}: `{name}` is required")),
        Some(_) => Err(format!("{at}: `{name}` must be a string")),
    }
}

/// A curve coordinate, left-padded with zeros to the curve's size (some producers drop them).
fn coordinate(
    map: &Map<String, Value>,
    name: &str,
    size: usize,
    at: &str,
) -> Result<Vec<u8>, String> {
    let raw = bytes(map, name, at)?;
    if raw.is_empty() || raw.len() > size {
        return Err(format!(
            "{at}: `{name}` has {} bytes, expected {size}",
            raw.len()
        ));
    }
    let mut out = vec![0u8; size - raw.len()];
    out.extend_from_slice(&raw);
    Ok(out)
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|&x| x != 0).unwrap_or(b.len());
    &b[first..]
}

fn bit_len(b: &[u8]) -> usize {
    match b.first() {
        None => 0,
        Some(&top) => (b.len() - 1) * 8 + (8 - top.leading_zeros() as usize),
    }
}
