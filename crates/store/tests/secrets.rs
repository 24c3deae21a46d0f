//! Secrets at rest: what the SQLite file holds with and without a master key, sealing a plain
//! store, rotation, and refusing a key that does not match.

use apigw_model::app::AppKeyPair;
use apigw_model::group::DomainCertificate;
use apigw_model::{AccessKey, App, Domain, Plugin};
use apigw_store::{MasterKey, Resealed, SecretBox, SqliteStore, Store, StoreError};
use std::path::Path;

const AK_SECRET: &str = "AkSecretValue0123456789abcdefgh";
const APP_SECRET: &str = "AppSecretValue-4f1c9b2e7a";
const OLD_SECRET: &str = "PreviousSecret-77aa01";
const APP_CODE: &str = "AppCodeValue0099887766";
const PRIVATE_KEY: &str =
    "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\n-----END PRIVATE KEY-----\n";
const PLUGIN_SECRET: &str = "BackendSignSecret-5d5d5d";

fn key(seed: u8) -> MasterKey {
    let mut bytes = [0u8; 32];
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8);
    }
    MasterKey::from_bytes(bytes)
}

fn with(current: Option<u8>, previous: Option<u8>) -> SecretBox {
    SecretBox::new(current.map(key), previous.map(key))
}

fn access_key() -> AccessKey {
    AccessKey {
        access_key_id: "LTAIsecretstest".into(),
        access_key_secret: AK_SECRET.into(),
        account_id: 1,
        disabled: false,
        created_time: String::new(),
    }
}

fn app() -> App {
    App {
        app_id: 7,
        app_name: "app_seven".into(),
        owner_id: 1,
        description: String::new(),
        extend: String::new(),
        disabled: false,
        keys: vec![AppKeyPair {
            app_key: "appkey-seven".into(),
            app_secret: APP_SECRET.into(),
            previous_secret: Some(OLD_SECRET.into()),
            previous_secret_valid_until: Some(4_102_444_800_000),
        }],
        app_codes: vec![APP_CODE.into()],
        created_time: String::new(),
        modified_time: String::new(),
    }
}

fn domain() -> Domain {
    Domain {
        domain_name: "secure.example.com".into(),
        group_id: "g1".into(),
        bind_stage_name: None,
        certificate: Some(DomainCertificate {
            certificate_name: "cert".into(),
            certificate_body: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
                .into(),
            certificate_private_key: PRIVATE_KEY.into(),
        }),
    }
}

fn plugin() -> Plugin {
    Plugin {
        plugin_id: "p1".into(),
        plugin_name: "sign_backend".into(),
        owner_id: 1,
        plugin_type: "backendSignature".into(),
        plugin_data: format!("type: APIGW_BACKEND\nkey: k1\nsecret: {PLUGIN_SECRET}\n"),
        description: String::new(),
        created_time: String::new(),
        modified_time: String::new(),
    }
}

const SECRETS: [&str; 6] = [
    AK_SECRET,
    APP_SECRET,
    OLD_SECRET,
    APP_CODE,
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7",
    PLUGIN_SECRET,
];

async fn write_all(store: &SqliteStore) {
    store.put_access_key(&access_key()).await.unwrap();
    store.put_app(&app()).await.unwrap();
    store.put_domain(&domain()).await.unwrap();
    store.put_plugin(&plugin()).await.unwrap();
}

async fn assert_reads_all(store: &SqliteStore) {
    assert_eq!(store.list_access_keys().await.unwrap(), vec![access_key()]);
    assert_eq!(store.get_app(7).await.unwrap(), Some(app()));
    assert_eq!(store.list_apps().await.unwrap(), vec![app()]);
    assert_eq!(store.list_domains().await.unwrap(), vec![domain()]);
    assert_eq!(store.list_plugins().await.unwrap(), vec![plugin()]);
    let live = store.load_live().await.unwrap();
    assert_eq!(live.apps, vec![app()]);
    assert_eq!(live.domains, vec![domain()]);
    assert_eq!(live.plugins, vec![plugin()]);
    let all = store.load_all().await.unwrap();
    assert_eq!(all.live.apps, vec![app()]);
}

/// Every byte of every file in the data directory.
fn raw(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        out.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    out
}

fn plain_secrets_in(dir: &Path) -> Vec<&'static str> {
    let bytes = raw(dir);
    SECRETS
        .into_iter()
        .filter(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .collect()
}

#[tokio::test]
async fn with_a_master_key_no_secret_is_in_the_file_and_all_read_back() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
        assert_eq!(store.key_id(), Some(key(1).id()));
        write_all(&store).await;
        assert_reads_all(&store).await;
    }
    assert_eq!(plain_secrets_in(dir.path()), Vec::<&str>::new());
    let bytes = String::from_utf8_lossy(&raw(dir.path())).into_owned();
    assert!(bytes.contains(&format!("enc:v1:{}:", key(1).id())));
    // Identifiers are not secrets: they stay searchable.
    assert!(bytes.contains("appkey-seven") && bytes.contains("LTAIsecretstest"));
    let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
    assert!(store.resealed().is_empty());
    assert_reads_all(&store).await;
}

#[tokio::test]
async fn without_a_key_secrets_are_plain_as_before() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        assert_eq!(store.key_id(), None);
        write_all(&store).await;
        assert_reads_all(&store).await;
    }
    assert_eq!(plain_secrets_in(dir.path()), SECRETS.to_vec());
}

#[tokio::test]
async fn a_plain_store_is_sealed_when_opened_with_a_key_and_keeps_no_plain_copy() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open(dir.path()).unwrap();
        write_all(&store).await;
        // Rewrites leave older row versions behind in the file's free space.
        store.put_app(&app()).await.unwrap();
        store.put_domain(&domain()).await.unwrap();
    }
    assert_eq!(plain_secrets_in(dir.path()), SECRETS.to_vec());
    {
        let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
        assert_eq!(
            store.resealed(),
            Resealed {
                sealed: 6,
                rekeyed: 0,
                unsealed: 0
            }
        );
        // No plain copy even while the store is open (free pages, write-ahead log).
        assert_eq!(plain_secrets_in(dir.path()), Vec::<&str>::new());
        assert_reads_all(&store).await;
    }
    assert_eq!(plain_secrets_in(dir.path()), Vec::<&str>::new());
    // Without the key it is refused now, naming the key.
    let err = SqliteStore::open(dir.path()).err().unwrap();
    assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
    assert!(err.to_string().contains(key(1).id()), "{err}");
    assert!(err.to_string().contains("no master key is set"), "{err}");
}

#[tokio::test]
async fn a_wrong_key_is_refused_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
        write_all(&store).await;
    }
    // A plain row next to the sealed ones (as if written by a process without the key).
    {
        let conn = rusqlite::Connection::open(dir.path().join("apigw.db")).unwrap();
        conn.execute(
            "UPDATE access_keys SET doc = ?1",
            [serde_json::to_string(&access_key()).unwrap()],
        )
        .unwrap();
    }
    for wrong in [
        with(Some(2), None),
        with(Some(2), Some(3)),
        with(None, Some(2)),
    ] {
        let err = SqliteStore::open_with(dir.path(), wrong).err().unwrap();
        assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(key(1).id()) && text.contains(key(2).id()),
            "{text}"
        );
    }
    // Nothing was rewritten: the plain row is still plain, and the right key reads all.
    assert!(plain_secrets_in(dir.path()).contains(&AK_SECRET));
    let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
    assert_eq!(store.resealed().sealed, 1);
    assert_reads_all(&store).await;
}

#[tokio::test]
async fn rotation_reseals_under_the_new_key_and_retires_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
        write_all(&store).await;
    }
    {
        let store = SqliteStore::open_with(dir.path(), with(Some(2), Some(1))).unwrap();
        assert_eq!(
            store.resealed(),
            Resealed {
                sealed: 0,
                rekeyed: 6,
                unsealed: 0
            }
        );
        assert_reads_all(&store).await;
        // New writes are sealed with the new key.
        store.put_app(&app()).await.unwrap();
    }
    let text = String::from_utf8_lossy(&raw(dir.path())).into_owned();
    assert!(!text.contains(&format!("enc:v1:{}:", key(1).id())));
    assert!(text.contains(&format!("enc:v1:{}:", key(2).id())));
    // The old key alone is refused now; the new key alone reads everything.
    let err = SqliteStore::open_with(dir.path(), with(Some(1), None))
        .err()
        .unwrap();
    assert!(err.to_string().contains(key(2).id()), "{err}");
    let store = SqliteStore::open_with(dir.path(), with(Some(2), None)).unwrap();
    assert!(store.resealed().is_empty());
    assert_reads_all(&store).await;
}

#[tokio::test]
async fn only_a_previous_key_turns_sealing_off() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
        write_all(&store).await;
    }
    {
        let store = SqliteStore::open_with(dir.path(), with(None, Some(1))).unwrap();
        assert_eq!(store.resealed().unsealed, 6);
        assert_reads_all(&store).await;
    }
    let store = SqliteStore::open(dir.path()).unwrap();
    assert_reads_all(&store).await;
}

#[tokio::test]
async fn an_altered_sealed_value_is_an_error_never_another_value() {
    let dir = tempfile::tempdir().unwrap();
    {
        let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
        store.put_access_key(&access_key()).await.unwrap();
    }
    {
        let conn = rusqlite::Connection::open(dir.path().join("apigw.db")).unwrap();
        let doc: String = conn
            .query_row("SELECT doc FROM access_keys", [], |r| r.get(0))
            .unwrap();
        let mut k: AccessKey = serde_json::from_str(&doc).unwrap();
        // Flip one character of the ciphertext.
        let mut chars: Vec<char> = k.access_key_secret.chars().collect();
        let i = chars.len() - 3;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        k.access_key_secret = chars.into_iter().collect();
        conn.execute(
            "UPDATE access_keys SET doc = ?1",
            [serde_json::to_string(&k).unwrap()],
        )
        .unwrap();
    }
    let err = SqliteStore::open_with(dir.path(), with(Some(1), None))
        .err()
        .unwrap();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("altered"), "{err}");
}

#[tokio::test]
async fn reloads_reuse_what_they_opened_and_see_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_with(dir.path(), with(Some(1), None)).unwrap();
    write_all(&store).await;
    assert_eq!(store.load_live().await.unwrap().apps, vec![app()]);
    // A new secret is read as such, not as the one opened before.
    let mut changed = app();
    changed.keys[0].app_secret = "AnotherSecret-0042".into();
    changed.app_codes.push("AnotherCode-0042".into());
    store.put_app(&changed).await.unwrap();
    assert_eq!(store.load_live().await.unwrap().apps, vec![changed.clone()]);
    assert_eq!(store.load_live().await.unwrap().apps, vec![changed]);
    // An altered value is never taken for one opened before.
    let conn = rusqlite::Connection::open(dir.path().join("apigw.db")).unwrap();
    let doc: String = conn
        .query_row("SELECT doc FROM apps", [], |r| r.get(0))
        .unwrap();
    let mut stored: App = serde_json::from_str(&doc).unwrap();
    let s = &mut stored.keys[0].app_secret;
    let at = s.len() - 3;
    let other = if &s[at..at + 1] == "A" { "B" } else { "A" };
    s.replace_range(at..at + 1, other);
    conn.execute(
        "UPDATE apps SET doc = ?1",
        [serde_json::to_string(&stored).unwrap()],
    )
    .unwrap();
    conn.execute("UPDATE generation SET value = value + 1", [])
        .unwrap();
    let err = store.load_live().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
}
