//! The core management actions of issue 12 (DescribeDeployedApi, DescribeApiHistory,
//! DescribeAppAttributes, DescribeDomain, Set/DeleteDomainCertificate, BatchDeployApis,
//! BatchAbolishApis and their task descriptions) through the official Tea SDK and, where it has
//! the action, the legacy SDK, against the real binary and its data plane (HTTP and HTTPS).

mod support;

use bytes::Bytes;
use http::Request;
use http_body_util::Empty;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use support::{mgmt_call, Gateway, Resp};

const AK: (&str, &str) = ("coreid", "coresecret-0001");

/// The legacy SDK has request classes for these, not for the batch actions.
const BOTH: [&str; 2] = ["tea", "legacy"];

fn start() -> Gateway {
    Gateway::start_in_with_env(
        tempfile::tempdir().unwrap(),
        &[
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ],
    )
}

/// Members of DescribeApi that the models of DescribeDeployedApi / DescribeApiHistory lack;
/// they echo the stored definition and may return them (section 5 of the spec).
const DESCRIBE_API_ONLY: [&str; 5] = [
    "CreatedTime",
    "ModifiedTime",
    "Mock",
    "MockResult",
    "RequestConfig.EscapePathParam",
];

/// The body of a successful call. Members the Tea response model does not know (a misspelt
/// member would show there) are refused, but for [`DESCRIBE_API_ONLY`].
fn ok(out: Value, what: &str) -> Value {
    assert_eq!(out["ok"], true, "{what}: {out}");
    if let Some(unknown) = out["unknown_fields"].as_array() {
        let echoes = ["DescribeDeployedApi", "DescribeApiHistory"].contains(&what);
        for u in unknown {
            let u = u.as_str().unwrap();
            assert!(
                echoes && DESCRIBE_API_ONLY.contains(&u),
                "{what}: unknown to the SDK model: {u}"
            );
        }
    }
    assert!(out["body"]["RequestId"].is_string(), "{what}: {out}");
    out["body"].clone()
}

use support::refused_call as err;

fn code(out: &Value) -> (u64, String) {
    let (status, code, _) = err(out);
    (status, code)
}

fn refused(status: u64, code: &str) -> (u64, String) {
    (status, code.to_string())
}

/// CreateApiGroup `name` and SetDomain `host` on it; the GroupId.
fn group_on(call: &impl Fn(&str, Value) -> Value, name: &str, host: &str) -> String {
    let g = ok(
        call("CreateApiGroup", json!({"GroupName": name})),
        "CreateApiGroup",
    );
    let gid = g["GroupId"].as_str().unwrap().to_string();
    ok(
        call("SetDomain", json!({"GroupId": gid, "DomainName": host})),
        "SetDomain",
    );
    gid
}

/// CreateApi/ModifyApi parameters of an anonymous GET mock answering `result`.
fn mock_params(gid: &str, name: &str, path: &str, result: &str) -> Value {
    json!({
        "GroupId": gid, "ApiName": name, "Visibility": "PRIVATE", "AuthType": "ANONYMOUS",
        "ResultType": "TEXT", "ResultSample": result,
        "RequestConfig": json!({"RequestProtocol": "HTTP,HTTPS", "RequestHttpMethod": "GET",
            "RequestPath": path, "RequestMode": "PASSTHROUGH"}).to_string(),
        "ServiceConfig": json!({"Mock": "TRUE", "MockResult": result, "MockStatusCode": 200,
            "ServiceTimeout": 3000}).to_string(),
    })
}

fn create_mock(call: &impl Fn(&str, Value) -> Value, gid: &str, name: &str, path: &str) -> String {
    let api = ok(
        call("CreateApi", mock_params(gid, name, path, name)),
        "CreateApi",
    );
    api["ApiId"].as_str().unwrap().to_string()
}

async fn body_of(gw: &Gateway, host: &str, path: &str) -> (u16, String) {
    let r = support::get(gw.http, host, path).await;
    (r.status.as_u16(), r.text())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployed_api_and_history_versions_through_both_sdks() {
    let gw = start();
    for client in BOTH {
        let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, client, action, params);
        let host = format!("hist-{client}.localhost");
        let gid = group_on(&call, &format!("core_hist_{client}"), &host);
        let api_id = create_mock(&call, &gid, "hello", "/hello");
        let deploy = |description: &str| {
            ok(
                call(
                    "DeployApi",
                    json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE",
                           "Description": description}),
                ),
                "DeployApi",
            )
        };
        deploy("first");
        let mut second = mock_params(&gid, "hello", "/hello", "second answer");
        second["ApiId"] = json!(api_id);
        ok(call("ModifyApi", second), "ModifyApi");
        deploy("second");
        support::eventually(|| async {
            body_of(&gw, &host, "/hello").await == (200, "second answer".into())
        })
        .await;

        let live = ok(
            call(
                "DescribeDeployedApi",
                json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE"}),
            ),
            "DescribeDeployedApi",
        );
        assert_eq!(live["StageName"], "RELEASE", "{client}: {live}");
        assert_eq!(live["ApiId"], api_id.as_str());
        assert_eq!(live["ApiName"], "hello");
        assert_eq!(live["GroupName"], format!("core_hist_{client}"));
        assert_eq!(live["RequestConfig"]["RequestPath"], "/hello");
        assert_eq!(live["ServiceConfig"]["MockResult"], "second answer");
        assert!(live["DeployedTime"].as_str().unwrap().ends_with('Z'));

        // Not deployed in TEST: the documented NotFound error.
        let (status, c, message) = err(&call(
            "DescribeDeployedApi",
            json!({"ApiId": api_id, "StageName": "TEST"}),
        ));
        assert_eq!((status, c.as_str()), (400, "NotFoundStage"), "{client}");
        assert!(message.contains("not deployed in TEST"), "{message}");
        assert_eq!(
            code(&call(
                "DescribeDeployedApi",
                json!({"GroupId": "0123456789abcdef0123456789abcdef", "ApiId": api_id,
                       "StageName": "RELEASE"}),
            )),
            refused(400, "NotFoundApi")
        );
        assert_eq!(
            code(&call(
                "DescribeDeployedApi",
                json!({"ApiId": api_id, "StageName": "PROD"}),
            )),
            refused(400, "InvalidStageName")
        );

        let history = ok(
            call(
                "DescribeHistoryApis",
                json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE"}),
            ),
            "DescribeHistoryApis",
        );
        let items = history["ApiHisItems"]["ApiHisItem"].as_array().unwrap();
        assert_eq!(items.len(), 2, "{history}");
        let version = |status: &str| {
            items.iter().find(|i| i["Status"] == status).unwrap()["HistoryVersion"]
                .as_str()
                .unwrap()
                .to_string()
        };
        let (old, current) = (version("OFFLINE"), version("ONLINE"));
        let describe = |v: &str| {
            call(
                "DescribeApiHistory",
                json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE",
                       "HistoryVersion": v}),
            )
        };
        let first = ok(describe(&old), "DescribeApiHistory");
        assert_eq!(first["HistoryVersion"], old.as_str(), "{client}: {first}");
        assert_eq!(first["Status"], "OFFLINE");
        assert_eq!(first["StageName"], "RELEASE");
        assert_eq!(first["ServiceConfig"]["MockResult"], "hello");
        assert_eq!(first["ApiName"], "hello");
        let now = ok(describe(&current), "DescribeApiHistory");
        assert_eq!(now["Status"], "ONLINE");
        assert_eq!(now["ServiceConfig"]["MockResult"], "second answer");
        assert_eq!(
            code(&describe("20000101000000000")),
            refused(400, "NotFoundHistoryVersion")
        );
        assert_eq!(
            code(&call(
                "DescribeApiHistory",
                json!({"ApiId": api_id, "HistoryVersion": old}),
            )),
            refused(400, "MissingStageName")
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_deploy_and_abolish_are_describable_tasks() {
    let gw = start();
    // BatchDeployApis & co. exist in the Tea SDK only.
    let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, "tea", action, params);
    let host = "batch.localhost";
    let gid = group_on(&call, "core_batch", host);
    let a = create_mock(&call, &gid, "api_a", "/a");
    let b = create_mock(&call, &gid, "api_b", "/b");
    let unknown = "0123456789abcdef0123456789abcdef";

    let op = ok(
        call(
            "BatchDeployApis",
            json!({"StageName": "RELEASE", "Description": "batch", "Api": [
                {"ApiUid": a, "GroupId": gid}, {"ApiUid": unknown}, {"ApiUid": b, "GroupId": gid}]}),
        ),
        "BatchDeployApis",
    )["OperationId"]
        .as_str()
        .unwrap()
        .to_string();
    let task = ok(
        call("DescribeDeployApiTask", json!({"OperationUid": op})),
        "DescribeDeployApiTask",
    );
    let results = task["DeployedResults"]["DeployedResult"]
        .as_array()
        .unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["DeployedStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["OVER", "FAILED", "OVER"], "{task}");
    assert_eq!(results[0]["ApiUid"], a.as_str());
    assert_eq!(results[0]["GroupId"], gid.as_str());
    assert_eq!(results[0]["StageName"], "RELEASE");
    assert_eq!(results[1]["ApiUid"], unknown);
    assert!(
        results[1]["ErrorMsg"]
            .as_str()
            .unwrap()
            .starts_with("NotFoundApi: "),
        "{task}"
    );
    for path in ["/a", "/b"] {
        support::eventually(|| async { body_of(&gw, host, path).await.0 == 200 }).await;
    }
    let history = ok(
        call("DescribeHistoryApis", json!({"GroupId": gid, "ApiId": a})),
        "DescribeHistoryApis",
    );
    assert_eq!(
        history["ApiHisItems"]["ApiHisItem"][0]["Description"],
        "batch"
    );

    assert_eq!(
        code(&call("DescribeAbolishApiTask", json!({"OperationUid": op}))),
        refused(400, "NotFoundOperation"),
        "a deploy task is not an abolish task"
    );
    assert_eq!(
        code(&call(
            "DescribeDeployApiTask",
            json!({"OperationUid": "nothing"})
        )),
        refused(400, "NotFoundOperation")
    );
    assert_eq!(
        code(&call(
            "BatchDeployApis",
            json!({"StageName": "RELEASE", "Description": "none", "Api": []}),
        )),
        refused(400, "MissingApi")
    );
    assert_eq!(
        code(&call(
            "BatchDeployApis",
            json!({"Description": "no stage", "Api": [{"ApiUid": a}]}),
        )),
        refused(400, "MissingStageName")
    );

    let op = ok(
        call(
            "BatchAbolishApis",
            json!({"Api": [
                {"ApiUid": a, "GroupId": gid, "StageName": "RELEASE"},
                {"ApiUid": b, "GroupId": gid, "StageId": "release"},
                {"ApiUid": a, "GroupId": gid, "StageName": "TEST"}]}),
        ),
        "BatchAbolishApis",
    )["OperationId"]
        .as_str()
        .unwrap()
        .to_string();
    let task = ok(
        call("DescribeAbolishApiTask", json!({"OperationUid": op})),
        "DescribeAbolishApiTask",
    );
    let results = task["ApiAbolishResults"]["ApiAbolishResult"]
        .as_array()
        .unwrap();
    let statuses: Vec<&str> = results
        .iter()
        .map(|r| r["AbolishStatus"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["OVER", "OVER", "FAILED"], "{task}");
    assert_eq!(results[0]["ApiName"], "api_a");
    assert_eq!(results[0]["GroupName"], "core_batch");
    assert_eq!(results[1]["StageName"], "RELEASE");
    assert_eq!(results[1]["StageId"], "release");
    assert!(
        results[2]["ErrorMsg"]
            .as_str()
            .unwrap()
            .starts_with("NotFoundStage: "),
        "{task}"
    );
    for path in ["/a", "/b"] {
        support::eventually(|| async {
            support::get(gw.http, host, path).await.code() == Some("I404NF")
        })
        .await;
    }
    assert_eq!(
        code(&call(
            "BatchAbolishApis",
            json!({"Api": [{"ApiUid": a, "GroupId": gid}]}),
        )),
        refused(400, "MissingStageName")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_attributes_filter_sort_and_page_through_both_sdks() {
    let gw = start();
    for client in BOTH {
        let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, client, action, params);
        let prefix = format!("attr_{client}_");
        let mut ids = Vec::new();
        let first_extend = format!("first of {client}");
        for (n, extend) in [(1, first_extend.as_str()), (2, ""), (3, "")] {
            let app = ok(
                call(
                    "CreateApp",
                    json!({"AppName": format!("{prefix}{n}"), "Description": "d", "Extend": extend}),
                ),
                "CreateApp",
            );
            ids.push(app["AppId"].as_i64().unwrap());
        }
        let list = |params: Value| {
            ok(
                call("DescribeAppAttributes", params),
                "DescribeAppAttributes",
            )
        };
        let app_ids = |body: &Value| -> Vec<i64> {
            body["Apps"]["AppAttribute"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["AppId"].as_i64().unwrap())
                .collect()
        };

        let all = list(json!({"AppName": prefix}));
        assert_eq!(all["TotalCount"], 3, "{client}: {all}");
        let first = &all["Apps"]["AppAttribute"][0];
        assert!(first["AppName"].as_str().unwrap().starts_with(&prefix));
        assert_eq!(first["Description"], "d");
        assert_eq!(first["Disabled"], false);
        assert!(first["CreatedTime"].as_str().unwrap().ends_with('Z'));
        assert!(first["ModifiedTime"].as_str().unwrap().ends_with('Z'));
        assert_eq!(first["Tags"]["TagInfo"], json!([]));

        let mut sorted = ids.clone();
        sorted.sort();
        let desc = app_ids(&all);
        let asc = app_ids(&list(json!({"AppName": prefix, "Sort": "asc"})));
        assert_eq!(desc.iter().rev().copied().collect::<Vec<_>>(), asc);
        let mut seen = desc.clone();
        seen.sort();
        assert_eq!(seen, sorted);

        let page = list(json!({"AppName": prefix, "PageSize": 2, "PageNumber": 2}));
        assert_eq!(page["TotalCount"], 3);
        assert_eq!(page["PageNumber"], 2);
        assert_eq!(page["PageSize"], 2);
        assert_eq!(app_ids(&page), [desc[2]]);

        let by_id = list(json!({"AppId": ids[1]}));
        assert_eq!(app_ids(&by_id), [ids[1]]);
        assert_eq!(
            by_id["Apps"]["AppAttribute"][0]["AppName"],
            format!("{prefix}2")
        );
        let security = ok(
            call("DescribeAppSecurity", json!({"AppId": ids[2]})),
            "DescribeAppSecurity",
        );
        assert_eq!(
            app_ids(&list(json!({"AppKey": security["AppKey"]}))),
            [ids[2]]
        );
        assert_eq!(
            app_ids(&list(json!({"AppCode": security["AppCode"]}))),
            [ids[2]]
        );
        assert_eq!(app_ids(&list(json!({"Extend": first_extend}))), [ids[0]]);

        ok(
            call("ModifyApp", json!({"AppId": ids[0], "Disabled": "true"})),
            "ModifyApp",
        );
        let disabled = list(json!({"AppId": ids[0]}));
        assert_eq!(disabled["Apps"]["AppAttribute"][0]["Disabled"], true);

        let tagged = list(json!({"AppName": prefix, "Tag": [{"Key": "env", "Value": "prod"}]}));
        assert_eq!(tagged["TotalCount"], 0, "apps carry no tags: {tagged}");
        assert_eq!(
            code(&call("DescribeAppAttributes", json!({"Sort": "sideways"}))),
            refused(400, "InvalidSort")
        );
        assert_eq!(
            code(&call("DescribeAppAttributes", json!({"PageSize": 500}))),
            refused(400, "InvalidPageSize")
        );
    }
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

/// `key_pem` encrypted with a passphrase by Python's `cryptography` (installed with the legacy
/// SDK): PKCS#8 `ENCRYPTED PRIVATE KEY`, or OpenSSL's traditional form with `Proc-Type`.
fn encrypted(key_pem: &str, traditional: bool) -> String {
    const SCRIPT: &str = "import sys\n\
from cryptography.hazmat.primitives import serialization as s\n\
k = s.load_pem_private_key(sys.stdin.buffer.read(), None)\n\
f = s.PrivateFormat.TraditionalOpenSSL if sys.argv[1] == 'traditional' else s.PrivateFormat.PKCS8\n\
sys.stdout.buffer.write(k.private_bytes(s.Encoding.PEM, f, s.BestAvailableEncryption(b'passphrase')))\n";
    use std::io::Write;
    let python = support::management_sdks().join("mgmt/bin/python");
    let mut child = std::process::Command::new(python)
        .args([
            "-c",
            SCRIPT,
            if traditional { "traditional" } else { "pkcs8" },
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(key_pem.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

/// GET `path` over HTTPS with SNI `name`, trusting only `root`; an error when the handshake
/// fails (e.g. the gateway has no certificate for `name`).
async fn https_get(
    addr: SocketAddr,
    name: &str,
    root: &CertificateDer<'static>,
    path: &str,
) -> std::io::Result<Resp> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(cfg));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let server_name = ServerName::try_from(name.to_string()).unwrap();
    let tls = tokio::time::timeout(Duration::from_secs(5), connector.connect(server_name, tcp))
        .await
        .map_err(|_| std::io::Error::other("TLS handshake timed out"))??;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(conn);
    let req = Request::builder()
        .uri(path)
        .header("host", name)
        .body(Empty::<Bytes>::new())
        .unwrap();
    let resp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    Ok(support::read(resp).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn domain_certificates_are_checked_and_served_by_sni_through_both_sdks() {
    let gw = start();
    for client in BOTH {
        let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, client, action, params);
        let host = format!("cert-{client}.example.com");
        let gid = group_on(&call, &format!("core_cert_{client}"), &host);
        let api_id = create_mock(&call, &gid, "secure", "/secure");
        ok(
            call(
                "DeployApi",
                json!({"ApiId": api_id, "StageName": "RELEASE", "Description": "tls"}),
            ),
            "DeployApi",
        );
        let (body, key) = cert(&host, (2020, 1, 1), (2060, 6, 1));
        let root = CertificateDer::from_pem_slice(body.as_bytes()).unwrap();

        let domain = ok(
            call(
                "DescribeDomain",
                json!({"GroupId": gid, "DomainName": host}),
            ),
            "DescribeDomain",
        );
        assert_eq!(domain["DomainName"], host.as_str(), "{client}: {domain}");
        assert_eq!(domain["GroupId"], gid.as_str());
        assert!(domain["SubDomain"].as_str().unwrap().starts_with(&gid));
        assert_eq!(domain["DomainBindingStatus"], "BINDING");
        assert_eq!(domain["DomainLegalStatus"], "NORMAL");
        assert!(domain["CertificateName"].is_null(), "{domain}");
        assert!(
            https_get(gw.https, &host, &root, "/secure").await.is_err(),
            "no certificate yet"
        );
        assert_eq!(
            code(&call(
                "DescribeDomain",
                json!({"GroupId": gid, "DomainName": "other.example.com"}),
            )),
            refused(400, "NotFoundDomain")
        );

        let set = |body: &str, key: &str| {
            call(
                "SetDomainCertificate",
                json!({"GroupId": gid, "DomainName": host, "CertificateName": "main",
                       "CertificateBody": body, "CertificatePrivateKey": key}),
            )
        };
        let (_, other_key) = cert(&host, (2020, 1, 1), (2060, 6, 1));
        let (status, c, message) = err(&set(&body, &other_key));
        assert_eq!((status, c.as_str()), (400, "CertificateKeyMismatch"));
        assert!(message.contains("does not belong"), "{message}");
        for traditional in [false, true] {
            let (status, c, message) = err(&set(&body, &encrypted(&key, traditional)));
            assert_eq!(
                (status, c.as_str()),
                (400, "CertificatePrivateKeyEncrypted"),
                "traditional: {traditional}"
            );
            assert!(message.contains("encrypted"), "{message}");
        }
        let (status, c, message) = err(&set(&body[..body.len() / 2], &key));
        assert_eq!((status, c.as_str()), (400, "CertificateInvalid"));
        assert!(message.contains("PEM"), "{message}");
        assert_eq!(
            code(&set(
                &body,
                "-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"
            )),
            refused(400, "CertificatePrivateKeyInvalid")
        );
        let (old, old_key) = cert(&host, (2001, 1, 1), (2002, 1, 1));
        assert_eq!(
            code(&set(&old, &old_key)),
            refused(400, "CertificateExpired")
        );
        assert_eq!(
            code(&call(
                "SetDomainCertificate",
                json!({"GroupId": gid, "DomainName": host, "CertificateBody": body,
                       "CertificatePrivateKey": key}),
            )),
            refused(400, "MissingCertificateName")
        );
        assert_eq!(
            code(&call(
                "SetDomainCertificate",
                json!({"GroupId": gid, "DomainName": "unbound.example.com",
                       "CertificateName": "x", "CertificateBody": body,
                       "CertificatePrivateKey": key}),
            )),
            refused(400, "NotFoundDomain")
        );
        let refused_ones = ok(
            call(
                "DescribeDomain",
                json!({"GroupId": gid, "DomainName": host}),
            ),
            "DescribeDomain",
        );
        assert!(
            refused_ones["CertificateName"].is_null(),
            "nothing refused was stored"
        );

        ok(set(&body, &key), "SetDomainCertificate");
        let domain = ok(
            call(
                "DescribeDomain",
                json!({"GroupId": gid, "DomainName": host}),
            ),
            "DescribeDomain",
        );
        assert_eq!(domain["CertificateName"], "main");
        assert_eq!(domain["CertificateBody"], body.as_str());
        assert_eq!(domain["CertificateValidStart"], 1_577_836_800_000_i64);
        assert_eq!(domain["CertificateValidEnd"], 2_853_273_600_000_i64);
        assert!(
            domain["CertificatePrivateKey"].is_null(),
            "the key is never returned"
        );
        let cert_id = domain["CertificateId"].as_str().unwrap().to_string();
        assert_eq!(cert_id.len(), 32);

        // The HTTPS listener now serves it for the host, by SNI.
        let mut served = None;
        for _ in 0..100 {
            if let Ok(r) = https_get(gw.https, &host, &root, "/secure").await {
                served = Some(r);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let served = served.expect("the HTTPS listener serves the new certificate");
        assert_eq!(served.status, 200);
        assert_eq!(served.text(), "secure");

        assert_eq!(
            code(&call(
                "DeleteDomainCertificate",
                json!({"GroupId": gid, "DomainName": host,
                       "CertificateId": "0123456789abcdef0123456789abcdef"}),
            )),
            refused(400, "DomainCertificateNotFound")
        );
        ok(
            call(
                "DeleteDomainCertificate",
                json!({"GroupId": gid, "DomainName": host, "CertificateId": cert_id}),
            ),
            "DeleteDomainCertificate",
        );
        let domain = ok(
            call(
                "DescribeDomain",
                json!({"GroupId": gid, "DomainName": host}),
            ),
            "DescribeDomain",
        );
        assert!(domain["CertificateId"].is_null(), "{domain}");
        support::eventually(|| async {
            https_get(gw.https, &host, &root, "/secure").await.is_err()
        })
        .await;
    }
}

#[test]
fn apply_gets_the_same_certificate_check() {
    let dir = tempfile::tempdir().unwrap();
    let (body, _) = cert("apply.example.com", (2020, 1, 1), (2060, 6, 1));
    let (_, other_key) = cert("apply.example.com", (2020, 1, 1), (2060, 6, 1));
    let yaml = format!(
        "Groups:\n  - GroupName: applied\n    Domains:\n      - DomainName: apply.example.com\n        Certificate: {{CertificateName: c, CertificateBody: {}, CertificatePrivateKey: {}}}\n",
        serde_json::to_string(&body).unwrap(),
        serde_json::to_string(&other_key).unwrap()
    );
    let out = support::apply(dir.path(), &yaml).expect_err("a mismatched key is refused");
    assert!(out.contains("CertificateKeyMismatch"), "{out}");
}
