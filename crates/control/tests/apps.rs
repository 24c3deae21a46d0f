//! Apps, grants and plugins through the control plane, against a real SQLite store.

use apigw_control::apply::{apply, export, GatewayFile};
use apigw_control::{AppSpec, Control};
use apigw_model::Stage;
use apigw_store::SqliteStore;
use std::sync::Arc;
use std::time::Duration;

fn control() -> (tempfile::TempDir, Control) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (dir, Control::new(Arc::new(store)))
}

const FILE: &str = r#"
Groups:
  - GroupName: shop
    Apis:
      - ApiName: get_item
        RequestConfig: {RequestHttpMethod: GET, RequestPath: "/items/[id]"}
        ServiceConfig: {ServiceAddress: "http://127.0.0.1:9", ServiceTimeout: 500}
        DeployTo: [RELEASE, TEST]
      - ApiName: put_item
        RequestConfig: {RequestHttpMethod: PUT, RequestPath: "/items/[id]"}
        ServiceConfig: {ServiceAddress: "http://127.0.0.1:9", ServiceTimeout: 500}
Apps:
  - AppName: client_one
    Keys: [{AppKey: key-one, AppSecret: secret-one-0000}]
    AppCodes: [code-one-00000000]
    Authorizations:
      - {GroupName: shop, ApiName: get_item, Stages: [RELEASE, TEST]}
      - {GroupName: shop, ApiName: put_item, Stages: [TEST], AuthValidTime: "2030-01-01T00:00:00Z"}
  - AppName: client_two
Plugins:
  - PluginName: jwt_one
    PluginType: jwtAuth
    PluginData: '{"jwk": {"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0", "alg": "HS256"}}'
    AttachTo:
      - {GroupName: shop, ApiName: get_item, Stages: [RELEASE]}
"#;

#[tokio::test]
async fn apps_grants_and_plugins_round_trip_through_the_file() {
    let (_dir, control) = control();
    apply(&control, &GatewayFile::parse(FILE).unwrap())
        .await
        .unwrap();
    // Applying again changes nothing (generated credentials of client_two are kept).
    let two = control.app_by_name("client_two").await.unwrap().unwrap();
    assert_eq!(two.keys.len(), 1);
    assert_eq!(two.app_codes.len(), 1);
    let again = apply(&control, &GatewayFile::parse(FILE).unwrap())
        .await
        .unwrap();
    assert!(again.is_empty(), "{again:?}");
    assert_eq!(
        control.app_by_name("client_two").await.unwrap().unwrap(),
        two
    );
    let live = control.store().load_live().await.unwrap();
    assert_eq!(live.authorizations.len(), 3);
    assert_eq!(live.plugin_bindings.len(), 1);

    let (file, notes) = export(&control).await.unwrap();
    assert!(notes.has_private_keys, "secrets are in the export");
    let yaml = file.to_yaml();
    let (_dir2, empty) = self::control();
    apply(&empty, &GatewayFile::parse(&yaml).unwrap())
        .await
        .unwrap();
    assert_eq!(export(&empty).await.unwrap().0.to_yaml(), yaml);
}

#[tokio::test]
async fn credentials_are_unique_and_validated() {
    let (_dir, control) = control();
    let spec = |name: &str, key: &str| AppSpec {
        app_name: name.into(),
        app_key: Some(key.into()),
        app_secret: Some("long-enough-secret".into()),
        ..AppSpec::default()
    };
    control.create_app(spec("first_app", "k1")).await.unwrap();
    let e = control
        .create_app(spec("first_app", "k2"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RepeatedAppName");
    let e = control
        .create_app(spec("second_app", "k1"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), "RepeatedAppKey");
    let mut short = spec("third_app", "k3");
    short.app_secret = Some("short".into());
    assert_eq!(
        control.create_app(short).await.unwrap_err().code(),
        "InvalidAppSecret"
    );
    let e = control
        .authorize(123, "nope", Stage::Release, None, "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "NotFoundApp");
}

#[tokio::test]
async fn a_reset_keeps_the_previous_secret_for_the_grace_period() {
    let (_dir, control) = control();
    let control = control.with_secret_grace(Duration::from_secs(60));
    let app = control
        .create_app(AppSpec {
            app_name: "rotating".into(),
            app_key: Some("rot-key".into()),
            app_secret: Some("first-secret-000".into()),
            ..AppSpec::default()
        })
        .await
        .unwrap();
    let pair = control.reset_app_secret("rot-key", None).await.unwrap();
    assert_ne!(pair.app_secret, "first-secret-000");
    assert_eq!(pair.previous_secret.as_deref(), Some("first-secret-000"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let secrets: Vec<&str> = pair.secrets_at(now).collect();
    assert_eq!(secrets.len(), 2);
    assert_eq!(pair.secrets_at(now + 61_000).count(), 1);
    let stored = control.app(app.app_id).await.unwrap();
    assert_eq!(stored.keys[0], pair);
    assert_eq!(
        control
            .reset_app_secret("no-such-key", None)
            .await
            .unwrap_err()
            .code(),
        "NotFoundAppKey"
    );
}

#[tokio::test]
async fn binding_a_second_plugin_of_a_type_replaces_the_first() {
    let (_dir, control) = control();
    apply(&control, &GatewayFile::parse(FILE).unwrap())
        .await
        .unwrap();
    let api = control
        .apis(
            &control
                .group_by_name("shop")
                .await
                .unwrap()
                .unwrap()
                .group_id,
        )
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.api_name == "get_item")
        .unwrap();
    let other = control
        .create_plugin(
            "jwt_two",
            "jwtAuth",
            r#"{"jwk": {"kty": "oct", "k": "YW5vdGhlci1zZWNyZXQtYW5vdGhlcg", "alg": "HS256"}}"#,
            "",
        )
        .await
        .unwrap();
    control
        .attach_plugin(&other.plugin_id, &api.api_id, Stage::Release)
        .await
        .unwrap();
    let bound: Vec<_> = control
        .plugin_bindings()
        .await
        .unwrap()
        .into_iter()
        .filter(|b| b.api_id == api.api_id && b.stage_name == Stage::Release)
        .collect();
    assert_eq!(bound.len(), 1);
    assert_eq!(bound[0].plugin_id, other.plugin_id);
    // A bad jwtAuth document is refused with the field named.
    let e = control
        .create_plugin("jwt_bad", "jwtAuth", "jwk: {}", "")
        .await
        .unwrap_err();
    assert_eq!(e.code(), "InvalidPluginData");
    // A bound plugin cannot be deleted.
    assert_eq!(
        control
            .delete_plugin(&other.plugin_id)
            .await
            .unwrap_err()
            .code(),
        "DependencyViolationPlugin"
    );
}
