//! The **jwtAuth** plugin (spec `plugins.md` §3): its configuration document and the
//! verification of a JSON Web Token against the configured JWKs. Pure code: no I/O, no clock
//! (the caller passes `now`), no `jti` memory (the caller keeps it).
//!
//! # The document
//!
//! JSON or YAML (a YAML document may start with `---`), parsed by [`JwtConfig::parse`]:
//!
//! | Key | Default | Meaning |
//! |---|---|---|
//! | `parameter` | `Authorization` | header / query parameter / cookie name carrying the token |
//! | `parameterLocation` | `header` | `header`, `query` or `cookie` (case-insensitive) |
//! | `claimParameters` | none | list of `{claimName, parameterName, location}`; `parameterName` defaults to `claimName`, `location` (`header`/`query`) to `header` |
//! | `preventJtiReplay` | false | a token must carry a `jti` (`S403JI`); the caller rejects seen ones (`A403SV`) |
//! | `bypassEmptyToken` | false | no token → skip verification (decided by the caller) |
//! | `ignoreExpirationCheck` | false | do not check `exp` |
//! | `orAppAuth` | false | JWT *or* APP authentication (decided by the caller) |
//! | `blacklist` | none | dataset reference, kept verbatim, not enforced here |
//! | `jwk` | | one JWK (or a list) |
//! | `jwks` | | a list of JWKs, or a JWK Set `{keys: [...]}`; combined with `jwk` |
//!
//! Flags accept booleans or the strings `true`/`false`. Unknown keys are ignored. A JWK may also
//! be given as a string holding its JSON. The document is refused (`Err`, the text for
//! `I400JP`) when it is not a mapping, has no key at all, two keys share a `kid`, a header name
//! is not a valid field name, or any JWK is unusable:
//!
//! | `kty` | Required | Algorithms |
//! |---|---|---|
//! | `RSA` | `n`, `e` (modulus 2048–8192 bits) | RS256/384/512, PS256/384/512 |
//! | `EC` | `crv` `P-256` or `P-384`, `x`, `y` | ES256 (P-256), ES384 (P-384) |
//! | `oct` | `k` (the shared secret, base64url) | HS256/384/512 |
//! | `OKP` | `crv` `Ed25519`, `x` | EdDSA |
//!
//! A JWK's optional `alg` must fit its `kty` and then pins the algorithm; `use`, when present,
//! must be `sig`. ES512 (P-521) is not supported by the crypto backend and is refused.
//!
//! # Verification ([`JwtConfig::verify`])
//!
//! 1. A leading `Bearer ` is stripped (case-insensitive); the caller handles an absent token.
//! 2. Three dot-separated parts, base64url JSON objects for header (with a string `alg`, an
//!    optional string `kid`) and claims; else `I400JD` "JWT Deserialize Failed: \`token\`".
//! 3. Header `kid` → the JWK with that `kid`, else `A403JK`. No `kid` → the JWKs without a
//!    `kid`, then all others.
//! 4. `alg` must be supported (never `none`) and accepted by the key (kind and pinned `alg`);
//!    a `crit` header is refused; the signature must verify with one of the candidates; else
//!    `A403JT` "Invalid JWT: reason".
//! 5. `exp` (unless `ignoreExpirationCheck`): the token is expired once `now >= exp`, no leeway,
//!    → `A403JE` "JWT is expired at \`2024-05-01T12:00:00Z\`" (RFC 3339 UTC, whole seconds).
//!    `nbf` may be up to [`NBF_LEEWAY_SECS`] in the future; later → `A403JT`. A non-numeric
//!    `exp`/`nbf` → `A403JT`.
//! 6. `preventJtiReplay` and no `jti` (a non-empty string or a number) → `S403JI`.
//!
//! [`Verified::forwarded`] lists the `claimParameters` to send to the backend.
//!
//! Values echoed in messages (a malformed token, an unknown `kid`) are limited to printable
//! ASCII (others become `?`) and 1024 characters (then `...`), so they always fit in a header.
#![forbid(unsafe_code)]

mod config;
mod key;
mod verify;

pub use config::{ClaimParameter, JwtConfig, PublicKey, TokenLocation};
pub use verify::{strip_bearer, Rejection, Verified, NBF_LEEWAY_SECS};

/// `s` with characters outside printable ASCII replaced by `?`, cut to `max` characters
/// (`...` marks a cut).
pub(crate) fn printable(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    if s.chars().nth(max).is_some() {
        out.push_str("...");
    }
    out
}
