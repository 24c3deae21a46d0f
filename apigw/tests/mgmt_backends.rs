//! Issue 17 items 1–3 and 6: VPC accesses, backend services with per-stage models and stage
//! variables through the official Tea SDK (and the legacy SDK's DescribeApiStage), against the
//! real binary and its data plane; ImportSwagger and `apigw apply` definitions that use them.

mod support;

use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use support::{mgmt_call, Gateway};

const AK: (&str, &str) = ("backendsid", "backendssecret-0001");

fn start() -> Gateway {
    Gateway::start_in_with_env(
        tempfile::tempdir().unwrap(),
        &[
            ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
        ],
    )
}

fn call(gw: &Gateway, action: &str, params: Value) -> Value {
    mgmt_call(gw.admin, AK, "tea", action, params)
}

/// The body of a successful call; a member the SDK model does not know fails the test.
fn ok(out: Value, what: &str) -> Value {
    assert_eq!(out["ok"], true, "{what}: {out}");
    let unknown = out["unknown_fields"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        unknown.is_empty(),
        "{what}: unknown to the SDK model: {unknown:?}"
    );
    out["body"].clone()
}

use support::refused_call as err;

fn group(gw: &Gateway, name: &str, host: &str) -> String {
    let g = ok(
        call(gw, "CreateApiGroup", json!({"GroupName": name})),
        "CreateApiGroup",
    );
    let gid = g["GroupId"].as_str().unwrap().to_string();
    ok(
        call(gw, "SetDomain", json!({"GroupId": gid, "DomainName": host})),
        "SetDomain",
    );
    gid
}

/// CreateApi of an anonymous GET `path` with this ServiceConfig (and extra parameters).
fn create_api(
    gw: &Gateway,
    gid: &str,
    name: &str,
    path: &str,
    service: Value,
    extra: Value,
) -> String {
    let mut p = json!({
        "GroupId": gid, "ApiName": name, "Visibility": "PRIVATE", "AuthType": "ANONYMOUS",
        "RequestConfig": json!({"RequestProtocol": "HTTP", "RequestHttpMethod": "GET",
            "RequestPath": path, "RequestMode": "PASSTHROUGH"}).to_string(),
        "ServiceConfig": service.to_string(),
    });
    for (k, v) in extra.as_object().unwrap() {
        p[k] = v.clone();
    }
    let out = ok(call(gw, "CreateApi", p), "CreateApi");
    out["ApiId"].as_str().unwrap().to_string()
}

fn deploy(gw: &Gateway, gid: &str, api: &str, stage: &str) -> Value {
    call(
        gw,
        "DeployApi",
        json!({"GroupId": gid, "ApiId": api, "StageName": stage, "Description": "d"}),
    )
}

/// The port of the echo backend that answered, from the `host` header it saw.
fn port_of(r: &support::Resp) -> u16 {
    assert_eq!(r.status, 200, "{:?} {}", r.code(), r.text());
    let host = r.json()["headers"]["host"].as_str().unwrap().to_string();
    host.rsplit(':').next().unwrap().parse().unwrap()
}

async fn get_stage(gw: &Gateway, host: &str, path: &str, stage: &str) -> support::Resp {
    support::send(gw.http, "GET", host, path, &[("x-ca-stage", stage)], b"").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vpc_access_is_re_pointed_under_traffic_without_a_redeploy() {
    let gw = start();
    let (b1, b2) = (support::backend().await, support::backend().await);
    let set = |name: &str, host: &str, port: u16| {
        call(
            &gw,
            "SetVpcAccess",
            json!({"Name": name, "VpcId": "vpc-1", "InstanceId": host, "Port": port,
                   "Description": "orders service"}),
        )
    };
    let id = ok(set("orders", "127.0.0.1", b1.port()), "SetVpcAccess")["VpcAccessId"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, code, _) = err(&set("orders", "127.0.0.1", b2.port()));
    assert_eq!(code, "RepeatedVpcAccess");
    // The backend address rules hold for VPC targets: metadata and the admin listener.
    let (status, code, message) = err(&set("meta", "169.254.169.254", 80));
    assert_eq!(
        (status, code.as_str()),
        (400, "InvalidBackendAddress"),
        "{message}"
    );
    let (_, code, message) = err(&set("admin", "127.0.0.1", gw.admin.port()));
    assert_eq!(code, "InvalidBackendAddress", "{message}");

    let listed = ok(
        call(
            &gw,
            "DescribeVpcAccesses",
            json!({"Name": "orders", "AccurateQuery": true}),
        ),
        "DescribeVpcAccesses",
    );
    assert_eq!(listed["TotalCount"], 1, "{listed}");
    let item = &listed["VpcAccessAttributes"]["VpcAccessAttribute"][0];
    assert_eq!(item["VpcAccessId"], id.as_str());
    assert_eq!(item["InstanceId"], "127.0.0.1");
    assert_eq!(item["Port"], b1.port());
    let by_id = ok(
        call(&gw, "DescribeVpcAccesses", json!({"VpcAccessId": "nope"})),
        "DescribeVpcAccesses",
    );
    assert_eq!(by_id["TotalCount"], 0);

    let host = "vpc.localhost";
    let gid = group(&gw, "vpc_group", host);
    // Terraform's form: lower-case keys, only `name` in vpcConfig.
    let api = create_api(
        &gw,
        &gid,
        "orders_api",
        "/orders",
        json!({"ServiceProtocol": "HTTP", "serviceVpcEnable": "TRUE",
               "vpcConfig": {"name": "orders"}, "ServicePath": "/echo", "ServiceTimeout": 3000}),
        json!({}),
    );
    ok(deploy(&gw, &gid, &api, "RELEASE"), "DeployApi");
    // (DescribeApi echoes members its SDK model lacks, such as ResultDescriptions.)
    let described = call(&gw, "DescribeApi", json!({"ApiId": api}));
    assert_eq!(described["ok"], true, "{described}");
    let described = &described["body"];
    assert_eq!(described["ServiceConfig"]["VpcConfig"]["Name"], "orders");
    assert_eq!(described["ServiceConfig"]["ServiceVpcEnable"], "TRUE");
    let r = support::get(gw.http, host, "/orders").await;
    assert_eq!(port_of(&r), b1.port());
    assert_eq!(r.json()["path"], "/echo");

    // Traffic while the access is re-pointed: every request succeeds, then reaches b2.
    let stop = Arc::new(AtomicBool::new(false));
    let (failed, sent) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let traffic = {
        let (stop, failed, sent, http) = (stop.clone(), failed.clone(), sent.clone(), gw.http);
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let r = support::get(http, host, "/orders").await;
                sent.fetch_add(1, Ordering::Relaxed);
                if r.status != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };
    let admin = gw.admin;
    let modified = tokio::task::spawn_blocking(move || {
        mgmt_call(
            admin,
            AK,
            "tea",
            "ModifyVpcAccessAndUpdateApis",
            json!({"Name": "orders", "VpcId": "vpc-1", "InstanceId": "127.0.0.1", "Port": b2.port()}),
        )
    })
    .await
    .unwrap();
    ok(modified, "ModifyVpcAccessAndUpdateApis");
    // The write is live when the call returns.
    assert_eq!(
        port_of(&support::get(gw.http, host, "/orders").await),
        b2.port()
    );
    stop.store(true, Ordering::Relaxed);
    traffic.await.unwrap();
    assert!(sent.load(Ordering::Relaxed) > 0);
    assert_eq!(
        failed.load(Ordering::Relaxed),
        0,
        "requests failed while re-pointing"
    );

    // A name no access has: X504VE at request time.
    let lost = create_api(
        &gw,
        &gid,
        "lost_api",
        "/lost",
        json!({"ServiceProtocol": "HTTP", "ServiceVpcEnable": true,
               "VpcConfig": {"Name": "nowhere", "VpcScheme": "http"}, "ServiceTimeout": 3000}),
        json!({}),
    );
    ok(deploy(&gw, &gid, &lost, "RELEASE"), "DeployApi");
    let r = support::get(gw.http, host, "/lost").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (504, Some("X504VE")),
        "{}",
        r.text()
    );

    // Removing an access an API uses is refused; once unused it goes.
    let remove = || {
        call(
            &gw,
            "RemoveVpcAccess",
            json!({"VpcId": "vpc-1", "InstanceId": "127.0.0.1", "Port": b2.port()}),
        )
    };
    let (_, code, message) = err(&remove());
    assert_eq!(code, "DependencyViolationVpcAccess");
    assert!(message.contains(&api), "{message}");
    ok(
        call(
            &gw,
            "AbolishApi",
            json!({"GroupId": gid, "ApiId": api, "StageName": "RELEASE"}),
        ),
        "AbolishApi",
    );
    ok(
        call(&gw, "DeleteApi", json!({"GroupId": gid, "ApiId": api})),
        "DeleteApi",
    );
    ok(remove(), "RemoveVpcAccess");
    let (_, code, _) = err(&remove());
    assert_eq!(code, "NotFoundVpc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backend_service_is_switched_per_stage_without_a_redeploy() {
    let gw = start();
    let (b1, b2) = (support::backend().await, support::backend().await);
    let (_, code, message) = err(&call(
        &gw,
        "CreateBackend",
        json!({"BackendName": "fc_backend", "BackendType": "FC_EVENT"}),
    ));
    assert_eq!(code, "InvalidBackendType");
    assert!(message.contains("FC_EVENT"), "{message}");
    let backend = ok(
        call(
            &gw,
            "CreateBackend",
            json!({"BackendName": "users", "BackendType": "HTTP",
                                          "Description": "user service"}),
        ),
        "CreateBackend",
    )["BackendId"]
        .as_str()
        .unwrap()
        .to_string();
    let model = |stage: &str, addr: SocketAddr| {
        call(
            &gw,
            "CreateBackendModel",
            json!({"BackendId": backend, "StageName": stage, "BackendType": "HTTP",
                   "BackendModelData": json!({"Type": "HTTP",
                       "ServiceAddress": format!("http://{addr}")}).to_string()}),
        )
    };
    ok(model("RELEASE", b1), "CreateBackendModel");
    let (_, code, _) = err(&call(
        &gw,
        "CreateBackendModel",
        json!({"BackendId": backend, "StageName": "TEST", "BackendType": "MOCK",
               "BackendModelData": "{}"}),
    ));
    assert_eq!(code, "InvalidBackendType");

    let host = "shared.localhost";
    let gid = group(&gw, "shared_group", host);
    let api = create_api(
        &gw,
        &gid,
        "users_api",
        "/users",
        json!({"ServiceProtocol": "UN_SPECIFIED", "ServicePath": "/u", "ServiceTimeout": 3000}),
        json!({"BackendEnable": true, "BackendId": backend}),
    );
    for stage in ["RELEASE", "TEST"] {
        ok(deploy(&gw, &gid, &api, stage), "DeployApi");
    }
    assert_eq!(
        port_of(&get_stage(&gw, host, "/users", "RELEASE").await),
        b1.port()
    );
    let r = get_stage(&gw, host, "/users", "TEST").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (404, Some("I404SR")),
        "{}",
        r.text()
    );
    assert!(r.message().unwrap().contains("TEST"), "{:?}", r.message());

    // A model for TEST, and RELEASE's replaced: live at once, no redeploy.
    let test_model = ok(model("TEST", b2), "CreateBackendModel")["BackendModelId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        port_of(&get_stage(&gw, host, "/users", "TEST").await),
        b2.port()
    );
    ok(model("RELEASE", b2), "CreateBackendModel");
    let r = get_stage(&gw, host, "/users", "RELEASE").await;
    assert_eq!(port_of(&r), b2.port());
    assert_eq!(r.json()["path"], "/u");

    let info = ok(
        call(&gw, "DescribeBackendInfo", json!({"BackendId": backend})),
        "DescribeBackendInfo",
    );
    let models = info["BackendInfo"]["BackendModels"].as_array().unwrap();
    assert_eq!(models.len(), 2, "{info}");
    assert_eq!(models[0]["StageName"], "RELEASE");
    assert_eq!(
        models[0]["BackendConfig"]["ServiceAddress"],
        format!("http://{b2}")
    );
    let list = ok(
        call(&gw, "DescribeBackendList", json!({"BackendName": "user"})),
        "DescribeBackendList",
    );
    assert_eq!(list["TotalCount"], 1);
    assert_eq!(list["BackendInfoList"][0]["BackendName"], "users");

    let (_, code, message) = err(&call(&gw, "DeleteBackend", json!({"BackendId": backend})));
    assert_eq!(code, "DependencyViolationBackend");
    assert!(message.contains(&api), "{message}");
    ok(
        call(
            &gw,
            "DeleteBackendModel",
            json!({"BackendId": backend, "StageName": "TEST",
                                               "BackendModelId": test_model}),
        ),
        "DeleteBackendModel",
    );
    let r = get_stage(&gw, host, "/users", "TEST").await;
    assert_eq!(r.code(), Some("I404SR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stage_variables_fill_the_backend_address_and_a_missing_one_refuses_the_deploy() {
    let gw = start();
    let (b1, b2) = (support::backend().await, support::backend().await);
    let host = "vars.localhost";
    let gid = group(&gw, "vars_group", host);
    let api = create_api(
        &gw,
        &gid,
        "vars_api",
        "/v",
        json!({"ServiceProtocol": "HTTP", "ServiceAddress": "http://127.0.0.1:#port#",
               "ServicePath": "/v/#ver#/items", "ServiceTimeout": 3000}),
        json!({}),
    );
    let (status, code, message) = err(&deploy(&gw, &gid, &api, "TEST"));
    assert_eq!((status, code.as_str()), (400, "NotFoundStageVariable"));
    assert!(
        message.contains("`port`") && message.contains("TEST"),
        "{message}"
    );

    let set = |name: &str, value: &str| {
        call(
            &gw,
            "CreateApiStageVariable",
            json!({"GroupId": gid, "StageId": "test", "VariableName": name,
                   "VariableValue": value, "SupportRoute": false}),
        )
    };
    ok(
        set("port", &b1.port().to_string()),
        "CreateApiStageVariable",
    );
    ok(set("ver", "2"), "CreateApiStageVariable");
    ok(deploy(&gw, &gid, &api, "TEST"), "DeployApi");
    let r = get_stage(&gw, host, "/v", "TEST").await;
    assert_eq!(port_of(&r), b1.port());
    assert_eq!(r.json()["path"], "/v/2/items");
    // A changed value is live without a redeploy.
    ok(
        set("port", &b2.port().to_string()),
        "CreateApiStageVariable",
    );
    assert_eq!(
        port_of(&get_stage(&gw, host, "/v", "TEST").await),
        b2.port()
    );
    // RELEASE has no variables: refused there.
    let (_, code, _) = err(&deploy(&gw, &gid, &api, "RELEASE"));
    assert_eq!(code, "NotFoundStageVariable");

    let staged = mgmt_call(
        gw.admin,
        AK,
        "legacy",
        "DescribeApiStage",
        json!({"GroupId": gid, "StageId": "test"}),
    );
    assert_eq!(staged["ok"], true, "{staged}");
    let items = staged["body"]["Variables"]["VariableItem"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = items
        .iter()
        .map(|v| v["VariableName"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["port", "ver"]);

    let delete = |name: &str| {
        call(
            &gw,
            "DeleteApiStageVariable",
            json!({"GroupId": gid, "StageId": "test", "VariableName": name}),
        )
    };
    let (_, code, _) = err(&delete("port"));
    assert_eq!(code, "DependencyViolationStageVariable");
    ok(
        call(
            &gw,
            "AbolishApi",
            json!({"GroupId": gid, "ApiId": api, "StageName": "TEST"}),
        ),
        "AbolishApi",
    );
    ok(delete("port"), "DeleteApiStageVariable");
    let (_, code, _) = err(&delete("port"));
    assert_eq!(code, "NotFoundStageVariable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_swagger_maps_vpc_backends_and_shared_backends() {
    let gw = start();
    let b1 = support::backend().await;
    ok(
        call(
            &gw,
            "SetVpcAccess",
            json!({"Name": "slbAccess", "VpcId": "vpc-9",
                                         "InstanceId": "127.0.0.1", "Port": b1.port()}),
        ),
        "SetVpcAccess",
    );
    let host = "import.localhost";
    let gid = group(&gw, "import_group", host);
    let doc = json!({
        "swagger": "2.0", "info": {"title": "t", "version": "1"},
        "paths": {"/vip": {"get": {"operationId": "vip_get",
            "x-aliyun-apigateway-auth-type": "ANONYMOUS",
            "x-aliyun-apigateway-backend": {"type": "HTTP-VPC", "vpcAccessName": "slbAccess",
                                            "path": "/inside", "timeout": 3000}}}}
    });
    let out = ok(
        call(
            &gw,
            "ImportSwagger",
            json!({"GroupId": gid, "Data": doc.to_string(),
                                          "DataFormat": "json", "Overwrite": true}),
        ),
        "ImportSwagger",
    );
    let made = &out["Success"]["ApiImportSwaggerSuccess"][0];
    let api = made["ApiUid"].as_str().unwrap_or_else(|| panic!("{out}"));
    ok(deploy(&gw, &gid, api, "RELEASE"), "DeployApi");
    let r = support::get(gw.http, host, "/vip").await;
    assert_eq!(port_of(&r), b1.port());
    assert_eq!(r.json()["path"], "/inside");
}

/// One declarative file with a VPC access, a backend service with per-stage models and stage
/// variables; applied again with other values, the APIs follow; a deploy that lacks a
/// variable refuses the whole file; `apigw export` gives a file that applies unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_file_uses_vpc_accesses_backends_and_stage_variables() {
    let (b1, b2) = (support::backend().await, support::backend().await);
    let file = |vpc: SocketAddr, release: SocketAddr, port: u16| {
        format!(
            r#"
VpcAccesses:
  - {{Name: orders, VpcId: vpc-1, InstanceId: 127.0.0.1, Port: {vpc_port}}}
Backends:
  - BackendName: users
    BackendType: HTTP
    Models:
      - {{StageName: RELEASE, BackendConfig: {{Type: HTTP, ServiceAddress: "http://{release}"}}}}
Groups:
  - GroupName: file_group
    Domains: [{{DomainName: file.localhost}}]
    StageVariables:
      - {{StageName: RELEASE, VariableName: port, VariableValue: "{port}"}}
    Apis:
      - ApiName: vpc_api
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /vpc}}
        ServiceConfig: {{ServiceVpcEnable: "TRUE", VpcConfig: {{Name: orders}}, ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: shared_api
        AuthType: ANONYMOUS
        BackendName: users
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /shared}}
        ServiceConfig: {{ServiceProtocol: UN_SPECIFIED, ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
      - ApiName: vars_api
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /vars}}
        ServiceConfig: {{ServiceAddress: "http://127.0.0.1:#port#", ServiceTimeout: 3000}}
        DeployTo: [RELEASE]
"#,
            vpc_port = vpc.port()
        )
    };
    let gw = Gateway::start(&file(b1, b1, b1.port()));
    let host = "file.localhost";
    for path in ["/vpc", "/shared", "/vars"] {
        assert_eq!(
            port_of(&support::get(gw.http, host, path).await),
            b1.port(),
            "{path}"
        );
    }
    gw.apply(&file(b2, b2, b2.port()));
    for path in ["/vpc", "/shared", "/vars"] {
        assert_eq!(
            port_of(&support::get(gw.http, host, path).await),
            b2.port(),
            "{path}"
        );
    }
    // Without the variable the deploy of vars_api is refused, and nothing changes.
    let without = file(b1, b1, b1.port()).replace(
        r#"      - {StageName: RELEASE, VariableName: port, VariableValue: "#,
        r#"      - {StageName: TEST, VariableName: port, VariableValue: "#,
    );
    let e = support::apply(gw.dir.path(), &without).unwrap_err();
    assert!(
        e.contains("NotFoundStageVariable") && e.contains("vars_api"),
        "{e}"
    );
    assert_eq!(
        port_of(&support::get(gw.http, host, "/vpc").await),
        b2.port()
    );

    let (ok, exported) = gw.cli(&["export"]);
    assert!(ok, "{exported}");
    assert!(exported.contains("BackendName: users"), "{exported}");
    let again = support::apply(gw.dir.path(), &exported).unwrap();
    assert!(
        !again.contains("created") && !again.contains("updated"),
        "{again}"
    );
}
