//! Secrets at rest: the secret fields of stored documents are encrypted one by one with a
//! master key (XChaCha20-Poly1305), so a copy of the database file alone reveals none of them.
//!
//! A sealed value is text: `enc:v1:<key id>:<base64 of nonce (24 bytes) ‖ ciphertext ‖ tag>`,
//! with a random nonce per value and the header `enc:v1:<key id>:` as associated data (a value
//! whose header was changed does not open). The key id is the first 8 hex digits of the key's
//! SHA-256, so a reader knows which key sealed a value without trying keys.
//!
//! Without a master key values are stored as they are (as before this existed); a plain value
//! that itself starts with `enc:` is written `enc:plain:<value>` so it cannot be mistaken for a
//! sealed one. Plain values from before stay readable; opening a store
//! ([`crate::SqliteStore::open_with`], [`crate::PostgresStore::connect_with`]) rewrites every
//! value not sealed with the current key (plain ones, those under the previous key).
//!
//! Which fields are secret is said once per document type ([`SecretFields`]), for every store;
//! the document layer both stores share (`sql.rs`) seals them when it writes a document and
//! opens them when it reads one.

use crate::{Result, StoreError};
use apigw_model::{AccessKey, App, Domain, Plugin};
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;

/// Start of every value this module wrote in a special form.
const MARK: &str = "enc:";
/// A sealed value: `enc:v1:<key id>:<base64>`.
const V1: &str = "enc:v1:";
/// A plain value that starts with `enc:` (written so only without a master key).
const PLAIN: &str = "enc:plain:";
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;
/// Hex digits of a key id.
pub const KEY_ID_LEN: usize = 8;

/// A 256-bit master key and its id.
#[derive(Clone)]
pub struct MasterKey {
    cipher: XChaCha20Poly1305,
    id: String,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        f.debug_struct("MasterKey").field("id", &self.id).finish()
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        let digest = Sha256::digest(bytes);
        let id = digest[..KEY_ID_LEN / 2]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        MasterKey {
            cipher: XChaCha20Poly1305::new(&bytes.into()),
            id,
        }
    }

    /// A key written as 64 hex digits or as base64 (standard or URL-safe alphabet, padded or
    /// not) of exactly 32 bytes; surrounding white space is ignored. The error never repeats
    /// the text.
    pub fn parse(text: &str) -> std::result::Result<MasterKey, String> {
        let t = text.trim();
        if t.is_empty() {
            return Err("is empty".into());
        }
        let bytes = if t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            Some(
                t.as_bytes()
                    .chunks(2)
                    .map(|p| (hex_digit(p[0]) << 4) | hex_digit(p[1]))
                    .collect::<Vec<u8>>(),
            )
        } else {
            let config = GeneralPurposeConfig::new()
                .with_decode_padding_mode(DecodePaddingMode::Indifferent);
            [
                GeneralPurpose::new(&base64::alphabet::STANDARD, config),
                GeneralPurpose::new(&base64::alphabet::URL_SAFE, config),
            ]
            .iter()
            .find_map(|engine| engine.decode(t).ok())
        };
        let bytes: [u8; 32] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| {
                format!(
                    "must be 32 bytes written as 64 hex digits or in base64 (`openssl rand -base64 32`); \
                     the value given ({} characters) is neither",
                    t.len()
                )
            })?;
        if bytes.iter().all(|b| *b == bytes[0]) {
            return Err("is 32 equal bytes, not a random key (`openssl rand -base64 32`)".into());
        }
        Ok(MasterKey::from_bytes(bytes))
    }

    /// The first 8 hex digits of the key's SHA-256.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn seal(&self, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        // The operating system's generator; a machine without one cannot run a gateway.
        getrandom::fill(&mut nonce).expect("the operating system's random number generator");
        let header = format!("{V1}{}:", self.id);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plain.as_bytes(),
                    aad: header.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any value this small");
        let mut raw = Vec::with_capacity(NONCE_LEN + sealed.len());
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&sealed);
        header + &STANDARD.encode(raw)
    }

    /// `header` is `enc:v1:<id>:`, `body` what follows it.
    fn open(&self, header: &str, body: &str) -> Result<String> {
        let altered = || {
            StoreError::Corrupt(format!(
                "a secret sealed with master key id {} does not open: the stored value was altered",
                self.id
            ))
        };
        let raw = STANDARD.decode(body).map_err(|_| altered())?;
        if raw.len() < NONCE_LEN + TAG_LEN {
            return Err(altered());
        }
        let (nonce, sealed) = raw.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| altered())?;
        let plain = self
            .cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: header.as_bytes(),
                },
            )
            .map_err(|_| altered())?;
        String::from_utf8(plain).map_err(|_| altered())
    }
}

fn hex_digit(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// How a stored value is written.
enum Form<'a> {
    Plain(&'a str),
    Sealed {
        key_id: &'a str,
        header: &'a str,
        body: &'a str,
    },
}

fn form(stored: &str) -> Result<Form<'_>> {
    if let Some(rest) = stored.strip_prefix(PLAIN) {
        return Ok(Form::Plain(rest));
    }
    if let Some(rest) = stored.strip_prefix(V1) {
        let key_id = rest.get(..KEY_ID_LEN).unwrap_or_default();
        let ok = key_id.len() == KEY_ID_LEN
            && key_id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
            && rest.as_bytes().get(KEY_ID_LEN) == Some(&b':');
        if !ok {
            return Err(StoreError::Corrupt(
                "a stored secret starts with `enc:v1:` but has no key id".into(),
            ));
        }
        let header_len = V1.len() + KEY_ID_LEN + 1;
        return Ok(Form::Sealed {
            key_id,
            header: &stored[..header_len],
            body: &stored[header_len..],
        });
    }
    // `enc:v2:` and later: written by a newer version, never read as a plain value. Any other
    // value, `enc:` or not, is plain (a secret stored before sealing existed may start so).
    if let Some(rest) = stored.strip_prefix(MARK).and_then(|r| r.strip_prefix('v')) {
        if rest
            .split(':')
            .next()
            .is_some_and(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(StoreError::Corrupt(
                "a stored secret is sealed in a form this version does not read (written by a newer apigw?)"
                    .into(),
            ));
        }
    }
    Ok(Form::Plain(stored))
}

/// What opening the store must do to one stored value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reseal {
    /// Already in the form the current configuration writes.
    Keep,
    /// Plain, and a master key is set: to be sealed.
    Seal,
    /// Sealed with the previous key: to be sealed with the current one (or stored plain when
    /// only a previous key is set).
    Rekey,
}

/// Seals and opens secret values with the current master key, and opens those sealed with the
/// previous one (key rotation). Without keys, values are stored plain.
#[derive(Clone, Debug, Default)]
pub struct SecretBox {
    current: Option<MasterKey>,
    previous: Option<MasterKey>,
}

impl SecretBox {
    /// No master key: secrets are stored plain.
    pub fn plaintext() -> SecretBox {
        SecretBox::default()
    }

    /// Values are sealed with `current` (plain when `None`); values sealed with `previous`
    /// still open, and opening the store rewrites them.
    pub fn new(current: Option<MasterKey>, previous: Option<MasterKey>) -> SecretBox {
        // The same key twice is one key.
        let previous = previous.filter(|p| current.as_ref().is_none_or(|c| c.id != p.id));
        SecretBox { current, previous }
    }

    /// The id of the key new values are sealed with; `None`: they are stored plain.
    pub fn key_id(&self) -> Option<&str> {
        self.current.as_ref().map(|k| k.id.as_str())
    }

    pub fn previous_key_id(&self) -> Option<&str> {
        self.previous.as_ref().map(|k| k.id.as_str())
    }

    /// The stored form of a secret value.
    pub fn seal(&self, plain: &str) -> String {
        match &self.current {
            Some(key) => key.seal(plain),
            None if plain.starts_with(MARK) => format!("{PLAIN}{plain}"),
            None => plain.to_string(),
        }
    }

    /// The value of a stored secret. A value sealed with a key this box does not hold is an
    /// error naming that key's id ([`StoreError::MasterKey`]); one that was altered is
    /// [`StoreError::Corrupt`]. Never returns anything but the value that was sealed.
    pub fn open(&self, stored: &str) -> Result<String> {
        match form(stored)? {
            Form::Plain(p) => Ok(p.to_string()),
            Form::Sealed {
                key_id,
                header,
                body,
            } => self.key(key_id)?.open(header, body),
        }
    }

    /// Whether `stored` is a sealed value (one [`SecretBox::open`] decrypts).
    pub fn is_sealed(stored: &str) -> bool {
        stored.starts_with(V1)
    }

    /// What opening the store does to `stored`; an error when no key held opens it.
    pub fn reseal(&self, stored: &str) -> Result<Reseal> {
        Ok(match form(stored)? {
            // Without a key a plain value stays as it is (also one from before the escape
            // existed that starts with `enc:`: it reads back the same).
            Form::Plain(_) if self.current.is_none() => Reseal::Keep,
            Form::Plain(_) => Reseal::Seal,
            Form::Sealed { key_id, .. } => {
                if self.key_id() == Some(key_id) {
                    Reseal::Keep
                } else {
                    self.key(key_id)?;
                    Reseal::Rekey
                }
            }
        })
    }

    fn key(&self, key_id: &str) -> Result<&MasterKey> {
        [&self.current, &self.previous]
            .into_iter()
            .flatten()
            .find(|k| k.id == key_id)
            .ok_or_else(|| self.unknown(key_id))
    }

    fn unknown(&self, key_id: &str) -> StoreError {
        let given = match (self.key_id(), self.previous_key_id()) {
            (None, None) => "no master key is set".to_string(),
            (Some(c), None) => format!("the master key set has id {c}"),
            (Some(c), Some(p)) => {
                format!("the master keys set have ids {c} (current) and {p} (previous)")
            }
            (None, Some(p)) => format!("the only master key set (previous) has id {p}"),
        };
        StoreError::MasterKey(format!(
            "the store holds secrets sealed with master key id {key_id}, but {given}"
        ))
    }

    /// `doc` with every secret field in stored form.
    pub fn seal_doc<T: SecretFields + Clone>(&self, doc: &T) -> T {
        let mut out = doc.clone();
        for field in out.secret_fields() {
            *field = self.seal(field);
        }
        out
    }

    /// Opens every secret field of a stored `doc` in place.
    pub fn open_doc<T: SecretFields>(&self, doc: &mut T) -> Result<()> {
        for field in doc.secret_fields() {
            self.open_field(field)?;
        }
        Ok(())
    }

    /// Opens one stored value in place (a plain one is left as it is, without a copy).
    pub fn open_field(&self, field: &mut String) -> Result<()> {
        if field.starts_with(MARK) {
            *field = self.open(field)?;
        }
        Ok(())
    }
}

/// What opening a store rewrote so that every stored secret is in the form the master keys
/// given write (counted in values, e.g. one app with two secrets counts two).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Resealed {
    /// Plain values now sealed with the current key.
    pub sealed: usize,
    /// Values sealed with the previous key now sealed with the current one.
    pub rekeyed: usize,
    /// Values sealed with the previous key now stored plain (no current key is set).
    pub unsealed: usize,
}

impl Resealed {
    pub fn is_empty(&self) -> bool {
        *self == Resealed::default()
    }
}

/// A store's master keys, and the secrets its last load of the live configuration opened (by
/// stored form: a sealed value always opens to the same text, so a reload decrypts only the
/// values it did not see last time).
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    pub keys: SecretBox,
    opened: Mutex<HashMap<String, String>>,
}

impl Secrets {
    pub fn new(keys: SecretBox) -> Secrets {
        Secrets {
            keys,
            opened: Mutex::default(),
        }
    }

    /// Starts opening the documents of one load (see [`Opener`]).
    pub fn opener(&self) -> Opener<'_> {
        let last = std::mem::take(&mut *self.opened.lock().unwrap_or_else(|e| e.into_inner()));
        Opener {
            secrets: self,
            now: HashMap::with_capacity(last.len()),
            last,
        }
    }
}

/// Opens the secret fields of the documents of one load, reusing what the previous load
/// opened; [`Opener::finish`] keeps what this one opened for the next. Loads that run at the
/// same time stay correct (one of them just decrypts everything).
pub(crate) struct Opener<'a> {
    secrets: &'a Secrets,
    last: HashMap<String, String>,
    now: HashMap<String, String>,
}

impl Opener<'_> {
    /// Opens every secret field of a stored `doc` in place.
    pub fn open<T: SecretFields>(&mut self, doc: &mut T) -> Result<()> {
        for field in doc.secret_fields() {
            if !SecretBox::is_sealed(field) {
                self.secrets.keys.open_field(field)?;
                continue;
            }
            let plain = match self.last.remove(field.as_str()) {
                Some(p) => p,
                None => self.secrets.keys.open(field)?,
            };
            let sealed = std::mem::replace(field, plain.clone());
            self.now.insert(sealed, plain);
        }
        Ok(())
    }

    /// Keeps what this load opened for the next one.
    pub fn finish(self) {
        *self
            .secrets
            .opened
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = self.now;
    }
}

/// The secret fields of a document type: what a store seals before it writes the document and
/// opens after it reads it.
pub trait SecretFields {
    fn secret_fields(&mut self) -> Vec<&mut String>;
}

/// The management AccessKey's secret.
impl SecretFields for AccessKey {
    fn secret_fields(&mut self) -> Vec<&mut String> {
        vec![&mut self.access_key_secret]
    }
}

/// Every AppSecret, the previous secret kept for its grace period, and every AppCode.
impl SecretFields for App {
    fn secret_fields(&mut self) -> Vec<&mut String> {
        let mut out = Vec::with_capacity(self.keys.len() * 2 + self.app_codes.len());
        for k in &mut self.keys {
            out.push(&mut k.app_secret);
            if let Some(p) = &mut k.previous_secret {
                out.push(p);
            }
        }
        out.extend(self.app_codes.iter_mut());
        out
    }
}

/// The private key of the domain's certificate (the chain is public).
impl SecretFields for Domain {
    fn secret_fields(&mut self) -> Vec<&mut String> {
        self.certificate
            .as_mut()
            .map(|c| vec![&mut c.certificate_private_key])
            .unwrap_or_default()
    }
}

/// The whole plugin document: `backendSignature` holds a secret, `jwtAuth` may hold shared
/// (`oct`) keys, `transformer` and `routing` may set credentials for the backend, and the store
/// cannot tell which part of a document is secret.
impl SecretFields for Plugin {
    fn secret_fields(&mut self) -> Vec<&mut String> {
        vec![&mut self.plugin_data]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> MasterKey {
        let mut bytes = [0u8; 32];
        for (i, b) in bytes.iter_mut().enumerate() {
            *b = seed.wrapping_add(i as u8);
        }
        MasterKey::from_bytes(bytes)
    }

    #[test]
    fn round_trip_with_a_random_nonce_per_value() {
        let b = SecretBox::new(Some(key(1)), None);
        let a = b.seal("app-secret-123");
        let again = b.seal("app-secret-123");
        assert!(a.starts_with(&format!("enc:v1:{}:", key(1).id())), "{a}");
        assert_ne!(a, again, "the same value seals differently each time");
        assert!(!a.contains("app-secret-123"));
        assert_eq!(b.open(&a).unwrap(), "app-secret-123");
        assert_eq!(b.open(&again).unwrap(), "app-secret-123");
        assert_eq!(b.open("").unwrap(), "");
        assert_eq!(b.open(&b.seal("")).unwrap(), "");
        let pem = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n";
        assert_eq!(b.open(&b.seal(pem)).unwrap(), pem);
    }

    #[test]
    fn key_id_is_the_start_of_the_sha256_of_the_key() {
        let k = MasterKey::from_bytes([0x42; 32]);
        // printf 'B%.0s' {1..32} | sha256sum
        assert_eq!(k.id(), "425ed4e4");
        assert_eq!(k.id().len(), KEY_ID_LEN);
    }

    #[test]
    fn altered_values_do_not_open() {
        let b = SecretBox::new(Some(key(1)), None);
        let sealed = b.seal("s3cret-value");
        let (header, body) = sealed.split_at(V1.len() + KEY_ID_LEN + 1);
        let mut raw = STANDARD.decode(body).unwrap();
        for i in [0, NONCE_LEN, raw.len() - 1] {
            raw[i] ^= 1;
            let altered = format!("{header}{}", STANDARD.encode(&raw));
            let err = b.open(&altered).unwrap_err();
            assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
            assert!(err.to_string().contains("altered"), "{err}");
            raw[i] ^= 1;
        }
        // Cut short, not base64, no key id.
        for bad in [
            format!(
                "{header}{}",
                STANDARD.encode(&raw[..NONCE_LEN + TAG_LEN - 1])
            ),
            format!("{header}!!!"),
            "enc:v1:zz:abc".to_string(),
        ] {
            assert!(matches!(b.open(&bad), Err(StoreError::Corrupt(_))), "{bad}");
        }
        // The header is authenticated: another key id with the same body does not open even
        // under a key of that id.
        let other = key(2);
        let moved = format!("{V1}{}:{body}", other.id());
        let both = SecretBox::new(Some(other), Some(key(1)));
        assert!(matches!(both.open(&moved), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn a_value_sealed_with_another_key_names_that_key() {
        let sealed = SecretBox::new(Some(key(1)), None).seal("value-1");
        let id = key(1).id().to_string();
        for b in [
            SecretBox::plaintext(),
            SecretBox::new(Some(key(2)), None),
            SecretBox::new(Some(key(2)), Some(key(3))),
        ] {
            let err = b.open(&sealed).unwrap_err();
            assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
            assert!(err.to_string().contains(&id), "{err}");
            assert!(b.reseal(&sealed).is_err());
        }
    }

    #[test]
    fn the_previous_key_opens_and_marks_values_for_rekeying() {
        let old = SecretBox::new(Some(key(1)), None);
        let sealed = old.seal("value-1");
        let rotating = SecretBox::new(Some(key(2)), Some(key(1)));
        assert_eq!(rotating.open(&sealed).unwrap(), "value-1");
        assert_eq!(rotating.reseal(&sealed).unwrap(), Reseal::Rekey);
        let resealed = rotating.seal(&rotating.open(&sealed).unwrap());
        assert_eq!(rotating.reseal(&resealed).unwrap(), Reseal::Keep);
        assert!(resealed.contains(key(2).id()));
        // After the rotation the old key alone no longer opens it.
        assert!(matches!(old.open(&resealed), Err(StoreError::MasterKey(_))));
        // Only a previous key: values go back to plain.
        let off = SecretBox::new(None, Some(key(1)));
        assert_eq!(off.reseal(&sealed).unwrap(), Reseal::Rekey);
        assert_eq!(off.seal("value-1"), "value-1");
        // The same key as current and previous is one key.
        assert_eq!(
            SecretBox::new(Some(key(1)), Some(key(1))).previous_key_id(),
            None
        );
    }

    #[test]
    fn plain_values_stay_readable_and_are_sealed_when_a_key_is_set() {
        let plain = SecretBox::plaintext();
        assert_eq!(plain.seal("abc"), "abc");
        assert_eq!(plain.open("abc").unwrap(), "abc");
        assert_eq!(plain.reseal("abc").unwrap(), Reseal::Keep);
        // A plain value that looks like the special form is escaped, and reads back.
        let tricky = format!("enc:v1:{}:AAAA", key(1).id());
        let stored = plain.seal(&tricky);
        assert_eq!(stored, format!("enc:plain:{tricky}"));
        assert_eq!(plain.open(&stored).unwrap(), tricky);
        assert_eq!(plain.reseal(&stored).unwrap(), Reseal::Keep);
        // A plain value from before that starts with `enc:` stays plain.
        assert_eq!(plain.open("enc:abc").unwrap(), "enc:abc");
        // A later format version is refused, never read as plain.
        assert!(plain.open("enc:v2:0011aabb:AAAA").is_err());
        let keyed = SecretBox::new(Some(key(1)), None);
        assert_eq!(keyed.reseal("abc").unwrap(), Reseal::Seal);
        assert_eq!(keyed.reseal(&stored).unwrap(), Reseal::Seal);
        assert_eq!(keyed.open(&stored).unwrap(), tricky);
    }

    #[test]
    fn keys_are_parsed_from_hex_or_base64_only() {
        let hex = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
        let b64 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let id = MasterKey::parse(hex).unwrap().id().to_string();
        assert_eq!(MasterKey::parse(b64).unwrap().id(), id);
        assert_eq!(MasterKey::parse(&format!(" {b64}\n")).unwrap().id(), id);
        assert_eq!(
            MasterKey::parse(b64.trim_end_matches('=')).unwrap().id(),
            id
        );
        assert_eq!(MasterKey::parse(&hex.to_uppercase()).unwrap().id(), id);
        for bad in [
            "",
            "  \n",
            "short",
            &hex[..62],
            "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8fIA==", // 33 bytes
            "correct horse battery staple correct horse battery staple 12345",
            &"00".repeat(32),
            "zz0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        ] {
            let err = MasterKey::parse(bad).unwrap_err();
            // The message never repeats the value.
            assert!(bad.trim().is_empty() || !err.contains(bad.trim()), "{err}");
        }
    }

    #[test]
    fn secret_fields_of_each_document() {
        use apigw_model::app::AppKeyPair;
        let mut app = App {
            app_id: 1,
            app_name: "app_one".into(),
            owner_id: 1,
            description: String::new(),
            extend: String::new(),
            disabled: false,
            keys: vec![AppKeyPair {
                app_key: "key-1".into(),
                app_secret: "secret-1".into(),
                previous_secret: Some("secret-0".into()),
                previous_secret_valid_until: Some(1),
            }],
            app_codes: vec!["code-0123456".into()],
            created_time: String::new(),
            modified_time: String::new(),
        };
        let b = SecretBox::new(Some(key(1)), None);
        let sealed = b.seal_doc(&app);
        let text = serde_json::to_string(&sealed).unwrap();
        for s in ["secret-1", "secret-0", "code-0123456"] {
            assert!(!text.contains(s), "{text}");
        }
        assert!(
            text.contains("key-1"),
            "the AppKey is an identifier, not a secret"
        );
        let mut opened = sealed.clone();
        b.open_doc(&mut opened).unwrap();
        assert_eq!(opened, app);
        assert_eq!(app.secret_fields().len(), 3);
    }
}
