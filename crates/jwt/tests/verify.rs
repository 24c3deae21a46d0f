//! End-to-end tests with real tokens signed by `jsonwebtoken::encode`.
//!
//! Fixtures (test-only keys, generated once with OpenSSL 3):
//! * `rsa_private.pem`: `openssl genrsa 2048 | openssl rsa -traditional` (PKCS#1, what ring signs with)
//! * `ec256_private.pem`, `ec384_private.pem`: `openssl ecparam -genkey -name prime256v1|secp384r1
//!   -noout | openssl pkcs8 -topk8 -nocrypt`
//! * `ed25519_private.pem`: `openssl genpkey -algorithm ed25519`
//! * `public_jwks.json`: the matching public JWKs (RSA `n` from `openssl rsa -modulus`, EC/OKP
//!   coordinates from the tail of `openssl pkey -pubout -outform DER`), base64url.

use apigw_jwt::{JwtConfig, Rejection, TokenLocation, Verified, NBF_LEEWAY_SECS};
use apigw_model::codes;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000; // 2023-11-14T22:13:20Z
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-not-a-real-secret";

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("fixture PEM")
}

fn rsa_key() -> EncodingKey {
    EncodingKey::from_rsa_der(&pem_der(include_str!("fixtures/rsa_private.pem")))
}
fn ec256_key() -> EncodingKey {
    EncodingKey::from_ec_der(&pem_der(include_str!("fixtures/ec256_private.pem")))
}
fn ec384_key() -> EncodingKey {
    EncodingKey::from_ec_der(&pem_der(include_str!("fixtures/ec384_private.pem")))
}
fn ed_key() -> EncodingKey {
    EncodingKey::from_ed_der(&pem_der(include_str!("fixtures/ed25519_private.pem")))
}
fn hs_key() -> EncodingKey {
    EncodingKey::from_secret(SECRET)
}

/// A public JWK from the fixture (`rsa`, `ec256`, `ec384`, `ed`, or `oct`), with `extra` merged in.
fn jwk(name: &str, extra: Value) -> Value {
    let mut key = if name == "oct" {
        json!({"kty": "oct", "k": URL_SAFE_NO_PAD.encode(SECRET)})
    } else {
        let all: Value = serde_json::from_str(include_str!("fixtures/public_jwks.json")).unwrap();
        all[name].clone()
    };
    if let Value::Object(extra) = extra {
        key.as_object_mut().unwrap().extend(extra);
    }
    key
}

fn config(doc: Value) -> JwtConfig {
    JwtConfig::parse(&doc.to_string()).unwrap_or_else(|e| panic!("{e}: {doc}"))
}

fn one_key(key: Value) -> JwtConfig {
    config(json!({"parameter": "Authorization", "jwk": key}))
}

fn token(alg: Algorithm, kid: Option<&str>, claims: Value, key: &EncodingKey) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    encode(&header, &claims, key).unwrap()
}

fn default_claims() -> Value {
    json!({"sub": "alice", "exp": NOW + 600, "iat": NOW})
}

/// A hand-made token (for headers `jsonwebtoken` cannot produce).
fn raw_token(header: Value, claims: Value, signature: &str) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        signature
    )
}

#[track_caller]
fn rejected(result: Result<Verified, Rejection>, code: &str) -> String {
    match result {
        Ok(v) => panic!("expected {code}, accepted {v:?}"),
        Err(r) => {
            assert_eq!(r.code.code, code, "{}", r.message);
            r.message
        }
    }
}

#[test]
fn valid_token_for_every_algorithm() {
    let cases: Vec<(Algorithm, &str, EncodingKey)> = vec![
        (Algorithm::RS256, "rsa", rsa_key()),
        (Algorithm::RS384, "rsa", rsa_key()),
        (Algorithm::RS512, "rsa", rsa_key()),
        (Algorithm::PS256, "rsa", rsa_key()),
        (Algorithm::PS384, "rsa", rsa_key()),
        (Algorithm::PS512, "rsa", rsa_key()),
        (Algorithm::ES256, "ec256", ec256_key()),
        (Algorithm::ES384, "ec384", ec384_key()),
        (Algorithm::HS256, "oct", hs_key()),
        (Algorithm::HS384, "oct", hs_key()),
        (Algorithm::HS512, "oct", hs_key()),
        (Algorithm::EdDSA, "ed", ed_key()),
    ];
    for (alg, name, key) in cases {
        let t = token(alg, None, default_claims(), &key);
        // Without `alg` on the JWK, and with it pinned.
        for extra in [json!({}), json!({"alg": format!("{alg:?}"), "use": "sig"})] {
            let cfg = one_key(jwk(name, extra));
            let v = cfg
                .verify(&t, NOW)
                .unwrap_or_else(|r| panic!("{alg:?}: {r}"));
            assert_eq!(v.claims["sub"], "alice");
            assert_eq!(v.exp, Some(NOW + 600));
            assert_eq!(v.jti, None);
        }
    }
}

#[test]
fn bearer_scheme_is_stripped() {
    let cfg = one_key(jwk("rsa", json!({})));
    let t = token(Algorithm::RS256, None, default_claims(), &rsa_key());
    assert!(cfg.verify(&format!("Bearer {t}"), NOW).is_ok());
    assert!(cfg.verify(&format!("bearer   {t} "), NOW).is_ok());
    assert!(cfg.verify(&t, NOW).is_ok());
    let m = rejected(cfg.verify("Bearer", NOW), "I400JD");
    assert_eq!(m, "JWT Deserialize Failed: ``");
}

fn three_keys_with_kid() -> JwtConfig {
    config(json!({
        "parameter": "X-Token",
        "jwks": [
            jwk("rsa", json!({"kid": "r1"})),
            jwk("ec256", json!({"kid": "e1"})),
            jwk("oct", json!({"kid": "h1"})),
        ]
    }))
}

#[test]
fn kid_selects_the_key() {
    let cfg = three_keys_with_kid();
    let claims = default_claims();
    for (alg, kid, key) in [
        (Algorithm::RS256, "r1", rsa_key()),
        (Algorithm::ES256, "e1", ec256_key()),
        (Algorithm::HS256, "h1", hs_key()),
    ] {
        let t = token(alg, Some(kid), claims.clone(), &key);
        assert!(cfg.verify(&t, NOW).is_ok(), "{kid}");
    }
    // The right kid's key is the only candidate: an RSA token naming the EC key fails.
    let t = token(Algorithm::RS256, Some("e1"), claims.clone(), &rsa_key());
    let m = rejected(cfg.verify(&t, NOW), "A403JT");
    assert_eq!(m, "Invalid JWT: algorithm `RS256` does not match the JWK");
    // Same family, wrong key: an HS256 token signed with another secret under kid h1.
    let other = EncodingKey::from_secret(b"another secret entirely");
    let t = token(Algorithm::HS256, Some("h1"), claims, &other);
    let m = rejected(cfg.verify(&t, NOW), "A403JT");
    assert_eq!(m, "Invalid JWT: signature verification failed");
}

#[test]
fn unknown_kid() {
    let cfg = three_keys_with_kid();
    let t = token(Algorithm::RS256, Some("nope"), default_claims(), &rsa_key());
    let m = rejected(cfg.verify(&t, NOW), "A403JK");
    assert_eq!(m, "No matching JWK, `nope` not found");
    // A kid in the token while the only key has none: still no match.
    let cfg = one_key(jwk("rsa", json!({})));
    rejected(cfg.verify(&t, NOW), "A403JK");
}

#[test]
fn no_kid_tries_keyless_then_all_keys() {
    let cfg = config(json!({
        "jwks": [
            jwk("oct", json!({"kid": "h1"})),
            jwk("rsa", json!({})),
            jwk("ec256", json!({"kid": "e1"})),
        ]
    }));
    assert_eq!(
        cfg.key_ids().collect::<Vec<_>>(),
        vec![Some("h1"), None, Some("e1")]
    );
    for (alg, key) in [
        (Algorithm::RS256, rsa_key()),
        (Algorithm::ES256, ec256_key()),
        (Algorithm::HS512, hs_key()),
    ] {
        let t = token(alg, None, default_claims(), &key);
        assert!(cfg.verify(&t, NOW).is_ok(), "{alg:?}");
    }
    // Two RSA keys, neither with a kid: the second one verifies.
    let decoy = json!({"kty": "RSA", "e": "AQAB", "n": URL_SAFE_NO_PAD.encode([0xc5u8; 256])});
    let cfg = config(json!({"jwks": [decoy, jwk("rsa", json!({}))]}));
    let t = token(Algorithm::PS384, None, default_claims(), &rsa_key());
    assert!(cfg.verify(&t, NOW).is_ok());
    // No key fits the algorithm at all.
    let t = token(Algorithm::ES384, None, default_claims(), &ec384_key());
    let m = rejected(cfg.verify(&t, NOW), "A403JT");
    assert_eq!(m, "Invalid JWT: no JWK for algorithm `ES384`");
}

#[test]
fn wrong_signature() {
    let cfg = one_key(jwk("rsa", json!({})));
    let t = token(Algorithm::RS256, None, default_claims(), &rsa_key());
    // Swap in another payload, keep the signature.
    let parts: Vec<&str> = t.split('.').collect();
    let forged = URL_SAFE_NO_PAD.encode(json!({"sub": "mallory", "exp": NOW + 600}).to_string());
    let t2 = format!("{}.{}.{}", parts[0], forged, parts[2]);
    let m = rejected(cfg.verify(&t2, NOW), "A403JT");
    assert_eq!(m, "Invalid JWT: signature verification failed");
    // Signature that is not base64url, and an empty one.
    rejected(
        cfg.verify(&format!("{}.{}.!!!", parts[0], parts[1]), NOW),
        "A403JT",
    );
    rejected(
        cfg.verify(&format!("{}.{}.", parts[0], parts[1]), NOW),
        "A403JT",
    );
    // A token signed by another EC key.
    let cfg = one_key(jwk("ec256", json!({})));
    let t = token(Algorithm::ES384, None, default_claims(), &ec384_key());
    rejected(cfg.verify(&t, NOW), "A403JT");
}

#[test]
fn none_and_unsupported_algorithms() {
    let cfg = one_key(jwk("rsa", json!({})));
    for alg in ["none", "None", "NONE"] {
        let t = raw_token(json!({"alg": alg, "typ": "JWT"}), default_claims(), "");
        let m = rejected(cfg.verify(&t, NOW), "A403JT");
        assert_eq!(m, "Invalid JWT: algorithm `none` is not allowed");
    }
    let t = raw_token(json!({"alg": "ES512"}), default_claims(), "AAAA");
    let m = rejected(cfg.verify(&t, NOW), "A403JT");
    assert_eq!(m, "Invalid JWT: unsupported algorithm `ES512`");
    // HS256 signed with the RSA public key bytes (key confusion) never reaches HMAC.
    let t = token(Algorithm::HS256, None, default_claims(), &hs_key());
    rejected(cfg.verify(&t, NOW), "A403JT");
    // A JWK pinned to RS256 refuses PS256 even though the key could verify it.
    let cfg = one_key(jwk("rsa", json!({"alg": "RS256"})));
    let t = token(Algorithm::PS256, None, default_claims(), &rsa_key());
    rejected(cfg.verify(&t, NOW), "A403JT");
    // Critical header extensions are not understood.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = None;
    let mut h = serde_json::to_value(&header).unwrap();
    h["crit"] = json!(["exp"]);
    let t = raw_token(h, default_claims(), "AAAA");
    let m = rejected(cfg.verify(&t, NOW), "A403JT");
    assert_eq!(m, "Invalid JWT: unsupported critical header `crit`");
}

#[test]
fn malformed_tokens() {
    let cfg = one_key(jwk("rsa", json!({})));
    let good = token(Algorithm::RS256, None, default_claims(), &rsa_key());
    let parts: Vec<&str> = good.split('.').collect();
    let not_object = URL_SAFE_NO_PAD.encode("[1,2]");
    let no_alg = URL_SAFE_NO_PAD.encode(r#"{"typ":"JWT"}"#);
    let num_kid = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":7}"#);
    let bad = [
        "abc".to_string(),
        "a.b".to_string(),
        format!("{good}.extra"),
        format!("%%%.{}.{}", parts[1], parts[2]),
        format!("{}.{}.{}", not_object, parts[1], parts[2]),
        format!("{}.{}.{}", parts[0], not_object, parts[2]),
        format!("{}.{}.{}", no_alg, parts[1], parts[2]),
        format!("{}.{}.{}", num_kid, parts[1], parts[2]),
        format!(".{}.{}", parts[1], parts[2]),
        format!("{}..{}", parts[0], parts[2]),
    ];
    for t in &bad {
        let m = rejected(cfg.verify(t, NOW), "I400JD");
        assert_eq!(m, format!("JWT Deserialize Failed: `{t}`"));
    }
    // Echoed tokens are sanitized and bounded.
    let m = rejected(cfg.verify("caf\u{e9}\n", NOW), "I400JD");
    assert_eq!(m, "JWT Deserialize Failed: `caf?`");
    let long = "x".repeat(3000);
    let m = rejected(cfg.verify(&long, NOW), "I400JD");
    assert_eq!(
        m,
        format!("JWT Deserialize Failed: `{}...`", "x".repeat(1024))
    );
}

#[test]
fn expiry() {
    let cfg = one_key(jwk("ec256", json!({})));
    let at = |exp: Value| token(Algorithm::ES256, None, json!({"exp": exp}), &ec256_key());
    // Expired from the second of `exp` on; no leeway.
    let m = rejected(cfg.verify(&at(json!(NOW)), NOW), "A403JE");
    assert_eq!(m, "JWT is expired at `2023-11-14T22:13:20Z`");
    let m = rejected(cfg.verify(&at(json!(NOW - 3600)), NOW), "A403JE");
    assert_eq!(m, "JWT is expired at `2023-11-14T21:13:20Z`");
    let v = cfg.verify(&at(json!(NOW + 1)), NOW).unwrap();
    assert_eq!(v.exp, Some(NOW + 1));
    // Fractional NumericDate.
    let v = cfg.verify(&at(json!(NOW as f64 + 0.5)), NOW).unwrap();
    assert_eq!(v.exp, Some(NOW + 1));
    rejected(cfg.verify(&at(json!(NOW as f64 - 0.5)), NOW), "A403JE");
    // Not a number.
    let m = rejected(cfg.verify(&at(json!("tomorrow")), NOW), "A403JT");
    assert_eq!(m, "Invalid JWT: claim `exp` is not a NumericDate");
    // No exp at all: never expires.
    let t = token(Algorithm::ES256, None, json!({"sub": "x"}), &ec256_key());
    assert_eq!(cfg.verify(&t, NOW).unwrap().exp, None);
}

#[test]
fn ignore_expiration_check() {
    let cfg = config(json!({"ignoreExpirationCheck": true, "jwk": jwk("oct", json!({}))}));
    assert!(cfg.ignore_expiration_check);
    for exp in [json!(NOW - 86_400), json!("garbage")] {
        let t = token(Algorithm::HS256, None, json!({"exp": exp}), &hs_key());
        let v = cfg.verify(&t, NOW).unwrap();
        assert_eq!(v.exp, None);
        assert_eq!(v.claims["exp"], exp);
    }
}

#[test]
fn not_before() {
    let cfg = one_key(jwk("oct", json!({})));
    let at = |nbf: u64| token(Algorithm::HS256, None, json!({"nbf": nbf}), &hs_key());
    assert!(cfg.verify(&at(NOW - 10), NOW).is_ok());
    assert!(cfg.verify(&at(NOW), NOW).is_ok());
    assert!(cfg.verify(&at(NOW + NBF_LEEWAY_SECS), NOW).is_ok());
    let m = rejected(cfg.verify(&at(NOW + 3600), NOW), "A403JT");
    assert_eq!(
        m,
        "Invalid JWT: token is not valid before `2023-11-14T23:13:20Z`"
    );
    rejected(cfg.verify(&at(NOW + NBF_LEEWAY_SECS + 1), NOW), "A403JT");
    // nbf is checked even with ignoreExpirationCheck.
    let cfg = config(json!({"ignoreExpirationCheck": "true", "jwk": jwk("oct", json!({}))}));
    rejected(cfg.verify(&at(NOW + 3600), NOW), "A403JT");
}

#[test]
fn jti_required_with_prevent_jti_replay() {
    let cfg = config(json!({"preventJtiReplay": true, "jwk": jwk("rsa", json!({}))}));
    assert!(cfg.prevent_jti_replay);
    let t = token(Algorithm::RS256, None, default_claims(), &rsa_key());
    let m = rejected(cfg.verify(&t, NOW), "S403JI");
    assert_eq!(m, "Claim `jti` is required when `preventJtiReplay:true`");
    let t = token(Algorithm::RS256, None, json!({"jti": ""}), &rsa_key());
    rejected(cfg.verify(&t, NOW), "S403JI");
    let t = token(
        Algorithm::RS256,
        None,
        json!({"jti": "id-1", "exp": NOW + 60}),
        &rsa_key(),
    );
    let v = cfg.verify(&t, NOW).unwrap();
    assert_eq!(v.jti.as_deref(), Some("id-1"));
    assert_eq!(v.exp, Some(NOW + 60));
    let t = token(Algorithm::RS256, None, json!({"jti": 42}), &rsa_key());
    assert_eq!(cfg.verify(&t, NOW).unwrap().jti.as_deref(), Some("42"));
    // Without the flag a missing jti is fine, and a present one is still reported.
    let cfg = one_key(jwk("rsa", json!({})));
    let t = token(Algorithm::RS256, None, default_claims(), &rsa_key());
    assert!(cfg.verify(&t, NOW).is_ok());
    let t = token(Algorithm::RS256, None, json!({"jti": "id-2"}), &rsa_key());
    assert_eq!(cfg.verify(&t, NOW).unwrap().jti.as_deref(), Some("id-2"));
}

#[test]
fn claim_forwarding() {
    let cfg = config(json!({
        "parameter": "X-Token",
        "claimParameters": [
            {"claimName": "aud", "parameterName": "X-Aud", "location": "header"},
            {"claimName": "userId", "parameterName": "userId", "location": "query"},
            {"claimName": "admin", "parameterName": "X-Admin"},
            {"claimName": "roles", "parameterName": "roles", "location": "QUERY"},
            {"claimName": "profile", "parameterName": "X-Profile", "location": "header"},
            {"claimName": "score", "parameterName": "score", "location": "query"},
            {"claimName": "missing", "parameterName": "X-Missing"},
            {"claimName": "nothing", "parameterName": "X-Nothing"},
            {"claimName": "sub"},
        ],
        "jwk": jwk("rsa", json!({})),
    }));
    let claims = json!({
        "aud": "my-audience",
        "userId": 123_456_789_012u64,
        "admin": false,
        "roles": ["a", "b"],
        "profile": {"name": "Ann", "age": 7},
        "score": -1.5,
        "nothing": null,
        "sub": "alice",
    });
    let t = token(Algorithm::RS256, None, claims, &rsa_key());
    let v = cfg.verify(&t, NOW).unwrap();
    let got = v.forwarded(&cfg);
    let s = |x: &str| x.to_string();
    assert_eq!(
        got,
        vec![
            (TokenLocation::Header, s("X-Aud"), s("my-audience")),
            (TokenLocation::Query, s("userId"), s("123456789012")),
            (TokenLocation::Header, s("X-Admin"), s("false")),
            (TokenLocation::Query, s("roles"), s(r#"["a","b"]"#)),
            (
                TokenLocation::Header,
                s("X-Profile"),
                s(r#"{"age":7,"name":"Ann"}"#)
            ),
            (TokenLocation::Query, s("score"), s("-1.5")),
            (TokenLocation::Header, s("sub"), s("alice")),
        ]
    );
    assert_eq!(v.claim_text("userId").as_deref(), Some("123456789012"));
    assert_eq!(v.claim_text("nothing"), None);
}

#[test]
fn terraform_json_document() {
    // The document the cloud accepted in the Terraform provider's acceptance test.
    let doc = r#"{   "parameter": "X-Token",   "parameterLocation": "header",   "claimParameters": [     {       "claimName": "aud",       "parameterName": "X-Aud",       "location": "header"     },     {       "claimName": "userId",       "parameterName": "userId",       "location": "query"     }   ],   "preventJtiReplay": false,   "jwk": {     "kty": "RSA",     "e": "AQAB",     "use": "sig",     "kid": "O8fpdhrViq2zaaaBEWZITz",     "alg": "RS256",     "n": "qSVxcknOm0uCq5vGsOmaorPDzHUubBmZZ4UXj-9do7w9X1uKFXAnqfto4TepSNuYU2bA_-tzSLAGBsR-BqvT6w9SjxakeiyQpVmexxnDw5WZwpWenUAcYrfSPEoNU-0hAQwFYgqZwJQMN8ptxkd0170PFauwACOx4Hfr-9FPGy8NCoIO4MfLXzJ3mJ7xqgIZp3NIOGXz-GIAbCf13ii7kSStpYqN3L_zzpvXUAos1FJ9IPXRV84tIZpFVh2lmRh0h8ImK-vI42dwlD_hOIzayL1Xno2R0T-d5AwTSdnep7g-Fwu8-sj4cCRWq3bd61Zs2QOJ8iustH0vSRMYdP5oYQ"   } }"#;
    let cfg = JwtConfig::parse(doc).unwrap();
    assert_eq!(cfg.token_location(), (TokenLocation::Header, "X-Token"));
    assert_eq!(cfg.claim_parameters.len(), 2);
    assert_eq!(cfg.claim_parameters[1].location, TokenLocation::Query);
    assert!(!cfg.prevent_jti_replay && !cfg.bypass_empty_token && !cfg.or_app_auth);
    assert_eq!(
        cfg.key_ids().collect::<Vec<_>>(),
        vec![Some("O8fpdhrViq2zaaaBEWZITz")]
    );
    // Our key is not that one.
    let t = token(
        Algorithm::RS256,
        Some("O8fpdhrViq2zaaaBEWZITz"),
        default_claims(),
        &rsa_key(),
    );
    rejected(cfg.verify(&t, NOW), "A403JT");
}

#[test]
fn yaml_document_from_the_spec() {
    let n = jwk("rsa", json!({}))["n"].as_str().unwrap().to_string();
    let doc = format!(
        r#"---
parameter: X-Token             # where the token is read (header or query name)
parameterLocation: header      # header | query
claimParameters:               # claims forwarded to the backend as parameters
  - claimName: aud
    parameterName: X-Aud
    location: header           # header | query
  - claimName: userId
    parameterName: userId
    location: query
preventJtiReplay: true         # reject a jti seen before
bypassEmptyToken: false        # no token → skip verification and forward
ignoreExpirationCheck: false   # do not check exp
orAppAuth: true
jwk:                           # a single public JWK (RFC 7517) …
  kty: RSA
  e: AQAB
  use: sig
  kid: my-key-1
  alg: RS256
  n: {n}
# jwks: [ {{…}}, {{…}} ]
"#
    );
    let cfg = JwtConfig::parse(&doc).unwrap();
    assert_eq!(cfg.token_location(), (TokenLocation::Header, "X-Token"));
    assert!(cfg.prevent_jti_replay && cfg.or_app_auth && !cfg.ignore_expiration_check);
    let claims = json!({"aud": "api", "userId": 7, "jti": "j1", "exp": NOW + 5});
    let t = token(Algorithm::RS256, Some("my-key-1"), claims, &rsa_key());
    let v = cfg.verify(&t, NOW).unwrap();
    assert_eq!(v.jti.as_deref(), Some("j1"));
    assert_eq!(
        v.forwarded(&cfg),
        vec![
            (
                TokenLocation::Header,
                "X-Aud".to_string(),
                "api".to_string()
            ),
            (TokenLocation::Query, "userId".to_string(), "7".to_string()),
        ]
    );
}

#[test]
fn yaml_jwks_list_cookie_and_defaults() {
    let ec = jwk("ec256", json!({}));
    let doc = format!(
        "parameter: session\nparameterLocation: Cookie\nbypassEmptyToken: true\njwks:\n  - kty: EC\n    crv: P-256\n    x: {}\n    y: {}\n  - '{}'\n",
        ec["x"].as_str().unwrap(),
        ec["y"].as_str().unwrap(),
        jwk("oct", json!({"kid": "h"})),
    );
    let cfg = JwtConfig::parse(&doc).unwrap();
    assert_eq!(cfg.token_location(), (TokenLocation::Cookie, "session"));
    assert!(cfg.bypass_empty_token);
    assert_eq!(cfg.key_ids().collect::<Vec<_>>(), vec![None, Some("h")]);
    let t = token(Algorithm::HS256, Some("h"), json!({}), &hs_key());
    assert!(cfg.verify(&t, NOW).is_ok());

    // Defaults: Authorization header; a JWK Set object under `jwks` combined with `jwk`.
    let cfg = config(json!({
        "jwk": jwk("rsa", json!({"kid": "r"})),
        "jwks": {"keys": [jwk("ed", json!({"kid": "d"}))]},
        "unknownKey": {"ignored": true},
    }));
    assert_eq!(
        cfg.token_location(),
        (TokenLocation::Header, "Authorization")
    );
    assert_eq!(
        cfg.key_ids().collect::<Vec<_>>(),
        vec![Some("r"), Some("d")]
    );
    let t = token(Algorithm::EdDSA, Some("d"), json!({}), &ed_key());
    assert!(cfg.verify(&format!("Bearer {t}"), NOW).is_ok());
}

#[test]
fn bad_documents_are_refused() {
    let rsa = jwk("rsa", json!({}));
    let short_n = URL_SAFE_NO_PAD.encode([0xffu8; 128]);
    let cases: Vec<(String, &str)> = vec![
        (String::new(), "empty"),
        ("---\n".into(), "mapping"),
        ("[1, 2]".into(), "mapping"),
        ("{\"jwk\": ".into(), "invalid JSON"),
        ("parameter: [unclosed".into(), "invalid YAML"),
        (json!({"parameter": "X-Token"}).to_string(), "no verification key"),
        (json!({"jwks": []}).to_string(), "no verification key"),
        (json!({"jwk": "not json"}).to_string(), "jwk: not a JSON object"),
        (json!({"jwk": 5}).to_string(), "must be an object"),
        (json!({"jwks": "x"}).to_string(), "`jwks` must be a list"),
        (json!({"jwk": {"e": "AQAB"}}).to_string(), "`kty` is required"),
        (json!({"jwk": {"kty": "XYZ"}}).to_string(), "kty `XYZ` is not supported"),
        (json!({"jwk": {"kty": "RSA", "e": "AQAB"}}).to_string(), "`n` is required"),
        (json!({"jwk": {"kty": "RSA", "e": "AQAB", "n": "@@"}}).to_string(), "not base64url"),
        (json!({"jwk": {"kty": "RSA", "e": "AQAB", "n": short_n}}).to_string(), "1024 bits"),
        (json!({"jwk": {"kty": "EC", "crv": "P-521", "x": "AA", "y": "AA"}}).to_string(), "P-521"),
        (json!({"jwk": {"kty": "EC", "crv": "P-256", "x": "AA"}}).to_string(), "`y` is required"),
        (
            json!({"jwk": {"kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode([1u8; 33]), "y": "AQ"}})
                .to_string(),
            "expected 32",
        ),
        (json!({"jwk": {"kty": "oct", "k": ""}}).to_string(), "`k` is empty"),
        (json!({"jwk": jwk("oct", json!({"alg": "RS256"}))}).to_string(), "cannot be used with a oct key"),
        (json!({"jwk": jwk("rsa", json!({"alg": "none"}))}).to_string(), "`none` is not allowed"),
        (json!({"jwk": jwk("rsa", json!({"alg": "RSA-OAEP"}))}).to_string(), "unsupported algorithm"),
        (json!({"jwk": jwk("ec256", json!({"alg": "ES384"}))}).to_string(), "cannot be used"),
        (json!({"jwk": jwk("rsa", json!({"use": "enc"}))}).to_string(), "`use` is `enc`"),
        (json!({"jwk": jwk("rsa", json!({"kid": 3}))}).to_string(), "`kid` must be a string"),
        (
            json!({"jwks": [jwk("rsa", json!({"kid": "a"})), jwk("oct", json!({"kid": "a"}))]}).to_string(),
            "two JWKs have the kid `a`",
        ),
        (json!({"parameter": "", "jwk": rsa}).to_string(), "`parameter` is empty"),
        (json!({"parameter": "X Token", "jwk": rsa}).to_string(), "not a valid header name"),
        (json!({"parameterLocation": "body", "jwk": rsa}).to_string(), "`parameterLocation` is `body`"),
        (json!({"preventJtiReplay": "yes", "jwk": rsa}).to_string(), "must be true or false"),
        (json!({"claimParameters": {"a": 1}, "jwk": rsa}).to_string(), "must be a list"),
        (json!({"claimParameters": [{"parameterName": "x"}], "jwk": rsa}).to_string(), "`claimName` is required"),
        (
            json!({"claimParameters": [{"claimName": "a", "location": "cookie"}], "jwk": rsa}).to_string(),
            "expected header or query",
        ),
        (
            json!({"claimParameters": [{"claimName": "a", "parameterName": "X:Y"}], "jwk": rsa}).to_string(),
            "not a valid header name",
        ),
    ];
    for (doc, expected) in cases {
        match JwtConfig::parse(&doc) {
            Ok(cfg) => panic!("accepted {doc:?}: {cfg:?}"),
            Err(why) => assert!(
                why.contains(expected),
                "{doc:?}: {why:?} lacks {expected:?}"
            ),
        }
    }
}

#[test]
fn debug_output_hides_secrets() {
    let cfg = one_key(jwk("oct", json!({"kid": "h"})));
    let shown = format!("{cfg:?}");
    assert!(shown.contains("\"h\""));
    assert!(!shown.contains(&URL_SAFE_NO_PAD.encode(SECRET)));
    assert!(!shown.contains("0123456789abcdef"));
}

#[test]
fn rejection_codes_and_statuses() {
    let cfg = one_key(jwk("rsa", json!({})));
    let r = cfg.verify("x", NOW).unwrap_err();
    assert!(std::ptr::eq(r.code, &codes::I400JD) || r.code == &codes::I400JD);
    assert_eq!(r.code.status, 400);
    assert_eq!(r.to_string(), "I400JD: JWT Deserialize Failed: `x`");
    let t = token(Algorithm::RS256, None, json!({"exp": 1}), &rsa_key());
    let r = cfg.verify(&t, NOW).unwrap_err();
    assert_eq!((r.code.code, r.code.status), ("A403JE", 403));
    assert_eq!(r.message, "JWT is expired at `1970-01-01T00:00:01Z`");
}
