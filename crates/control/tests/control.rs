//! Control operations against a real SQLite store.

use apigw_control::apply::{apply, GatewayFile};
use apigw_control::Control;
use apigw_model::Stage;
use apigw_store::SqliteStore;
use std::sync::Arc;

fn control() -> (tempfile::TempDir, Control) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (dir, Control::new(Arc::new(store)))
}

const FILE: &str = r#"
Groups:
  - GroupName: shop
    Domains:
      - DomainName: localhost
    Apis:
      - ApiName: get_item
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: "/items/[id]"}
        ServiceConfig: {ServiceAddress: "http://127.0.0.1:9", ServicePath: "/i/[id]", ServiceTimeout: 500}
        DeployTo: [RELEASE, TEST]
      - ApiName: hello
        AuthType: ANONYMOUS
        RequestConfig: {RequestHttpMethod: GET, RequestPath: /hello}
        ServiceConfig: {Mock: TRUE, MockResult: hi}
"#;

#[tokio::test]
async fn apply_creates_deploys_and_is_idempotent() {
    let (_dir, control) = control();
    let file = GatewayFile::parse(FILE).unwrap();
    let report = apply(&control, &file).await.unwrap();
    assert_eq!(
        report
            .iter()
            .filter(|l| l.starts_with("deployed get_item"))
            .count(),
        2,
        "{report:?}"
    );
    let live = control.store().load_live().await.unwrap();
    assert_eq!(live.deployments.len(), 2);
    assert_eq!(live.domains[0].domain_name, "localhost");
    // Applying the same file again changes nothing.
    let gen = control.store().generation().await.unwrap();
    assert!(apply(&control, &file).await.unwrap().is_empty());
    assert_eq!(control.store().generation().await.unwrap(), gen);
    // Dropping TEST from DeployTo abolishes it there.
    let fewer = GatewayFile::parse(&FILE.replace("[RELEASE, TEST]", "[RELEASE]")).unwrap();
    let report = apply(&control, &fewer).await.unwrap();
    assert_eq!(report, vec!["abolished get_item from TEST".to_string()]);
}

#[tokio::test]
async fn a_bad_file_changes_nothing() {
    let (_dir, control) = control();
    let bad = FILE.replace("RequestPath: /hello", "RequestPath: \"/items/[x]\"");
    let err = apply(&control, &GatewayFile::parse(&bad).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "RepeatedPath", "{err}");
    assert!(control.store().list_groups().await.unwrap().is_empty());
    let unknown =
        GatewayFile::parse("Groups:\n  - GroupName: shop\n    Colour: red\n").unwrap_err();
    assert_eq!(unknown.code(), "InvalidFormatFile");
}

#[tokio::test]
async fn drafts_deploy_history_and_rollback() {
    let (_dir, control) = control();
    apply(&control, &GatewayFile::parse(FILE).unwrap())
        .await
        .unwrap();
    let group = control.group_by_name("shop").await.unwrap().unwrap();
    let mut api = control
        .apis(&group.group_id)
        .await
        .unwrap()
        .into_iter()
        .find(|a| a.api_name == "get_item")
        .unwrap();
    let first = control
        .history(&api.api_id, Some(Stage::Release))
        .await
        .unwrap()[0]
        .history_version
        .clone();

    api.request_config.request_path = "/goods/[id]".into();
    control.modify_api(api.clone()).await.unwrap();
    // The draft changed; the live definition did not.
    let live = control.store().load_live().await.unwrap();
    assert!(live
        .deployments
        .iter()
        .all(|d| d.definition.request_config.request_path == "/items/[id]"));

    let second = control
        .deploy(&api.api_id, Stage::Release, "v2")
        .await
        .unwrap();
    assert!(second.history_version > first);
    control
        .switch_version(&api.api_id, Stage::Release, &first)
        .await
        .unwrap();
    let history = control
        .history(&api.api_id, Some(Stage::Release))
        .await
        .unwrap();
    assert_eq!(history.iter().filter(|d| d.online).count(), 1);
    assert!(history.iter().find(|d| d.online).unwrap().history_version == first);

    assert_eq!(
        control.delete_api(&api.api_id).await.unwrap_err().code(),
        "DependencyViolationApi"
    );
    control.abolish(&api.api_id, Stage::Release).await.unwrap();
    assert_eq!(
        control
            .abolish(&api.api_id, Stage::Release)
            .await
            .unwrap_err()
            .code(),
        "NotFoundStage"
    );
    control.abolish(&api.api_id, Stage::Test).await.unwrap();
    control.delete_api(&api.api_id).await.unwrap();
    assert_eq!(
        control.api(&api.api_id).await.unwrap_err().code(),
        "NotFoundApi"
    );
}

#[tokio::test]
async fn domains_are_unique_and_limited() {
    let (_dir, control) = control();
    let a = control.create_group("group_a", "", None).await.unwrap();
    let b = control.create_group("group_b", "", None).await.unwrap();
    let domain = |name: &str, group: &str| apigw_model::Domain {
        domain_name: name.into(),
        group_id: group.into(),
        bind_stage_name: None,
        certificate: None,
        web_socket: Default::default(),
    };
    control
        .set_domain(domain("a.example.com", &a.group_id))
        .await
        .unwrap();
    let err = control
        .set_domain(domain("a.example.com", &b.group_id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "RepeatedDomain");
    for i in 2..=5 {
        control
            .set_domain(domain(&format!("a{i}.example.com"), &a.group_id))
            .await
            .unwrap();
    }
    let err = control
        .set_domain(domain("a6.example.com", &a.group_id))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "ExceedLimitDomain");
    assert_eq!(
        control
            .create_group("group_a", "", None)
            .await
            .unwrap_err()
            .code(),
        "RepeatedGroupName"
    );
}

#[tokio::test]
async fn export_then_apply_to_an_empty_store_gives_the_same_configuration() {
    let (_dir, control) = control();
    let file = FILE.replace(
        "      - DomainName: localhost",
        "      - DomainName: localhost\n      - DomainName: test.example.com\n        BindStageName: TEST",
    );
    apply(&control, &GatewayFile::parse(&file).unwrap())
        .await
        .unwrap();
    let (exported, notes) = apigw_control::apply::export(&control).await.unwrap();
    assert!(notes.drafts_differ.is_empty() && !notes.has_private_keys);
    let yaml = exported.to_yaml();
    assert!(yaml.contains("DeployTo:"), "{yaml}");
    assert!(!yaml.contains("ApiId"), "ids are not exported: {yaml}");

    let (_dir2, empty) = crate::control();
    apply(&empty, &GatewayFile::parse(&yaml).unwrap())
        .await
        .unwrap();
    let (again, _) = apigw_control::apply::export(&empty).await.unwrap();
    assert_eq!(again.to_yaml(), yaml);
    // The same APIs are live in the same stages.
    let live = |c: Control| async move {
        let mut v: Vec<(String, String)> = c
            .store()
            .load_live()
            .await
            .unwrap()
            .deployments
            .into_iter()
            .map(|d| (d.definition.api_name.clone(), d.stage_name.to_string()))
            .collect();
        v.sort();
        v
    };
    assert_eq!(live(control.clone()).await, live(empty.clone()).await);
    assert_eq!(live(empty).await.len(), 2);
}

#[tokio::test]
async fn a_domain_without_certificate_in_the_file_keeps_the_one_it_has() {
    let (_dir, control) = control();
    apply(&control, &GatewayFile::parse(FILE).unwrap())
        .await
        .unwrap();
    let group = control.group_by_name("shop").await.unwrap().unwrap();
    let mut domain = control
        .domains(&group.group_id)
        .await
        .unwrap()
        .pop()
        .unwrap();
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let body = ck.cert.pem();
    domain.certificate = Some(apigw_model::DomainCertificate {
        certificate_name: "c".into(),
        certificate_body: body.clone(),
        certificate_private_key: ck.signing_key.serialize_pem(),
    });
    control.set_domain(domain).await.unwrap();
    assert!(apply(&control, &GatewayFile::parse(FILE).unwrap())
        .await
        .unwrap()
        .is_empty());
    let kept = control
        .domains(&group.group_id)
        .await
        .unwrap()
        .pop()
        .unwrap();
    assert_eq!(kept.certificate.unwrap().certificate_body, body);
}
