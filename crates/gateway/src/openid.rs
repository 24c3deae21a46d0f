//! `APPOPENID` APIs without a `jwtAuth` plugin: CloudAPI's OpenID Connect, compiled from each
//! API's `OpenIdConnectConfig` (management-api.md §4.11) and the keys of its group.
//!
//! - An `IDTOKEN` API issues id tokens (its backend signs them); it declares the public key
//!   (`PublicKeyId` = the `kid`, `PublicKey` = a JWK or a PEM public key). The gateway only
//!   authenticates the caller as an app, like any `APPOPENID` API.
//! - A `BUSINESS` API additionally demands an id token in the request parameter
//!   `IdTokenParamName`: the header of that name, else the query parameter of that name (a
//!   leading `Bearer ` is stripped). It is verified with the keys of the **IDTOKEN APIs of the
//!   same group deployed in the same stage** ([`OpenIdKeys`]), plus a key the BUSINESS API
//!   declares itself, which wins over a group key with the same `kid`. The token's `kid`
//!   selects the key (`A403JK` when none has it; a token without `kid` is tried with every
//!   key); then signature and `alg` (`A403JT`), `exp` (`A403JE`) and `nbf` (`A403JT`) as for
//!   jwtAuth, through `apigw-jwt`. No claim is forwarded.
//!
//! Fail closed: a BUSINESS API whose group has no usable key answers `A403JK`; a stored
//! configuration that cannot be read (refused at write time since it is checked by
//! `validate_api`) answers `X500AM`.

use crate::handler::Reject;
use ahash::AHashMap;
use apigw_jwt::{JwtConfig, PublicKey, TokenLocation, Verified};
use apigw_model::codes;
use apigw_model::openid::{OpenIdApiType, OpenIdConnectConfig};
use apigw_model::{AuthType, Deployment, Stage};
use http::request::Parts;
use std::sync::Arc;

/// One declared key: (ApiId, PublicKeyId, PublicKey as written).
type Source = (String, String, String);

/// The public keys declared by the IDTOKEN APIs of one group deployed in one stage.
#[derive(Debug, Default)]
pub struct OpenIdKeys {
    /// What the set is built from: (ApiId, PublicKeyId, PublicKey), by ApiId. Two sets are the
    /// same when these are.
    sources: Vec<Source>,
    /// The usable keys, in `sources` order (the first of a `kid` wins).
    keys: Vec<PublicKey>,
    /// Keys that cannot be used, for the snapshot's warnings.
    pub warnings: Vec<String>,
}

impl PartialEq for OpenIdKeys {
    fn eq(&self, other: &Self) -> bool {
        self.sources == other.sources
    }
}

/// Group id and stage → the keys of that group's IDTOKEN APIs deployed there.
pub type KeyMap = AHashMap<(Box<str>, Stage), Arc<OpenIdKeys>>;

impl OpenIdKeys {
    /// Collects the keys of every IDTOKEN API deployed, per group and stage; a set equal to
    /// one of `previous` is that one (so unchanged groups keep their compiled APIs).
    pub fn collect<'a>(
        deployments: impl IntoIterator<Item = &'a Arc<Deployment>>,
        previous: &KeyMap,
    ) -> KeyMap {
        let mut sources: AHashMap<(Box<str>, Stage), Vec<Source>> = AHashMap::new();
        for dep in deployments {
            let def = &dep.definition;
            if def.auth_type != AuthType::AppOpenId {
                continue;
            }
            let Ok(Some(cfg)) = def.open_id_connect_config() else {
                continue;
            };
            if let (OpenIdApiType::IdToken, Some(kid), Some(key)) =
                (cfg.api_type, cfg.public_key_id, cfg.public_key)
            {
                sources
                    .entry((dep.group_id.as_str().into(), dep.stage_name))
                    .or_default()
                    .push((def.api_id.clone(), kid, key));
            }
        }
        sources
            .into_iter()
            .map(|(at, mut list)| {
                list.sort();
                let set = match previous.get(&at) {
                    Some(old) if old.sources == list => old.clone(),
                    _ => Arc::new(OpenIdKeys::build(list, &at)),
                };
                (at, set)
            })
            .collect()
    }

    fn build(sources: Vec<Source>, at: &(Box<str>, Stage)) -> OpenIdKeys {
        let mut keys = Vec::new();
        let mut warnings = Vec::new();
        for (api_id, kid, text) in &sources {
            match PublicKey::parse(text, kid) {
                Ok(_) if keys.iter().any(|o: &PublicKey| o.kid() == kid) => {
                    warnings.push(format!(
                        "API {api_id} in {}: PublicKeyId `{kid}` is declared by another IDTOKEN API of group {}; the one with the smallest ApiId is used",
                        at.1, at.0
                    ));
                }
                Ok(k) => keys.push(k),
                Err(e) => warnings.push(format!(
                    "API {api_id} in {}: PublicKey `{kid}` not usable ({e}); tokens with this kid are refused (A403JK)",
                    at.1
                )),
            }
        }
        OpenIdKeys {
            sources,
            keys,
            warnings,
        }
    }

    /// The group keys an API is compiled with: `Some` only for an `APPOPENID` BUSINESS API
    /// (the others do not depend on them, so a key change does not recompile them).
    pub fn for_api(map: &KeyMap, dep: &Deployment) -> Option<Arc<OpenIdKeys>> {
        let def = &dep.definition;
        if def.auth_type != AuthType::AppOpenId {
            return None;
        }
        match def.open_id_connect_config() {
            Ok(Some(c)) if c.api_type == OpenIdApiType::Business => Some(
                map.get(&(dep.group_id.as_str().into(), dep.stage_name))
                    .cloned()
                    .unwrap_or_default(),
            ),
            _ => None,
        }
    }
}

/// An `APPOPENID` API's compiled OpenID Connect check.
#[derive(Debug)]
pub enum OpenIdPolicy {
    /// `IDTOKEN`: nothing beyond APP authentication.
    Issuer,
    /// `BUSINESS`: the token parameter's name and the keys.
    Business {
        param: Box<str>,
        verifier: JwtConfig,
    },
    /// The stored configuration cannot be read: `X500AM`.
    Broken(Box<str>),
}

impl OpenIdPolicy {
    /// The policy of an `APPOPENID` deployment (`None` for other auth types).
    pub fn compile(dep: &Deployment, group_keys: Option<&OpenIdKeys>) -> Option<OpenIdPolicy> {
        let def = &dep.definition;
        if def.auth_type != AuthType::AppOpenId {
            return None;
        }
        Some(match def.open_id_connect_config() {
            Err(e) => OpenIdPolicy::Broken(e.message.into()),
            Ok(None) => OpenIdPolicy::Broken("no OpenIdConnectConfig".into()),
            Ok(Some(cfg)) => Self::of(&cfg, group_keys),
        })
    }

    fn of(cfg: &OpenIdConnectConfig, group_keys: Option<&OpenIdKeys>) -> OpenIdPolicy {
        if cfg.api_type == OpenIdApiType::IdToken {
            return OpenIdPolicy::Issuer;
        }
        let Some(param) = &cfg.id_token_param_name else {
            return OpenIdPolicy::Broken("BUSINESS API without IdTokenParamName".into());
        };
        // The API's own key first: it wins over a group key with the same kid.
        let own = match (&cfg.public_key_id, &cfg.public_key) {
            (Some(kid), Some(text)) => PublicKey::parse(text, kid).ok(),
            _ => None,
        };
        let group = group_keys.into_iter().flat_map(|g| g.keys.iter().cloned());
        OpenIdPolicy::Business {
            param: param.as_str().into(),
            verifier: JwtConfig::from_keys(
                param,
                TokenLocation::Header,
                own.into_iter().chain(group),
            ),
        }
    }

    /// Checks a request (after APP authentication): `Ok(None)` for an IDTOKEN API, the
    /// verified token for a BUSINESS API.
    pub fn verify(&self, parts: &Parts, now_ms: i64) -> Result<Option<Verified>, Reject> {
        let (param, verifier) = match self {
            OpenIdPolicy::Issuer => return Ok(None),
            OpenIdPolicy::Broken(why) => {
                tracing::debug!("APPOPENID API with an unusable OpenIdConnectConfig: {why}");
                return Err(Reject::new(&codes::X500AM, &[]));
            }
            OpenIdPolicy::Business { param, verifier } => (param, verifier),
        };
        let token = parts
            .headers
            .get(&**param)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .or_else(|| {
                form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
                    .find(|(k, _)| k == &**param)
                    .map(|(_, v)| v.into_owned())
            })
            .filter(|t| !apigw_jwt::strip_bearer(t).is_empty())
            .ok_or_else(|| Reject::new(&codes::I400JR, &[]))?;
        let now_s = (now_ms / 1000).max(0) as u64;
        match verifier.verify(&token, now_s) {
            Ok(v) => Ok(Some(v)),
            // No key at all and a token without kid: nothing to match it with.
            Err(r) if r.code.code == codes::A403JT.code && verifier.key_ids().next().is_none() => {
                Err(Reject::new(&codes::A403JK, &["(no kid)"]))
            }
            Err(r) => Err(Reject::with_message(r.code, r.message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::STANDARD;
    use base64::Engine;
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    use serde_json::{json, Value};

    const FIXTURES: &str = "../jwt/tests/fixtures";
    const NOW_MS: i64 = 1_700_000_000_000;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(format!("{}/{FIXTURES}/{name}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
    }

    fn rsa_jwk() -> String {
        let all: Value = serde_json::from_str(&fixture("public_jwks.json")).unwrap();
        all["rsa"].to_string()
    }

    fn der(pem: &str) -> Vec<u8> {
        let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        STANDARD.decode(body).unwrap()
    }

    fn token(kid: &str, exp: i64) -> String {
        let key = EncodingKey::from_rsa_der(&der(&fixture("rsa_private.pem")));
        let mut h = Header::new(Algorithm::RS256);
        h.kid = Some(kid.into());
        encode(&h, &json!({"sub": "user-1", "exp": exp}), &key).unwrap()
    }

    fn ec_token(kid: &str) -> String {
        let key = EncodingKey::from_ec_der(&der(&fixture("ec256_private.pem")));
        let mut h = Header::new(Algorithm::ES256);
        h.kid = Some(kid.into());
        encode(&h, &json!({"sub": "user-2"}), &key).unwrap()
    }

    fn dep(id: &str, group: &str, stage: &str, cfg: Value) -> Arc<Deployment> {
        Arc::new(
            serde_json::from_value(json!({
                "ApiId": id, "GroupId": group, "StageName": stage, "HistoryVersion": "1",
                "DeployedTime": "", "Online": true,
                "Definition": {
                    "ApiId": id, "GroupId": group, "ApiName": format!("api_{id}"),
                    "AuthType": "APPOPENID", "OpenIdConnectConfig": cfg,
                    "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": format!("/{id}")},
                    "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:1", "ServiceTimeout": 1000}
                }
            }))
            .unwrap(),
        )
    }

    fn issuer(id: &str, group: &str, stage: &str, kid: &str, key: &str) -> Arc<Deployment> {
        dep(
            id,
            group,
            stage,
            json!({"OpenIdApiType": "IDTOKEN", "PublicKeyId": kid, "PublicKey": key}),
        )
    }

    fn business(id: &str, group: &str, stage: &str) -> Arc<Deployment> {
        dep(
            id,
            group,
            stage,
            json!({"OpenIdApiType": "BUSINESS", "IdTokenParamName": "X-Id-Token"}),
        )
    }

    fn parts(uri: &str, headers: &[(&str, &str)]) -> Parts {
        let mut b = http::Request::builder().uri(uri);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        b.body(()).unwrap().into_parts().0
    }

    fn policy(keys: &KeyMap, d: &Deployment) -> OpenIdPolicy {
        OpenIdPolicy::compile(d, OpenIdKeys::for_api(keys, d).as_deref()).unwrap()
    }

    fn code(r: Result<Option<Verified>, Reject>) -> &'static str {
        r.err().map_or("OK", |e| e.code.code)
    }

    #[test]
    fn business_apis_verify_with_the_keys_of_their_group_and_stage() {
        let deps = vec![
            issuer("i1", "g1", "RELEASE", "rsa1", &rsa_jwk()),
            issuer("i2", "g1", "TEST", "ec1", &fixture("ec256_public.pem")),
            issuer("i3", "g2", "RELEASE", "ec1", &fixture("ec256_public.pem")),
            business("b1", "g1", "RELEASE"),
        ];
        let keys = OpenIdKeys::collect(&deps, &KeyMap::new());
        assert_eq!(keys.len(), 3);
        let p = policy(&keys, &deps[3]);
        let exp = NOW_MS / 1000 + 60;
        let ok = parts("/b1", &[("x-id-token", &token("rsa1", exp))]);
        assert_eq!(code(p.verify(&ok, NOW_MS)), "OK");
        let v = p.verify(&ok, NOW_MS).unwrap().unwrap();
        assert_eq!(v.claims["sub"], "user-1");
        // The query parameter when the header is absent; `Bearer ` is stripped.
        let q = parts(&format!("/b1?X-Id-Token={}", token("rsa1", exp)), &[]);
        assert_eq!(code(p.verify(&q, NOW_MS)), "OK");
        let bearer = format!("Bearer {}", token("rsa1", exp));
        let h = parts("/b1", &[("X-Id-Token", &bearer)]);
        assert_eq!(code(p.verify(&h, NOW_MS)), "OK");
        // The header wins over the query.
        let both = parts(
            &format!("/b1?X-Id-Token={}", token("rsa1", exp)),
            &[("X-Id-Token", "garbage")],
        );
        assert_eq!(code(p.verify(&both, NOW_MS)), "I400JD");
        assert_eq!(code(p.verify(&parts("/b1", &[]), NOW_MS)), "I400JR");
        assert_eq!(
            code(p.verify(&parts("/b1", &[("X-Id-Token", "Bearer ")]), NOW_MS)),
            "I400JR"
        );
        // Keys of another stage or group do not count.
        let other = parts("/b1", &[("X-Id-Token", &ec_token("ec1"))]);
        assert_eq!(code(p.verify(&other, NOW_MS)), "A403JK");
        let expired = parts("/b1", &[("X-Id-Token", &token("rsa1", exp - 120))]);
        assert_eq!(code(p.verify(&expired, NOW_MS)), "A403JE");
        let mut forged = token("rsa1", exp);
        forged.push('A');
        let forged = parts("/b1", &[("X-Id-Token", &forged)]);
        assert_eq!(code(p.verify(&forged, NOW_MS)), "A403JT");

        // IDTOKEN APIs need nothing beyond APP authentication.
        let i = policy(&keys, &deps[0]);
        assert!(matches!(i, OpenIdPolicy::Issuer));
        assert_eq!(code(i.verify(&parts("/i1", &[]), NOW_MS)), "OK");
        assert!(OpenIdKeys::for_api(&keys, &deps[0]).is_none());
    }

    #[test]
    fn no_key_fails_closed_and_an_own_key_wins() {
        let b = business("b1", "g1", "RELEASE");
        let p = policy(&KeyMap::new(), &b);
        let req = parts("/b1", &[("X-Id-Token", &token("rsa1", i64::MAX / 2000))]);
        assert_eq!(code(p.verify(&req, NOW_MS)), "A403JK");
        // A token without kid and no key at all.
        let key = EncodingKey::from_rsa_der(&der(&fixture("rsa_private.pem")));
        let t = encode(&Header::new(Algorithm::RS256), &json!({}), &key).unwrap();
        let req = parts("/b1", &[("X-Id-Token", &t)]);
        assert_eq!(code(p.verify(&req, NOW_MS)), "A403JK");

        // The group declares `k` as the EC key; the API's own `k` (RSA) wins.
        let deps = vec![
            issuer("i1", "g1", "RELEASE", "k", &fixture("ec256_public.pem")),
            dep(
                "b2",
                "g1",
                "RELEASE",
                json!({"OpenIdApiType": "BUSINESS", "IdTokenParamName": "t",
                       "PublicKeyId": "k", "PublicKey": rsa_jwk()}),
            ),
        ];
        let keys = OpenIdKeys::collect(&deps, &KeyMap::new());
        let p = policy(&keys, &deps[1]);
        let exp = NOW_MS / 1000 + 60;
        assert_eq!(
            code(p.verify(&parts(&format!("/b2?t={}", token("k", exp)), &[]), NOW_MS)),
            "OK"
        );
        assert_eq!(
            code(p.verify(&parts(&format!("/b2?t={}", ec_token("k")), &[]), NOW_MS)),
            "A403JT"
        );

        // A stored configuration that cannot be read fails closed.
        let broken = dep("b3", "g1", "RELEASE", json!({"OpenIdApiType": "NOPE"}));
        let p = policy(&keys, &broken);
        assert_eq!(code(p.verify(&parts("/b3", &[]), NOW_MS)), "X500AM");
    }

    #[test]
    fn key_sets_are_shared_while_unchanged_and_bad_keys_warn() {
        let mut deps = vec![
            issuer("i1", "g1", "RELEASE", "k1", &rsa_jwk()),
            issuer("i2", "g1", "RELEASE", "k1", &fixture("ec256_public.pem")),
            issuer(
                "i3",
                "g1",
                "RELEASE",
                "k3",
                r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#,
            ),
        ];
        let first = OpenIdKeys::collect(&deps, &KeyMap::new());
        let set = &first[&("g1".into(), Stage::Release)];
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.warnings.len(), 2, "{:?}", set.warnings);
        let again = OpenIdKeys::collect(&deps, &first);
        let key: (Box<str>, Stage) = ("g1".into(), Stage::Release);
        assert!(Arc::ptr_eq(&first[&key], &again[&key]));
        deps.pop();
        let changed = OpenIdKeys::collect(&deps, &again);
        assert!(!Arc::ptr_eq(&changed[&key], &again[&key]));
        assert!(*changed[&key] != *again[&key]);
    }
}
