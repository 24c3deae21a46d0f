//! Domain certificates (the check every write passes) and batch deploy/abolish tasks, against
//! a real SQLite store.

use apigw_control::{check_certificate, BatchItem, Control, TaskKind};
use apigw_model::{ApiDefinition, Domain, DomainCertificate, Stage};
use apigw_store::SqliteStore;
use std::sync::Arc;

fn control() -> (tempfile::TempDir, Control) {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path()).unwrap();
    (dir, Control::new(Arc::new(store)))
}

/// A self-signed certificate for `name` valid from `from` to `to` (y, m, d): (PEM, key PEM).
fn cert(name: &str, from: (i32, u8, u8), to: (i32, u8, u8)) -> (String, String) {
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.not_before = rcgen::date_time_ymd(from.0, from.1, from.2);
    params.not_after = rcgen::date_time_ymd(to.0, to.1, to.2);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

fn code(r: Result<impl std::fmt::Debug, impl std::fmt::Debug>) -> String {
    let e = format!("{:?}", r.expect_err("should be refused"));
    e.split("code: \"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or(&e)
        .to_string()
}

#[test]
fn a_matching_pair_passes_with_its_validity_and_a_stable_id() {
    // 2060 is past 2049, so notAfter is a GeneralizedTime and notBefore a UTCTime.
    let (body, key) = cert("a.example.com", (2020, 1, 1), (2060, 6, 1));
    let info = check_certificate(&body, &key).unwrap();
    assert_eq!(info.valid_start_ms, 1_577_836_800_000);
    assert_eq!(info.valid_end_ms, 2_853_273_600_000);
    assert_eq!(info.certificate_id.len(), 32);
    assert!(info.certificate_id.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(
        apigw_control::certificate_info(&body).unwrap(),
        info,
        "the id depends on the certificate only"
    );
    let (other, _) = cert("a.example.com", (2020, 1, 1), (2060, 6, 1));
    assert_ne!(
        apigw_control::certificate_info(&other)
            .unwrap()
            .certificate_id,
        info.certificate_id
    );
}

#[test]
fn each_certificate_problem_has_its_code() {
    let (body, key) = cert("a.example.com", (2020, 1, 1), (2060, 6, 1));
    let (_, other_key) = cert("a.example.com", (2020, 1, 1), (2060, 6, 1));
    assert_eq!(
        code(check_certificate(&body, &other_key)),
        "CertificateKeyMismatch"
    );

    let pkcs8_encrypted =
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIBvTBXBgkqhkiG9w0BBQ0wSjApBgkqhkiG9w0BBQwwHAQI\n-----END ENCRYPTED PRIVATE KEY-----\n";
    assert_eq!(
        code(check_certificate(&body, pkcs8_encrypted)),
        "CertificatePrivateKeyEncrypted"
    );
    let traditional = key.replacen(
        "-----\n",
        "-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,0123456789ABCDEF0123456789ABCDEF\n\n",
        1,
    );
    assert_eq!(
        code(check_certificate(&body, &traditional)),
        "CertificatePrivateKeyEncrypted"
    );

    let not_base64 = "-----BEGIN CERTIFICATE-----\nnot*base64!\n-----END CERTIFICATE-----\n";
    assert_eq!(
        code(check_certificate(not_base64, &key)),
        "CertificateInvalid"
    );
    let truncated = &body[..body.len() / 2];
    assert_eq!(
        code(check_certificate(truncated, &key)),
        "CertificateInvalid"
    );
    assert_eq!(
        code(check_certificate(&key, &key)),
        "CertificateInvalid",
        "a key where the certificate belongs"
    );
    let not_der = "-----BEGIN CERTIFICATE-----\naGVsbG8gd29ybGQ=\n-----END CERTIFICATE-----\n";
    assert_eq!(code(check_certificate(not_der, &key)), "CertificateInvalid");

    assert_eq!(
        code(check_certificate(&body, "not a key")),
        "CertificatePrivateKeyInvalid"
    );
    assert_eq!(
        code(check_certificate(&body, &body)),
        "CertificatePrivateKeyInvalid",
        "a certificate where the key belongs"
    );
    assert_eq!(code(check_certificate("", &key)), "MissingCertificateBody");
    assert_eq!(
        code(check_certificate(&body, " ")),
        "MissingCertificatePrivateKey"
    );

    let (old, old_key) = cert("a.example.com", (2001, 1, 1), (2002, 1, 1));
    assert_eq!(
        code(check_certificate(&old, &old_key)),
        "CertificateExpired"
    );
}

#[tokio::test]
async fn domain_certificates_are_checked_on_every_write() {
    let (_dir, c) = control();
    let g = c.create_group("certs", "", None).await.unwrap();
    let (body, key) = cert("a.example.com", (2020, 1, 1), (2060, 6, 1));
    let (_, other_key) = cert("a.example.com", (2020, 1, 1), (2060, 6, 1));
    let with = |k: &str| DomainCertificate {
        certificate_name: "a".into(),
        certificate_body: body.clone(),
        certificate_private_key: k.into(),
    };
    // Not bound yet.
    assert_eq!(
        code(
            c.set_domain_certificate(&g.group_id, "a.example.com", with(&key))
                .await
        ),
        "NotFoundDomain"
    );
    // SetDomain (and apply, which calls it) gets the same check.
    let domain = Domain {
        domain_name: "a.example.com".into(),
        group_id: g.group_id.clone(),
        bind_stage_name: None,
        certificate: Some(with(&other_key)),
        web_socket: Default::default(),
    };
    assert_eq!(
        code(c.set_domain(domain.clone()).await),
        "CertificateKeyMismatch"
    );
    assert!(c.domains(&g.group_id).await.unwrap().is_empty());
    c.set_domain(Domain {
        certificate: None,
        ..domain
    })
    .await
    .unwrap();

    assert_eq!(
        code(
            c.set_domain_certificate(&g.group_id, "a.example.com", with(&other_key))
                .await
        ),
        "CertificateKeyMismatch"
    );
    assert!(c
        .domain(&g.group_id, "a.example.com")
        .await
        .unwrap()
        .certificate
        .is_none());
    c.set_domain_certificate(&g.group_id, "a.example.com", with(&key))
        .await
        .unwrap();
    let live = c.store().load_live().await.unwrap();
    assert_eq!(
        live.domains[0]
            .certificate
            .as_ref()
            .unwrap()
            .certificate_body,
        body
    );

    let id = check_certificate(&body, &key).unwrap().certificate_id;
    assert_eq!(
        code(
            c.delete_domain_certificate(&g.group_id, "a.example.com", "0123")
                .await
        ),
        "DomainCertificateNotFound"
    );
    c.delete_domain_certificate(&g.group_id, "a.example.com", &id)
        .await
        .unwrap();
    assert_eq!(
        code(
            c.delete_domain_certificate(&g.group_id, "a.example.com", &id)
                .await
        ),
        "DomainCertificateNotFound"
    );
    assert!(c
        .domain(&g.group_id, "a.example.com")
        .await
        .unwrap()
        .certificate
        .is_none());
}

fn mock_api(group_id: &str, name: &str, path: &str) -> ApiDefinition {
    serde_json::from_value(serde_json::json!({
        "GroupId": group_id, "ApiName": name, "AuthType": "ANONYMOUS",
        "RequestConfig": {"RequestHttpMethod": "GET", "RequestPath": path},
        "ServiceConfig": {"Mock": "TRUE", "MockResult": name},
    }))
    .unwrap()
}

#[tokio::test]
async fn batches_run_each_api_and_stay_describable() {
    let (_dir, c) = control();
    let g = c.create_group("batch", "", None).await.unwrap();
    let a = c
        .create_api(mock_api(&g.group_id, "api_a", "/a"))
        .await
        .unwrap();
    let b = c
        .create_api(mock_api(&g.group_id, "api_b", "/b"))
        .await
        .unwrap();
    let item = |id: &str, stage| BatchItem {
        api_id: id.into(),
        group_id: Some(g.group_id.clone()),
        stage,
    };
    let task = c
        .batch_deploy(
            &[
                item(&a.api_id, Stage::Release),
                item("0123456789abcdef0123456789abcdef", Stage::Release),
                BatchItem {
                    group_id: Some("another".into()),
                    ..item(&b.api_id, Stage::Release)
                },
                item(&b.api_id, Stage::Release),
            ],
            "batch",
        )
        .await
        .unwrap();
    let codes: Vec<Option<&str>> = task
        .results
        .iter()
        .map(|r| r.error.as_ref().map(|e| e.code.as_str()))
        .collect();
    assert_eq!(
        codes,
        [None, Some("NotFoundApi"), Some("NotFoundApi"), None]
    );
    assert_eq!(task.results[3].api_name, "api_b");
    assert_eq!(task.results[3].group_name, "batch");
    let live = c.store().load_live().await.unwrap();
    assert_eq!(live.deployments.len(), 2);
    assert_eq!(
        c.deployed(&a.api_id, Stage::Release)
            .await
            .unwrap()
            .description,
        "batch"
    );
    assert_eq!(c.task(TaskKind::Deploy, &task.operation_id).unwrap(), task);
    assert_eq!(
        code(c.task(TaskKind::Abolish, &task.operation_id)),
        "NotFoundOperation"
    );
    assert_eq!(
        code(c.as_account(7).task(TaskKind::Deploy, &task.operation_id)),
        "NotFoundOperation"
    );

    let abolished = c
        .batch_abolish(&[
            item(&a.api_id, Stage::Release),
            item(&b.api_id, Stage::Test),
        ])
        .await
        .unwrap();
    assert!(abolished.results[0].error.is_none());
    assert_eq!(
        abolished.results[1].error.as_ref().unwrap().code,
        "NotFoundStage"
    );
    assert_eq!(
        code(c.deployed(&a.api_id, Stage::Release).await),
        "NotFoundStage"
    );
    assert!(c.deployed(&b.api_id, Stage::Release).await.is_ok());
    assert_eq!(code(c.batch_deploy(&[], "").await), "MissingApi");
}
