//! The check every domain certificate passes before it is stored (SetDomainCertificate,
//! SetDomain, `apigw apply`): a PEM chain and an unencrypted PEM private key that the data
//! plane can load (the same rustls/ring calls its snapshot makes) and that belong together.
//!
//! Codes (the `Certificate*` family of CloudAPI's table; the exact names are ours):
//! `CertificateInvalid` (the body is not a PEM certificate chain), `CertificatePrivateKeyInvalid`
//! (the key is not a PEM private key of a supported type), `CertificatePrivateKeyEncrypted`,
//! `CertificateKeyMismatch`, `CertificateExpired`; `MissingCertificateBody` /
//! `MissingCertificatePrivateKey` when one is blank.

use apigw_model::ModelError;
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

/// What a checked certificate reports (DescribeDomain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// 32 lower-case hex characters: the start of the SHA-256 of the leaf certificate (DER),
    /// so the same certificate always has the same id.
    pub certificate_id: String,
    /// `notBefore` / `notAfter` of the leaf certificate, milliseconds since the epoch.
    pub valid_start_ms: i64,
    pub valid_end_ms: i64,
}

fn refuse(code: &str, message: impl Into<String>) -> ModelError {
    ModelError::new(code, message)
}

/// The leaf certificate of a PEM chain: its id and validity. Refused with `CertificateInvalid`.
pub fn certificate_info(body: &str) -> Result<CertificateInfo, ModelError> {
    let chain = chain(body)?;
    info(&chain[0])
}

/// Checks a certificate chain and its private key as the data plane will load them, and that
/// the leaf certificate is valid now (see the module documentation for the codes).
pub fn check_certificate(body: &str, private_key: &str) -> Result<CertificateInfo, ModelError> {
    check_certificate_at(body, private_key, now_ms())
}

/// [`check_certificate`] at a chosen time (milliseconds since the epoch).
pub fn check_certificate_at(
    body: &str,
    private_key: &str,
    now_ms: i64,
) -> Result<CertificateInfo, ModelError> {
    if body.trim().is_empty() {
        return Err(refuse(
            "MissingCertificateBody",
            "`CertificateBody` must be provided",
        ));
    }
    if private_key.trim().is_empty() {
        return Err(refuse(
            "MissingCertificatePrivateKey",
            "`CertificatePrivateKey` must be provided",
        ));
    }
    let chain = chain(body)?;
    let info = info(&chain[0])?;
    if is_encrypted(private_key) {
        return Err(refuse(
            "CertificatePrivateKeyEncrypted",
            "the private key is encrypted; give it unencrypted (e.g. `openssl pkey -in key.pem`)",
        ));
    }
    let key = PrivateKeyDer::from_pem_slice(private_key.as_bytes()).map_err(|e| {
        refuse(
            "CertificatePrivateKeyInvalid",
            format!("`CertificatePrivateKey` is not a PEM private key (PKCS#8, RSA or EC): {e}"),
        )
    })?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| {
        refuse(
            "CertificatePrivateKeyInvalid",
            format!("the private key cannot be used (RSA, ECDSA P-256/P-384 or Ed25519): {e}"),
        )
    })?;
    CertifiedKey::new(chain, signer)
        .keys_match()
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => refuse(
                "CertificateKeyMismatch",
                "the private key does not belong to the certificate (the first one of `CertificateBody`)",
            ),
            other => refuse(
                "CertificateInvalid",
                format!("the certificate cannot be read: {other}"),
            ),
        })?;
    if info.valid_end_ms < now_ms {
        return Err(refuse(
            "CertificateExpired",
            format!(
                "the certificate expired at {} (epoch ms)",
                info.valid_end_ms
            ),
        ));
    }
    Ok(info)
}

/// The certificates of a PEM text, leaf first; at least one.
fn chain(body: &str) -> Result<Vec<CertificateDer<'static>>, ModelError> {
    let certs = CertificateDer::pem_slice_iter(body.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            refuse(
                "CertificateInvalid",
                format!("`CertificateBody` is not valid PEM: {e}"),
            )
        })?;
    if certs.is_empty() {
        return Err(refuse(
            "CertificateInvalid",
            "`CertificateBody` holds no `-----BEGIN CERTIFICATE-----` section",
        ));
    }
    Ok(certs)
}

/// PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's traditional `Proc-Type: 4,ENCRYPTED` header.
fn is_encrypted(pem: &str) -> bool {
    pem.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----")
        || pem
            .lines()
            .any(|l| l.trim_start().starts_with("Proc-Type:") && l.contains("ENCRYPTED"))
}

fn info(leaf: &CertificateDer<'_>) -> Result<CertificateInfo, ModelError> {
    let (start, end) = validity(leaf.as_ref()).ok_or_else(|| {
        refuse(
            "CertificateInvalid",
            "the first certificate of `CertificateBody` is not a DER X.509 certificate",
        )
    })?;
    let digest = Sha256::digest(leaf.as_ref());
    let certificate_id = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    Ok(CertificateInfo {
        certificate_id,
        valid_start_ms: start,
        valid_end_ms: end,
    })
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// One DER element: (tag, contents, rest).
fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | *b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// `notBefore` and `notAfter` of an X.509 certificate, in epoch milliseconds.
fn validity(der: &[u8]) -> Option<(i64, i64)> {
    const SEQUENCE: u8 = 0x30;
    let (tag, cert, _) = element(der)?;
    if tag != SEQUENCE {
        return None;
    }
    let (tag, tbs, _) = element(cert)?;
    if tag != SEQUENCE {
        return None;
    }
    let mut rest = tbs;
    // [0] version (optional), serialNumber, signature, issuer, validity.
    let (tag, _, after) = element(rest)?;
    if tag == 0xa0 {
        rest = after;
    }
    for expected in [0x02, SEQUENCE, SEQUENCE] {
        let (tag, _, after) = element(rest)?;
        if tag != expected {
            return None;
        }
        rest = after;
    }
    let (tag, validity, _) = element(rest)?;
    if tag != SEQUENCE {
        return None;
    }
    let (t1, not_before, rest) = element(validity)?;
    let (t2, not_after, _) = element(rest)?;
    Some((time_ms(t1, not_before)?, time_ms(t2, not_after)?))
}

/// UTCTime (`YYMMDDHHMMSSZ`, 0x17) or GeneralizedTime (`YYYYMMDDHHMMSSZ`, 0x18).
fn time_ms(tag: u8, text: &[u8]) -> Option<i64> {
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    let digits = |s: &str| -> Option<u32> {
        s.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    let (year, rest) = match tag {
        0x17 if text.len() == 12 => {
            let yy = digits(&text[..2])? as i32;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &text[2..])
        }
        0x18 if text.len() == 14 => (digits(&text[..4])? as i32, &text[4..]),
        _ => return None,
    };
    let month = time::Month::try_from(digits(&rest[..2])? as u8).ok()?;
    let date = time::Date::from_calendar_date(year, month, digits(&rest[2..4])? as u8).ok()?;
    let t = time::Time::from_hms(
        digits(&rest[4..6])? as u8,
        digits(&rest[6..8])? as u8,
        digits(&rest[8..10])? as u8,
    )
    .ok()?;
    Some(date.with_time(t).assume_utc().unix_timestamp() * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_time_forms_read() {
        assert_eq!(time_ms(0x17, b"700101000000Z"), Some(0));
        assert_eq!(time_ms(0x17, b"491231235959Z"), Some(2_524_607_999_000));
        assert_eq!(time_ms(0x18, b"20000229120000Z"), Some(951_825_600_000));
        assert_eq!(time_ms(0x18, b"20000230120000Z"), None);
        assert_eq!(time_ms(0x17, b"7001010000Z"), None);
        assert_eq!(time_ms(0x17, b"70010100000aZ"), None);
    }

    #[test]
    fn truncated_der_is_refused_not_a_panic() {
        assert_eq!(validity(&[]), None);
        assert_eq!(validity(&[0x30, 0x82, 0xff]), None);
        assert_eq!(validity(&[0x30, 0x03, 0x30, 0x01]), None);
    }
}
