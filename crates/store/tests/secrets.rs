//! Secrets at rest, the same test body against SQLite and PostgreSQL (`sqlite::…`,
//! `postgres::…`): what the store holds with and without a master key (SQLite: every byte of
//! its files; PostgreSQL: every row of its tables), sealing a plain store, rotation, refusing a
//! key that does not match, and nodes that reseal at the same time.

mod common;

use apigw_model::app::AppKeyPair;
use apigw_model::group::DomainCertificate;
use apigw_model::{AccessKey, App, Domain, Plugin};
use apigw_store::{MasterKey, Resealed, SecretBox, Store, StoreError};
use common::{Backend, Keyed};
use std::sync::Arc;

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
        web_socket: Default::default(),
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

on_both!(
    with_a_master_key_no_secret_is_in_the_store_and_all_read_back,
    without_a_key_secrets_are_plain_as_before,
    a_plain_store_is_sealed_when_opened_with_a_key_and_keeps_no_plain_copy,
    a_wrong_key_is_refused_and_changes_nothing,
    rotation_reseals_under_the_new_key_and_retires_the_old_one,
    only_a_previous_key_turns_sealing_off,
    an_altered_sealed_value_is_an_error_never_another_value,
    reloads_reuse_what_they_opened_and_see_every_change,
    of_two_handles_opening_a_plain_store_at_once_one_reseals,
    what_one_handle_seals_another_with_the_same_key_reads,
);

async fn write_all(store: &dyn Store) {
    store.put_access_key(&access_key()).await.unwrap();
    store.put_app(&app()).await.unwrap();
    store.put_domain(&domain()).await.unwrap();
    store.put_plugin(&plugin()).await.unwrap();
}

async fn assert_reads_all(store: &dyn Store) {
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

/// Opens the store with keys; panics when it is refused.
async fn open(backend: &Backend, keys: SecretBox) -> Keyed {
    match backend.open_with(keys).await {
        Ok(k) => k,
        Err(e) => panic!("the store was refused: {e}"),
    }
}

/// Opens the store with keys; the error that refuses it.
async fn refused(backend: &Backend, keys: SecretBox) -> StoreError {
    match backend.open_with(keys).await {
        Ok(_) => panic!("the store was opened"),
        Err(e) => e,
    }
}

async fn plain_secrets_in(backend: &Backend) -> Vec<&'static str> {
    let bytes = backend.raw().await;
    SECRETS
        .into_iter()
        .filter(|s| bytes.windows(s.len()).any(|w| w == s.as_bytes()))
        .collect()
}

async fn raw_text(backend: &Backend) -> String {
    String::from_utf8_lossy(&backend.raw().await).into_owned()
}

async fn with_a_master_key_no_secret_is_in_the_store_and_all_read_back(backend: Backend) {
    {
        let k = open(&backend, with(Some(1), None)).await;
        assert_eq!(k.key_id.as_deref(), Some(key(1).id()));
        write_all(&*k.store).await;
        assert_reads_all(&*k.store).await;
    }
    assert_eq!(plain_secrets_in(&backend).await, Vec::<&str>::new());
    let text = raw_text(&backend).await;
    assert!(text.contains(&format!("enc:v1:{}:", key(1).id())));
    // Identifiers are not secrets: they stay searchable.
    assert!(text.contains("appkey-seven") && text.contains("LTAIsecretstest"));
    let k = open(&backend, with(Some(1), None)).await;
    assert!(k.resealed.is_empty());
    assert_reads_all(&*k.store).await;
}

async fn without_a_key_secrets_are_plain_as_before(backend: Backend) {
    {
        let k = open(&backend, SecretBox::plaintext()).await;
        assert_eq!(k.key_id, None);
        write_all(&*k.store).await;
        assert_reads_all(&*k.store).await;
    }
    assert_eq!(plain_secrets_in(&backend).await, SECRETS.to_vec());
}

async fn a_plain_store_is_sealed_when_opened_with_a_key_and_keeps_no_plain_copy(backend: Backend) {
    {
        let store = backend.open().await;
        write_all(&*store).await;
        // Rewrites leave older row versions behind in the file's free space.
        store.put_app(&app()).await.unwrap();
        store.put_domain(&domain()).await.unwrap();
    }
    assert_eq!(plain_secrets_in(&backend).await, SECRETS.to_vec());
    {
        let k = open(&backend, with(Some(1), None)).await;
        assert_eq!(
            k.resealed,
            Resealed {
                sealed: 6,
                rekeyed: 0,
                unsealed: 0
            }
        );
        // No plain copy even while the store is open (SQLite: free pages, write-ahead log).
        assert_eq!(plain_secrets_in(&backend).await, Vec::<&str>::new());
        assert_reads_all(&*k.store).await;
    }
    assert_eq!(plain_secrets_in(&backend).await, Vec::<&str>::new());
    // Without the key it is refused now, naming the key.
    let err = refused(&backend, SecretBox::plaintext()).await;
    assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
    assert!(err.to_string().contains(key(1).id()), "{err}");
    assert!(err.to_string().contains("no master key is set"), "{err}");
}

async fn a_wrong_key_is_refused_and_changes_nothing(backend: Backend) {
    {
        let k = open(&backend, with(Some(1), None)).await;
        write_all(&*k.store).await;
    }
    // A plain row next to the sealed ones (as if written by a process without the key).
    backend
        .set_docs(
            "access_keys",
            &serde_json::to_string(&access_key()).unwrap(),
        )
        .await;
    let before = backend.dump().await;
    for wrong in [
        with(Some(2), None),
        with(Some(2), Some(3)),
        with(None, Some(2)),
    ] {
        let err = refused(&backend, wrong).await;
        assert!(matches!(err, StoreError::MasterKey(_)), "{err}");
        let text = err.to_string();
        assert!(
            text.contains(key(1).id()) && text.contains(key(2).id()),
            "{text}"
        );
    }
    // Nothing was rewritten: the plain row is still plain, and the right key reads all.
    assert_eq!(backend.dump().await, before);
    assert!(plain_secrets_in(&backend).await.contains(&AK_SECRET));
    let k = open(&backend, with(Some(1), None)).await;
    assert_eq!(k.resealed.sealed, 1);
    assert_reads_all(&*k.store).await;
}

async fn rotation_reseals_under_the_new_key_and_retires_the_old_one(backend: Backend) {
    {
        let k = open(&backend, with(Some(1), None)).await;
        write_all(&*k.store).await;
    }
    {
        let k = open(&backend, with(Some(2), Some(1))).await;
        assert_eq!(
            k.resealed,
            Resealed {
                sealed: 0,
                rekeyed: 6,
                unsealed: 0
            }
        );
        assert_reads_all(&*k.store).await;
        // New writes are sealed with the new key.
        k.store.put_app(&app()).await.unwrap();
    }
    let text = raw_text(&backend).await;
    assert!(!text.contains(&format!("enc:v1:{}:", key(1).id())));
    assert!(text.contains(&format!("enc:v1:{}:", key(2).id())));
    // The old key alone is refused now; the new key alone reads everything.
    let err = refused(&backend, with(Some(1), None)).await;
    assert!(err.to_string().contains(key(2).id()), "{err}");
    let k = open(&backend, with(Some(2), None)).await;
    assert!(k.resealed.is_empty());
    assert_reads_all(&*k.store).await;
}

async fn only_a_previous_key_turns_sealing_off(backend: Backend) {
    {
        let k = open(&backend, with(Some(1), None)).await;
        write_all(&*k.store).await;
    }
    {
        let k = open(&backend, with(None, Some(1))).await;
        assert_eq!(k.resealed.unsealed, 6);
        assert_reads_all(&*k.store).await;
    }
    let store = backend.open().await;
    assert_reads_all(&*store).await;
}

/// `stored` with one character of its ciphertext changed.
fn altered(stored: &str) -> String {
    let mut chars: Vec<char> = stored.chars().collect();
    let i = chars.len() - 3;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

async fn an_altered_sealed_value_is_an_error_never_another_value(backend: Backend) {
    {
        let k = open(&backend, with(Some(1), None)).await;
        k.store.put_access_key(&access_key()).await.unwrap();
    }
    let doc = backend.docs("access_keys").await.remove(0);
    let mut k: AccessKey = serde_json::from_str(&doc).unwrap();
    k.access_key_secret = altered(&k.access_key_secret);
    backend
        .set_docs("access_keys", &serde_json::to_string(&k).unwrap())
        .await;
    let err = refused(&backend, with(Some(1), None)).await;
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(err.to_string().contains("altered"), "{err}");
}

async fn reloads_reuse_what_they_opened_and_see_every_change(backend: Backend) {
    let k = open(&backend, with(Some(1), None)).await;
    let store = k.store;
    write_all(&*store).await;
    assert_eq!(store.load_live().await.unwrap().apps, vec![app()]);
    // A new secret is read as such, not as the one opened before.
    let mut changed = app();
    changed.keys[0].app_secret = "AnotherSecret-0042".into();
    changed.app_codes.push("AnotherCode-0042".into());
    store.put_app(&changed).await.unwrap();
    assert_eq!(store.load_live().await.unwrap().apps, vec![changed.clone()]);
    assert_eq!(store.load_live().await.unwrap().apps, vec![changed]);
    // An altered value is never taken for one opened before.
    let doc = backend.docs("apps").await.remove(0);
    let mut stored: App = serde_json::from_str(&doc).unwrap();
    stored.keys[0].app_secret = altered(&stored.keys[0].app_secret);
    backend
        .set_docs("apps", &serde_json::to_string(&stored).unwrap())
        .await;
    backend
        .execute(
            "UPDATE generation SET value = value + 1",
            "UPDATE generation SET value = value + 1",
        )
        .await;
    let err = store.load_live().await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
}

/// Two nodes started together with a key on a plain store: the secrets are sealed once (one
/// node reseals, the other finds nothing left to do), and both read them.
async fn of_two_handles_opening_a_plain_store_at_once_one_reseals(backend: Backend) {
    {
        let store = backend.open().await;
        write_all(&*store).await;
    }
    let backend = Arc::new(backend);
    let opening = |backend: Arc<Backend>| {
        tokio::spawn(async move {
            let k = open(&backend, with(Some(2), None)).await;
            (k.store, k.resealed)
        })
    };
    let (a, b) = (opening(backend.clone()), opening(backend.clone()));
    let ((sa, ra), (sb, rb)) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(ra.sealed + rb.sealed, 6, "{ra:?} {rb:?}");
    assert!(ra.is_empty() || rb.is_empty(), "{ra:?} {rb:?}");
    assert_eq!(plain_secrets_in(&backend).await, Vec::<&str>::new());
    assert_reads_all(&*sa).await;
    assert_reads_all(&*sb).await;
}

/// Every node of a cluster has the same keys: what one writes, another reads (and loads).
async fn what_one_handle_seals_another_with_the_same_key_reads(backend: Backend) {
    let a = open(&backend, with(Some(1), None)).await;
    let b = open(&backend, with(Some(1), None)).await;
    write_all(&*a.store).await;
    assert_reads_all(&*b.store).await;
    let mut changed = app();
    changed.keys[0].app_secret = "ChangedOnB-31337".into();
    b.store.put_app(&changed).await.unwrap();
    assert_eq!(a.store.load_live().await.unwrap().apps, vec![changed]);
    assert_eq!(plain_secrets_in(&backend).await, Vec::<&str>::new());
}
