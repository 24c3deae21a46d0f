//! The management OpenAPI driven by the official Python SDKs (`alibabacloud-cloudapi20160714`
//! with the V3 signature and with V1, and the legacy `aliyun-python-sdk-core` over GET and
//! POST), against the real binary: a whole provider workflow, and the documented errors.

mod support;

use serde_json::{json, Value};
use support::{mgmt_call, send, Gateway};

const AK: (&str, &str) = ("testid", "testsecret-0001");

fn start() -> Gateway {
    Gateway::start_in_with_env(
        tempfile::tempdir().unwrap(),
        &[
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ],
    )
}

fn ok(out: Value, what: &str) -> Value {
    assert_eq!(out["ok"], true, "{what}: {out}");
    // Members the SDK's response model does not know (a misspelt member would show here).
    // DescribeApi echoes what the caller stored, which may hold members of its own.
    if let Some(unknown) = out["unknown_fields"].as_array() {
        assert!(
            what == "DescribeApi" || unknown.is_empty(),
            "{what}: {unknown:?}"
        );
    }
    assert!(out["body"]["RequestId"].is_string(), "{what}: {out}");
    out["body"].clone()
}

fn err(out: &Value) -> (u64, &str) {
    assert_eq!(out["ok"], false, "{out}");
    (
        out["status"].as_u64().unwrap_or(0),
        out["code"].as_str().unwrap_or(""),
    )
}

/// CreateApiGroup `name` and SetDomain `host` on it, through `call`; the GroupId.
fn group_on(call: &impl Fn(&str, Value) -> Value, name: &str, host: &str) -> String {
    let group = ok(
        call("CreateApiGroup", json!({"GroupName": name})),
        "CreateApiGroup",
    );
    let gid = group["GroupId"].as_str().unwrap().to_string();
    ok(
        call("SetDomain", json!({"GroupId": gid, "DomainName": host})),
        "SetDomain",
    );
    gid
}

/// DeployApi to RELEASE through `call`.
fn deploy(call: &impl Fn(&str, Value) -> Value, gid: &str, api_id: &str) {
    ok(
        call(
            "DeployApi",
            json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE", "Description": "v1"}),
        ),
        "DeployApi",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_workflow_through_each_official_sdk() {
    let backend = support::backend().await;
    let gw = start();
    for (i, client) in ["tea", "tea-v1", "legacy", "legacy-post"]
        .iter()
        .enumerate()
    {
        let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, client, action, params);
        let group = ok(
            call(
                "CreateApiGroup",
                json!({"GroupName": format!("shop_{i}"), "Description": "d"}),
            ),
            "CreateApiGroup",
        );
        let group_id = group["GroupId"].as_str().unwrap().to_string();
        assert!(group["SubDomain"].as_str().unwrap().starts_with(&group_id));
        let host = format!("shop{i}.localhost");
        ok(
            call(
                "SetDomain",
                json!({"GroupId": group_id, "DomainName": host}),
            ),
            "SetDomain",
        );
        let api = ok(
            call(
                "CreateApi",
                json!({
                    "GroupId": group_id, "ApiName": "get_user", "Visibility": "PRIVATE",
                    "AuthType": "APP", "ResultType": "JSON", "ResultSample": "{}",
                    "RequestConfig": json!({"RequestProtocol": "HTTP,HTTPS", "RequestHttpMethod": "GET",
                        "RequestPath": "/users/[userId]", "RequestMode": "MAPPING"}).to_string(),
                    "ServiceConfig": json!({"ServiceProtocol": "HTTP", "ServiceAddress": format!("http://{backend}"),
                        "ServicePath": "/u/[userId]", "ServiceHttpMethod": "GET", "ServiceTimeout": 3000,
                        "ContentTypeCatagory": "CLIENT", "Mock": "FALSE"}).to_string(),
                    "RequestParameters": json!([{"ApiParameterName": "userId", "Location": "PATH",
                        "ParameterType": "String", "Required": "REQUIRED"}]).to_string(),
                    "ServiceParameters": json!([{"ServiceParameterName": "userId", "Location": "PATH",
                        "ParameterType": "STRING", "ParameterCatalog": "REQUEST"}]).to_string(),
                    "ServiceParametersMap": json!([{"ServiceParameterName": "userId",
                        "RequestParameterName": "userId"}]).to_string(),
                }),
            ),
            "CreateApi",
        );
        let api_id = api["ApiId"].as_str().unwrap().to_string();
        let described = ok(call("DescribeApi", json!({"ApiId": api_id})), "DescribeApi");
        assert_eq!(described["ApiName"], "get_user");
        assert_eq!(described["RequestConfig"]["RequestPath"], "/users/[userId]");
        assert_eq!(
            described["RequestParameters"]["RequestParameter"][0]["ApiParameterName"],
            "userId"
        );
        let app = ok(
            call("CreateApp", json!({"AppName": format!("client_{i}")})),
            "CreateApp",
        );
        let app_id = app["AppId"].as_i64().unwrap();
        ok(
            call(
                "SetAppsAuthorities",
                json!({"GroupId": group_id, "ApiId": api_id, "AppIds": app_id.to_string(), "StageName": "RELEASE"}),
            ),
            "SetAppsAuthorities",
        );
        ok(
            call(
                "DeployApi",
                json!({"GroupId": group_id, "ApiId": api_id, "StageName": "RELEASE", "Description": "first"}),
            ),
            "DeployApi",
        );
        let security = ok(
            call("DescribeAppSecurity", json!({"AppId": app_id})),
            "DescribeAppSecurity",
        );
        let code = security["AppCode"].as_str().unwrap().to_string();

        // The deployed API answers through the data plane for the authorized app.
        let auth = format!("APPCODE {code}");
        support::eventually(|| {
            let (host, auth) = (host.clone(), auth.clone());
            let gw = &gw;
            async move {
                send(
                    gw.http,
                    "GET",
                    &host,
                    "/users/42",
                    &[("Authorization", &auth)],
                    b"",
                )
                .await
                .status
                    == 200
            }
        })
        .await;
        let r = send(
            gw.http,
            "GET",
            &host,
            "/users/42",
            &[("Authorization", &auth)],
            b"",
        )
        .await;
        assert_eq!(r.json()["path"], "/u/42");

        let history = ok(
            call("DescribeHistoryApis", json!({"GroupId": group_id})),
            "DescribeHistoryApis",
        );
        assert_eq!(history["ApiHisItems"]["ApiHisItem"][0]["Status"], "ONLINE");
        ok(
            call(
                "AbolishApi",
                json!({"ApiId": api_id, "StageName": "RELEASE"}),
            ),
            "AbolishApi",
        );
        support::eventually(|| {
            let (host, auth) = (host.clone(), auth.clone());
            let gw = &gw;
            async move {
                send(
                    gw.http,
                    "GET",
                    &host,
                    "/users/42",
                    &[("Authorization", &auth)],
                    b"",
                )
                .await
                .code()
                    == Some("I404NF")
            }
        })
        .await;
        let groups = ok(
            call(
                "DescribeApiGroups",
                json!({"GroupName": format!("shop_{i}")}),
            ),
            "DescribeApiGroups",
        );
        assert_eq!(groups["TotalCount"], 1);
        assert_eq!(
            groups["ApiGroupAttributes"]["ApiGroupAttribute"][0]["GroupId"],
            group_id.as_str()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_have_the_documented_codes() {
    let gw = start();
    for client in ["tea", "legacy"] {
        let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, client, action, params);
        let wrong = mgmt_call(
            gw.admin,
            (AK.0, "wrong-secret"),
            client,
            "DescribeApiGroups",
            json!({}),
        );
        let expected = if client == "tea" {
            "SignatureDoesNotMatch"
        } else {
            "InvalidAccessKeySecret"
        };
        assert_eq!(err(&wrong), (400, expected), "{client}: {wrong}");
        let unknown = mgmt_call(
            gw.admin,
            ("nobody", "x-secret-0000"),
            client,
            "DescribeApiGroups",
            json!({}),
        );
        assert_eq!(
            err(&unknown),
            (400, "InvalidAccessKeyId.NotFound"),
            "{unknown}"
        );

        let name = format!("errors_{client}");
        let g = ok(call("CreateApiGroup", json!({"GroupName": name})), "create");
        let again = call("CreateApiGroup", json!({"GroupName": name}));
        assert_eq!(err(&again), (400, "RepeatedGroupName"));
        let missing = call(
            "DescribeApiGroup",
            json!({"GroupId": "0123456789abcdef0123456789abcdef"}),
        );
        assert_eq!(err(&missing), (400, "NotFoundApiGroup"));
        let bad = call(
            "CreateApi",
            json!({"GroupId": g["GroupId"], "ApiName": "bad_json", "Visibility": "PRIVATE",
            "RequestConfig": "{not json", "ServiceConfig": "{}"}),
        );
        assert_eq!(err(&bad), (400, "InvalidFormatRequestConfig"));
        let bad_stage = call(
            "DeployApi",
            json!({"ApiId": "x", "StageName": "PROD", "Description": "d"}),
        );
        assert_eq!(err(&bad_stage), (400, "InvalidStageName"));
    }
}

const PETSTORE: &str = r#"
swagger: "2.0"
info: {title: pets, version: "1"}
basePath: /v1
paths:
  /pets/{petId}:
    get:
      operationId: getPet
      summary: One pet
      parameters:
        - {name: petId, in: path, required: true, type: integer, format: int64}
        - {name: verbose, in: query, type: boolean, default: false}
    delete:
      operationId: deletePet
      parameters:
        - {name: petId, in: path, required: true, type: integer}
  /pets:
    post:
      operationId: addPet
      consumes: [application/x-www-form-urlencoded]
      parameters:
        - {name: name, in: formData, required: true, type: string, maxLength: 20}
    trace:
      operationId: tracePets
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_swagger_with_dry_run_and_overwrite() {
    let gw = start();
    let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, "tea", action, params);
    let g = ok(
        call("CreateApiGroup", json!({"GroupName": "imported"})),
        "CreateApiGroup",
    );
    let gid = g["GroupId"].as_str().unwrap();
    ok(
        call(
            "SetDomain",
            json!({"GroupId": gid, "DomainName": "pets.localhost"}),
        ),
        "SetDomain",
    );
    let import = |dry: bool, overwrite: bool| {
        call(
            "ImportSwagger",
            json!({"GroupId": gid, "Data": PETSTORE, "DataFormat": "yaml", "DryRun": dry,
                   "Overwrite": overwrite,
                   "GlobalCondition": {"x-aliyun-apigateway-auth-type": "ANONYMOUS"}}),
        )
    };
    let dry = ok(import(true, false), "dry run");
    let created = dry["Success"]["ApiImportSwaggerSuccess"]
        .as_array()
        .unwrap();
    assert_eq!(created.len(), 3, "{dry}");
    assert!(created.iter().all(|s| s["ApiOperation"] == "CREATE"));
    let failed = dry["Failed"]["ApiImportSwaggerFailed"].as_array().unwrap();
    assert_eq!(failed.len(), 1, "TRACE is not importable: {dry}");
    let none = ok(
        call("DescribeApis", json!({"GroupId": gid})),
        "DescribeApis",
    );
    assert_eq!(none["TotalCount"], 0, "a dry run creates nothing");

    let real = ok(import(false, false), "import");
    assert_eq!(
        real["Success"]["ApiImportSwaggerSuccess"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "{real}"
    );
    let apis = ok(
        call("DescribeApis", json!({"GroupId": gid})),
        "DescribeApis",
    );
    assert_eq!(apis["TotalCount"], 3);
    let again = ok(import(false, false), "again");
    assert_eq!(
        again["Failed"]["ApiImportSwaggerFailed"]
            .as_array()
            .unwrap()
            .len(),
        4,
        "{again}"
    );
    let over = ok(import(false, true), "overwrite");
    let modified = over["Success"]["ApiImportSwaggerSuccess"]
        .as_array()
        .unwrap();
    assert!(
        modified.len() == 3 && modified.iter().all(|s| s["ApiOperation"] == "MODIFY"),
        "{over}"
    );

    // An imported API is a normal API: deploy it and call it (a mock until a backend is set).
    let summary = &apis["ApiSummarys"]["ApiSummary"];
    let get_pet = summary
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["ApiName"] == "getPet")
        .unwrap();
    assert_eq!(get_pet["ApiPath"], "/v1/pets/[petId]");
    let api_id = get_pet["ApiId"].as_str().unwrap();
    let described = ok(call("DescribeApi", json!({"ApiId": api_id})), "DescribeApi");
    assert_eq!(
        described["RequestParameters"]["RequestParameter"][0]["ParameterType"],
        "Long"
    );
    ok(
        call(
            "DeployApi",
            json!({"ApiId": api_id, "StageName": "RELEASE", "Description": "imported"}),
        ),
        "DeployApi",
    );
    support::eventually(|| async {
        support::get(gw.http, "pets.localhost", "/v1/pets/7")
            .await
            .status
            == 200
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_control_limits_are_ordered() {
    let gw = start();
    for client in ["tea", "legacy"] {
        let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, client, action, params);
        let base = |name: &str| json!({"TrafficControlName": name, "TrafficControlUnit": "MINUTE"});
        let mut p = base(&format!("tc_user_{client}"));
        p["ApiDefault"] = json!(100);
        p["UserDefault"] = json!(200);
        assert_eq!(
            err(&call("CreateTrafficControl", p)),
            (400, "InvalidUserDefault")
        );
        let mut p = base(&format!("tc_app_{client}"));
        p["ApiDefault"] = json!(100);
        p["UserDefault"] = json!(50);
        p["AppDefault"] = json!(60);
        assert_eq!(
            err(&call("CreateTrafficControl", p)),
            (400, "InvalidAppDefault")
        );
        let mut p = base(&format!("tc_api_{client}"));
        p["ApiDefault"] = json!(100_000_001_i64);
        assert_eq!(
            err(&call("CreateTrafficControl", p)),
            (400, "InvalidApiDefault")
        );
        let mut p = base(&format!("tc_ok_{client}"));
        p["ApiDefault"] = json!(100);
        p["UserDefault"] = json!(50);
        p["AppDefault"] = json!(10);
        let created = ok(call("CreateTrafficControl", p), "CreateTrafficControl");
        let id = created["TrafficControlId"].as_str().unwrap();
        ok(
            call("DeleteTrafficControl", json!({"TrafficControlId": id})),
            "DeleteTrafficControl",
        );
        let gone = call("DeleteTrafficControl", json!({"TrafficControlId": id}));
        assert_eq!(err(&gone), (400, "NotFoundTrafficControl"));
    }
}

/// Parameters and backend signatures through the official SDKs: an incomplete mapping is
/// refused, a complete one is enforced on the data plane, and a signature made with the
/// legacy actions signs the backend requests of the APIs it is set on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameters_and_backend_signatures() {
    let backend = support::backend().await;
    let gw = start();
    for client in ["tea", "legacy"] {
        let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, client, action, params);
        let host = format!("sig-{client}.localhost");
        let gid = group_on(&call, &format!("sig_{client}"), &host);
        let request = json!([{"ApiParameterName": "id", "Location": "QUERY",
                              "ParameterType": "Int", "Required": "REQUIRED", "MaxValue": 99}]);
        let api = |map: Value| {
            json!({
                "GroupId": gid, "ApiName": format!("signed_{client}"), "AuthType": "ANONYMOUS",
                "Visibility": "PRIVATE", "ResultType": "JSON",
                "RequestConfig": json!({"RequestProtocol": "HTTP", "RequestHttpMethod": "GET",
                                        "RequestPath": "/item", "RequestMode": "MAPPING"}).to_string(),
                "ServiceConfig": json!({"ServiceProtocol": "HTTP",
                                        "ServiceAddress": format!("http://{backend}"),
                                        "ServicePath": "/backend/item", "ServiceHttpMethod": "GET",
                                        "ServiceTimeout": 3000}).to_string(),
                "RequestParameters": request.to_string(),
                "ServiceParameters": json!([{"ServiceParameterName": "X-Item", "Location": "HEAD",
                                             "ParameterType": "INT"}]).to_string(),
                "ServiceParametersMap": map.to_string(),
            })
        };
        let refused = call("CreateApi", api(json!([])));
        assert_eq!(err(&refused), (400, "InvalidParamMapping"), "{refused}");
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("fully mapped"),
            "{refused}"
        );
        let created = ok(
            call(
                "CreateApi",
                api(json!([{"RequestParameterName": "id", "ServiceParameterName": "X-Item"}])),
            ),
            "CreateApi",
        );
        let api_id = created["ApiId"].as_str().unwrap().to_string();
        deploy(&call, &gid, &api_id);
        let bad = call(
            "CreateSignature",
            json!({"SignatureName": format!("sig_{client}"), "SignatureKey": "1abc",
                   "SignatureSecret": "secret-1"}),
        );
        assert_eq!(err(&bad), (400, "InvalidSignatureKey"));
        let sig = ok(
            call(
                "CreateSignature",
                json!({"SignatureName": format!("sig_{client}"), "SignatureKey": "shopKey1",
                       "SignatureSecret": "secret_1"}),
            ),
            "CreateSignature",
        );
        let sig_id = sig["SignatureId"].as_str().unwrap().to_string();
        ok(
            call(
                "SetSignatureApis",
                json!({"SignatureId": sig_id, "GroupId": gid, "ApiIds": api_id, "StageName": "RELEASE"}),
            ),
            "SetSignatureApis",
        );
        let on_apis = ok(
            call(
                "DescribeApiSignatures",
                json!({"GroupId": gid, "StageName": "RELEASE"}),
            ),
            "DescribeApiSignatures",
        );
        assert_eq!(
            on_apis["ApiSignatures"]["ApiSignatureItem"][0]["SignatureId"],
            json!(sig_id)
        );
        let by = ok(
            call("DescribeApisBySignature", json!({"SignatureId": sig_id})),
            "DescribeApisBySignature",
        );
        assert_eq!(by["ApiInfos"]["ApiInfo"][0]["ApiId"], json!(api_id));
        // Newer actions: the legacy SDK has no request classes for them.
        if client == "tea" {
            ok(
                call(
                    "DetachGroupPlugin",
                    json!({"GroupId": gid, "PluginId": sig_id, "StageName": "RELEASE"}),
                ),
                "DetachGroupPlugin",
            );
            let none = ok(
                call(
                    "DescribePluginsByApi",
                    json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE"}),
                ),
                "DescribePluginsByApi",
            );
            assert_eq!(none["TotalCount"], 0, "{none}");
            ok(
                call(
                    "AttachGroupPlugin",
                    json!({"GroupId": gid, "PluginId": sig_id, "StageName": "RELEASE"}),
                ),
                "AttachGroupPlugin",
            );
            let plugins = ok(
                call(
                    "DescribePluginsByApi",
                    json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE"}),
                ),
                "DescribePluginsByApi",
            );
            assert_eq!(
                plugins["Plugins"]["PluginAttribute"][0]["PluginType"],
                "backendSignature"
            );
            let summary = ok(
                call("DescribePluginApis", json!({"PluginId": sig_id})),
                "DescribePluginApis",
            );
            let s = &summary["ApiSummarys"]["ApiPluginSummary"][0];
            assert_eq!(
                (&s["ApiId"], &s["Method"], &s["Path"]),
                (&json!(api_id), &json!("GET"), &json!("/item"))
            );
        }
        let backend_headers = |path: &'static str| {
            let host = host.clone();
            async move {
                let r = send(gw.http, "GET", &host, path, &[], b"").await;
                (r.status.as_u16(), r)
            }
        };
        support::eventually(|| async {
            let (status, r) = backend_headers("/item?id=7").await;
            status == 200 && r.json()["headers"]["x-ca-proxy-signature-secret-key"] == "shopKey1"
        })
        .await;
        let (_, r) = backend_headers("/item?id=7").await;
        let e = r.json();
        assert_eq!(e["headers"]["x-item"], "7");
        assert!(e["headers"]["x-ca-proxy-signature"].is_string());
        let (status, r) = backend_headers("/item?id=100").await;
        assert_eq!((status, r.code()), (400, Some("I400IP")));
        let (status, r) = backend_headers("/item").await;
        assert_eq!(
            (status, r.message()),
            (400, Some("Parameter `id` is required"))
        );

        let same = call(
            "ModifySignature",
            json!({"SignatureId": sig_id, "SignatureKey": "shopKey1", "SignatureSecret": "secret_1"}),
        );
        assert_eq!(err(&same), (400, "EqualSignature"));
        ok(
            call(
                "ModifySignature",
                json!({"SignatureId": sig_id, "SignatureName": format!("sig_{client}"),
                       "SignatureKey": "shopKey2", "SignatureSecret": "secret_2"}),
            ),
            "ModifySignature",
        );
        let listed = ok(
            call("DescribeSignatures", json!({"SignatureId": sig_id})),
            "DescribeSignatures",
        );
        let info = &listed["SignatureInfos"]["SignatureInfo"][0];
        assert_eq!(
            (&info["SignatureKey"], &info["SignatureSecret"]),
            (&json!("shopKey2"), &json!("secret_2"))
        );
        let by_api = ok(
            call(
                "DescribeSignaturesByApi",
                json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE"}),
            ),
            "DescribeSignaturesByApi",
        );
        assert_eq!(
            by_api["Signatures"]["SignatureItem"][0]["SignatureId"],
            json!(sig_id)
        );
        support::eventually(|| async {
            let (_, r) = backend_headers("/item?id=8").await;
            r.json()["headers"]["x-ca-proxy-signature-secret-key"] == "shopKey2"
        })
        .await;
        ok(
            call(
                "RemoveSignatureApis",
                json!({"SignatureId": sig_id, "GroupId": gid, "ApiIds": api_id, "StageName": "RELEASE"}),
            ),
            "RemoveSignatureApis",
        );
        support::eventually(|| async {
            let (_, r) = backend_headers("/item?id=9").await;
            r.json()["headers"].get("x-ca-proxy-signature").is_none()
        })
        .await;
        ok(
            call("DeleteSignature", json!({"SignatureId": sig_id})),
            "DeleteSignature",
        );
        let gone = call("DeleteSignature", json!({"SignatureId": sig_id}));
        assert_eq!(err(&gone), (400, "NotFoundSignature"));
        let sys = ok(
            call("DescribeSystemParameters", json!({})),
            "DescribeSystemParameters",
        );
        let names: Vec<&str> = sys["SystemParams"]["SystemParamItem"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["ParamName"].as_str().unwrap())
            .collect();
        assert_eq!(names.len(), 15);
        assert!(names.contains(&"CaClientIp") && names.contains(&"CaAppKey"));
    }
}

/// The legacy IP control and throttling families through the official SDKs, enforced on the
/// data plane.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_ip_control_and_throttling_policies() {
    let backend = support::backend().await;
    let gw = start();
    for client in ["tea", "legacy"] {
        let call = |action: &str, params: Value| mgmt_call(gw.admin, AK, client, action, params);
        let host = format!("pol-{client}.localhost");
        let gid = group_on(&call, &format!("pol_{client}"), &host);
        let api = ok(
            call(
                "CreateApi",
                json!({
                    "GroupId": gid, "ApiName": format!("guarded_{client}"), "AuthType": "ANONYMOUS",
                    "Visibility": "PRIVATE", "ResultType": "JSON",
                    "RequestConfig": json!({"RequestProtocol": "HTTP", "RequestHttpMethod": "GET",
                                            "RequestPath": "/g", "RequestMode": "PASSTHROUGH"}).to_string(),
                    "ServiceConfig": json!({"ServiceProtocol": "HTTP",
                                            "ServiceAddress": format!("http://{backend}"),
                                            "ServicePath": "/g", "ServiceTimeout": 3000}).to_string(),
                }),
            ),
            "CreateApi",
        );
        let api_id = api["ApiId"].as_str().unwrap().to_string();
        deploy(&call, &gid, &api_id);
        let status = |path: &'static str| {
            let host = host.clone();
            async move { send(gw.http, "GET", &host, path, &[], b"").await }
        };

        // IP control: a REFUSE policy with the loopback address refuses the test client.
        let bad = call(
            "CreateIpControl",
            json!({"IpControlName": format!("ip_{client}"), "IpControlType": "MAYBE"}),
        );
        assert_eq!(err(&bad), (400, "InvalidIpControlType"));
        let created = ok(
            call(
                "CreateIpControl",
                json!({"IpControlName": format!("ip_{client}"), "IpControlType": "REFUSE",
                       "IpControlPolicys.1.CidrIp": "127.0.0.1;10.9.0.0/16"}),
            ),
            "CreateIpControl",
        );
        let ip_id = created["IpControlId"].as_str().unwrap().to_string();
        ok(
            call(
                "SetIpControlApis",
                json!({"IpControlId": ip_id, "GroupId": gid, "ApiIds": api_id, "StageName": "RELEASE"}),
            ),
            "SetIpControlApis",
        );
        let by = ok(
            call("DescribeApisByIpControl", json!({"IpControlId": ip_id})),
            "DescribeApisByIpControl",
        );
        let info = &by["ApiInfos"]["ApiInfo"][0];
        assert_eq!(
            (&info["ApiId"], &info["StageName"]),
            (&json!(api_id), &json!("RELEASE"))
        );
        let on_apis = ok(
            call(
                "DescribeApiIpControls",
                json!({"GroupId": gid, "StageName": "RELEASE"}),
            ),
            "DescribeApiIpControls",
        );
        assert_eq!(
            on_apis["ApiIpControls"]["ApiIpControlItem"][0]["IpControlId"],
            json!(ip_id)
        );
        support::eventually(|| async { status("/g").await.code() == Some("A403IP") }).await;
        let with_app = call(
            "AddIpControlPolicyItem",
            json!({"IpControlId": ip_id, "CidrIp": "192.0.2.1", "AppId": "12345"}),
        );
        assert_eq!(err(&with_app), (400, "InvalidAppId"), "AppId only in ALLOW");
        let added = ok(
            call(
                "AddIpControlPolicyItem",
                json!({"IpControlId": ip_id, "CidrIp": "192.0.2.0/24"}),
            ),
            "AddIpControlPolicyItem",
        );
        assert!(added["PolicyItemId"].is_string());
        let added_id = added["PolicyItemId"].as_str().unwrap().to_string();
        ok(
            call(
                "ModifyIpControlPolicyItem",
                json!({"IpControlId": ip_id, "PolicyItemId": added_id, "CidrIp": "198.51.100.0/24"}),
            ),
            "ModifyIpControlPolicyItem",
        );
        let listed = ok(
            call("DescribeIpControls", json!({"IpControlId": ip_id})),
            "DescribeIpControls",
        );
        assert_eq!(
            listed["IpControlInfos"]["IpControlInfo"][0]["IpControlType"],
            "REFUSE"
        );
        let items = ok(
            call(
                "DescribeIpControlPolicyItems",
                json!({"IpControlId": ip_id}),
            ),
            "DescribeIpControlPolicyItems",
        );
        let items = items["IpControlPolicyItems"]["IpControlPolicyItem"]
            .as_array()
            .unwrap()
            .clone();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0]["CidrIp"], "127.0.0.1;10.9.0.0/16");
        assert_eq!(items[1]["CidrIp"], "198.51.100.0/24");
        let loopback_item = items[0]["PolicyItemId"].as_str().unwrap().to_string();
        ok(
            call(
                "RemoveIpControlPolicyItem",
                json!({"IpControlId": ip_id, "PolicyItemIds": loopback_item}),
            ),
            "RemoveIpControlPolicyItem",
        );
        support::eventually(|| async { status("/g").await.status == 200 }).await;

        // Throttling: 3 per minute, a special limit, then removed.
        let tc = ok(
            call(
                "CreateTrafficControl",
                json!({"TrafficControlName": format!("tc_{client}"), "TrafficControlUnit": "MINUTE",
                       "ApiDefault": 3, "UserDefault": 2, "AppDefault": 1}),
            ),
            "CreateTrafficControl",
        );
        let tc_id = tc["TrafficControlId"].as_str().unwrap().to_string();
        let too_big = call(
            "AddTrafficSpecialControl",
            json!({"TrafficControlId": tc_id, "SpecialType": "APP", "SpecialKey": "12345", "TrafficValue": 4}),
        );
        assert_eq!(err(&too_big), (400, "InvalidSpecialValue"));
        ok(
            call(
                "AddTrafficSpecialControl",
                json!({"TrafficControlId": tc_id, "SpecialType": "APP", "SpecialKey": "12345", "TrafficValue": 3}),
            ),
            "AddTrafficSpecialControl",
        );
        let broken = call(
            "ModifyTrafficControl",
            json!({"TrafficControlId": tc_id, "UserDefault": 5}),
        );
        assert_eq!(err(&broken), (400, "InvalidUserDefault"));
        ok(
            call(
                "SetTrafficControlApis",
                json!({"TrafficControlId": tc_id, "GroupId": gid, "ApiIds": api_id, "StageName": "RELEASE"}),
            ),
            "SetTrafficControlApis",
        );
        let by = ok(
            call(
                "DescribeApisByTrafficControl",
                json!({"TrafficControlId": tc_id}),
            ),
            "DescribeApisByTrafficControl",
        );
        assert_eq!(by["ApiInfos"]["ApiInfo"][0]["ApiId"], json!(api_id));
        let on_apis = ok(
            call(
                "DescribeApiTrafficControls",
                json!({"GroupId": gid, "StageName": "RELEASE", "ApiIds": api_id}),
            ),
            "DescribeApiTrafficControls",
        );
        assert_eq!(
            on_apis["ApiTrafficControls"]["ApiTrafficControlItem"][0]["TrafficControlId"],
            json!(tc_id)
        );
        let listed = ok(
            call(
                "DescribeTrafficControls",
                json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE"}),
            ),
            "DescribeTrafficControls",
        );
        let t = &listed["TrafficControls"]["TrafficControl"][0];
        assert_eq!(
            (&t["TrafficControlId"], &t["ApiDefault"]),
            (&json!(tc_id), &json!(3))
        );
        let special = &t["SpecialPolicies"]["SpecialPolicy"][0];
        assert_eq!(special["SpecialType"], "APP");
        assert_eq!(special["Specials"]["Special"][0]["TrafficValue"], 3);
        let by_api = ok(
            call(
                "DescribeTrafficControlsByApi",
                json!({"GroupId": gid, "ApiId": api_id, "StageName": "RELEASE"}),
            ),
            "DescribeTrafficControlsByApi",
        );
        assert_eq!(
            by_api["TrafficControlItems"]["TrafficControlItem"][0]["TrafficControlItemId"],
            json!(tc_id)
        );
        support::eventually(|| async { status("/g").await.code() == Some("T429PA") }).await;
        ok(
            call(
                "DeleteAllTrafficSpecialControl",
                json!({"TrafficControlId": tc_id}),
            ),
            "DeleteAllTrafficSpecialControl",
        );
        let gone = call(
            "DeleteTrafficSpecialControl",
            json!({"TrafficControlId": tc_id, "SpecialType": "APP", "SpecialKey": "12345"}),
        );
        assert_eq!(err(&gone), (400, "NotFoundTrafficSpecialControl"));
        ok(
            call(
                "RemoveIpControlApis",
                json!({"IpControlId": ip_id, "GroupId": gid, "ApiIds": api_id, "StageName": "RELEASE"}),
            ),
            "RemoveIpControlApis",
        );
        ok(
            call("DeleteIpControl", json!({"IpControlId": ip_id})),
            "DeleteIpControl",
        );
    }
}
