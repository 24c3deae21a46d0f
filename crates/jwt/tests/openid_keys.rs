//! `PublicKey` (an `APPOPENID` API's `PublicKeyId`/`PublicKey`) and `JwtConfig::from_keys`:
//! JWKs and PEM public keys verify real tokens; the model's write-time check and this parser
//! agree on what is usable.
//!
//! Fixtures: the public halves of the private fixtures, `openssl pkey -pubout` (SPKI) and
//! `openssl rsa -RSAPublicKey_out` (PKCS#1).

use apigw_jwt::{JwtConfig, PublicKey, TokenLocation};
use apigw_model::openid::check_public_key;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

const NOW: u64 = 1_700_000_000;

fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    STANDARD.decode(body).expect("fixture PEM")
}

fn jwk(name: &str) -> Value {
    let all: Value = serde_json::from_str(include_str!("fixtures/public_jwks.json")).unwrap();
    all[name].clone()
}

fn token(alg: Algorithm, kid: &str, key: &EncodingKey) -> String {
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_string());
    encode(&h, &json!({"sub": "u1", "exp": NOW + 60}), key).unwrap()
}

#[test]
fn jwk_and_pem_keys_verify_tokens() {
    let rsa = EncodingKey::from_rsa_der(&pem_der(include_str!("fixtures/rsa_private.pem")));
    let ec = EncodingKey::from_ec_der(&pem_der(include_str!("fixtures/ec256_private.pem")));
    let ed = EncodingKey::from_ed_der(&pem_der(include_str!("fixtures/ed25519_private.pem")));
    let cases = [
        ("r-jwk", jwk("rsa").to_string(), Algorithm::RS256, &rsa),
        (
            "r-spki",
            include_str!("fixtures/rsa_public.pem").into(),
            Algorithm::PS384,
            &rsa,
        ),
        (
            "r-pkcs1",
            include_str!("fixtures/rsa_public_pkcs1.pem").into(),
            Algorithm::RS512,
            &rsa,
        ),
        (
            "e-spki",
            include_str!("fixtures/ec256_public.pem").into(),
            Algorithm::ES256,
            &ec,
        ),
        (
            "d-spki",
            include_str!("fixtures/ed25519_public.pem").into(),
            Algorithm::EdDSA,
            &ed,
        ),
    ];
    let keys: Vec<PublicKey> = cases
        .iter()
        .map(|(kid, text, _, _)| {
            PublicKey::parse(text, kid).unwrap_or_else(|e| panic!("{kid}: {e}"))
        })
        .collect();
    assert_eq!(keys[0].kid(), "r-jwk");
    let cfg = JwtConfig::from_keys("X-Token", TokenLocation::Header, keys);
    assert_eq!(cfg.token_location(), (TokenLocation::Header, "X-Token"));
    for (kid, _, alg, key) in &cases {
        let v = cfg
            .verify(&token(*alg, kid, key), NOW)
            .unwrap_or_else(|e| panic!("{kid}: {e}"));
        assert_eq!(v.claims["sub"], "u1");
    }
    // A key verifies only the tokens of its own kid.
    let r = cfg.verify(&token(Algorithm::RS256, "e-spki", &rsa), NOW);
    assert_eq!(r.unwrap_err().code.code, "A403JT");
    let r = cfg.verify(&token(Algorithm::RS256, "nope", &rsa), NOW);
    assert_eq!(r.unwrap_err().code.code, "A403JK");
    // The first key of a kid wins.
    let dup = JwtConfig::from_keys(
        "t",
        TokenLocation::Query,
        [
            PublicKey::parse(&jwk("rsa").to_string(), "k").unwrap(),
            PublicKey::parse(include_str!("fixtures/ec256_public.pem"), "k").unwrap(),
        ],
    );
    assert!(dup.verify(&token(Algorithm::RS256, "k", &rsa), NOW).is_ok());
}

#[test]
fn the_model_check_agrees_with_the_parser() {
    let mut samples: Vec<String> = ["rsa", "ec256", "ec384", "ed"]
        .iter()
        .map(|n| jwk(n).to_string())
        .collect();
    let with = |name: &str, extra: Value| {
        let mut k = jwk(name);
        k.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        k.to_string()
    };
    samples.extend([
        with("rsa", json!({"alg": "RS256", "use": "sig"})),
        with("rsa", json!({"alg": "ES256"})),
        with("rsa", json!({"use": "enc"})),
        with("rsa", json!({"n": "AQAB"})),
        with("rsa", json!({"e": "AQABAQAB"})),
        with("rsa", json!({"n": "!!"})),
        with("rsa", json!({"kid": "other"})),
        with("rsa", json!({"kid": "k"})),
        with("ec256", json!({"crv": "P-521"})),
        with("ec256", json!({"x": "AQAB"})),
        with("ec256", json!({"y": STANDARD.encode([1u8; 40])})),
        with("ed", json!({"crv": "X25519"})),
        json!({"kty": "oct", "k": "c2VjcmV0"}).to_string(),
        json!({"kty": "XYZ"}).to_string(),
        json!({"n": "AQAB"}).to_string(),
        "[]".into(),
        "not json".into(),
        include_str!("fixtures/rsa_public.pem").into(),
        include_str!("fixtures/rsa_public_pkcs1.pem").into(),
        include_str!("fixtures/ec256_public.pem").into(),
        include_str!("fixtures/ed25519_public.pem").into(),
        include_str!("fixtures/rsa_private.pem").into(),
        "-----BEGIN PUBLIC KEY-----\nMAA=\n-----END PUBLIC KEY-----".into(),
    ]);
    for s in &samples {
        let model = check_public_key(s, "k");
        let parser = PublicKey::parse(s, "k");
        assert_eq!(
            model.is_ok(),
            parser.is_ok(),
            "{s}: model {model:?}, parser {:?}",
            parser.err()
        );
    }
}
