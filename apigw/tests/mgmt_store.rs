//! Management writes are durable when the call returns (kill -9 right after loses nothing) and
//! concurrent writers never corrupt the store or break uniqueness.

mod support;

use std::collections::HashSet;
use support::{admin_call, Gateway};

const AK: (&str, &str) = ("durable-id", "durable-secret-0001");
const ENV: [(&str, &str); 2] = [
    ("APIGW_ROOT_ACCESS_KEY_ID", AK.0),
    ("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1),
];

async fn group_names(gw: &Gateway) -> Vec<String> {
    let mut names = Vec::new();
    for page in 1.. {
        let p = page.to_string();
        let (status, body) = admin_call(
            gw.admin,
            AK,
            "DescribeApiGroups",
            &[("PageSize", "100"), ("PageNumber", &p)],
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let items = body["ApiGroupAttributes"]["ApiGroupAttribute"]
            .as_array()
            .unwrap()
            .clone();
        if items.is_empty() {
            break;
        }
        names.extend(
            items
                .iter()
                .map(|g| g["GroupName"].as_str().unwrap().to_string()),
        );
    }
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_successful_call_survives_kill_9() {
    let mut gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    for i in 0..20 {
        let name = format!("durable_{i:02}");
        let (status, body) =
            admin_call(gw.admin, AK, "CreateApiGroup", &[("GroupName", &name)]).await;
        assert_eq!(status, 200, "{body}");
    }
    // SIGKILL right after the last answer: no shutdown, no flush.
    let mut child = gw.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let dir = std::mem::replace(&mut gw.dir, tempfile::tempdir().unwrap());
    let gw = Gateway::start_in_with_env(dir, &ENV);
    let names = group_names(&gw).await;
    assert_eq!(names.len(), 20, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_concurrent_writers_keep_the_store_consistent() {
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    let admin = gw.admin;
    let mut tasks = Vec::new();
    for w in 0..16 {
        tasks.push(tokio::spawn(async move {
            let mut created = 0;
            for i in 0..5 {
                // Every writer also tries one name all writers race for.
                let name = if i == 0 {
                    "contested".to_string()
                } else {
                    format!("w{w:02}_g{i}")
                };
                let (status, body) =
                    admin_call(admin, AK, "CreateApiGroup", &[("GroupName", &name)]).await;
                match status {
                    200 => created += 1,
                    400 => assert_eq!(body["Code"], "RepeatedGroupName", "{body}"),
                    other => panic!("unexpected {other}: {body}"),
                }
            }
            created
        }));
    }
    let mut created = 0;
    for t in tasks {
        created += t.await.unwrap();
    }
    assert_eq!(created, 16 * 4 + 1, "each name created exactly once");
    let names = group_names(&gw).await;
    assert_eq!(names.len(), 65);
    assert_eq!(
        names.iter().collect::<HashSet<_>>().len(),
        65,
        "no duplicates"
    );
    // The store is intact after a restart too.
    let dir = gw.stop();
    let gw = Gateway::start_in_with_env(dir, &ENV);
    assert_eq!(group_names(&gw).await.len(), 65);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_group_limit_is_enforced_and_configurable() {
    let mut env = ENV.to_vec();
    env.push(("APIGW_MAX_GROUPS", "3"));
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &env);
    for i in 0..3 {
        let name = format!("limited_{i}");
        let (status, body) =
            admin_call(gw.admin, AK, "CreateApiGroup", &[("GroupName", &name)]).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = admin_call(
        gw.admin,
        AK,
        "CreateApiGroup",
        &[("GroupName", "limited_3")],
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("ExceedLimitApiGroup")),
        "{body}"
    );
    let (status, body) = admin_call(gw.admin, AK, "CreateApiGroup", &[]).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("MissingGroupName")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_expired_and_unknown_calls_are_refused() {
    use support::admin_call_with;
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let call = |ts: i64, nonce: &'static str, version: &'static str, action: &'static str| {
        let admin = gw.admin;
        async move { admin_call_with(admin, AK, action, &[], ts, nonce, version).await }
    };
    let (s, b) = call(now, "nonce-1", "2016-07-14", "DescribeApiGroups").await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(now, "nonce-1", "2016-07-14", "DescribeApiGroups").await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("SignatureNonceUsed")),
        "{b}"
    );
    let (s, b) = call(now - 16 * 60, "nonce-2", "2016-07-14", "DescribeApiGroups").await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("InvalidTimeStamp.Expired")),
        "{b}"
    );
    let (s, b) = call(now, "nonce-3", "2018-01-01", "DescribeApiGroups").await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("InvalidVersion")),
        "{b}"
    );
    let (s, b) = call(now, "nonce-4", "2016-07-14", "NoSuchAction").await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (404, Some("InvalidAction.NotFound")),
        "{b}"
    );

    // A group that still has an API cannot be deleted; an API still deployed neither.
    let (_, g) = admin_call(gw.admin, AK, "CreateApiGroup", &[("GroupName", "in_use")]).await;
    let gid = g["GroupId"].as_str().unwrap().to_string();
    let (s, api) = admin_call(
        gw.admin,
        AK,
        "CreateApi",
        &[
            ("GroupId", &gid),
            ("ApiName", "busy_api"),
            ("Visibility", "PRIVATE"),
            (
                "RequestConfig",
                r#"{"RequestHttpMethod":"GET","RequestPath":"/busy"}"#,
            ),
            ("ServiceConfig", r#"{"Mock":"TRUE","MockResult":"ok"}"#),
        ],
    )
    .await;
    assert_eq!(s, 200, "{api}");
    let api_id = api["ApiId"].as_str().unwrap().to_string();
    let (s, b) = admin_call(
        gw.admin,
        AK,
        "DeployApi",
        &[
            ("ApiId", &api_id),
            ("StageName", "RELEASE"),
            ("Description", "d"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = admin_call(gw.admin, AK, "DeleteApiGroup", &[("GroupId", &gid)]).await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("DependencyViolationApiGroup")),
        "{b}"
    );
    let (s, b) = admin_call(gw.admin, AK, "DeleteApi", &[("ApiId", &api_id)]).await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("DependencyViolationApi")),
        "{b}"
    );
    let (s, b) = admin_call(
        gw.admin,
        AK,
        "AbolishApi",
        &[("ApiId", &api_id), ("StageName", "TEST")],
    )
    .await;
    assert_eq!((s, b["Code"].as_str()), (400, Some("NotFoundStage")), "{b}");
}

/// Runs `apigw account create` and returns the new key.
fn create_account(gw: &Gateway) -> (String, String) {
    let (ok, out) = gw.cli(&["account", "create"]);
    assert!(ok, "{out}");
    let field = |name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.split_whitespace().next().unwrap().to_string())
            .unwrap_or_else(|| panic!("no {name} in {out}"))
    };
    (field("AccessKeyId "), field("AccessKeySecret "))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_see_only_their_own_resources() {
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    let (id, secret) = create_account(&gw);
    let other = (id.as_str(), secret.as_str());

    let (_, g) = admin_call(
        gw.admin,
        AK,
        "CreateApiGroup",
        &[("GroupName", "root_group")],
    )
    .await;
    let gid = g["GroupId"].as_str().unwrap().to_string();
    let (s, api) = admin_call(
        gw.admin,
        AK,
        "CreateApi",
        &[
            ("GroupId", &gid),
            ("ApiName", "root_api"),
            ("Visibility", "PRIVATE"),
            (
                "RequestConfig",
                r#"{"RequestHttpMethod":"GET","RequestPath":"/r"}"#,
            ),
            ("ServiceConfig", r#"{"Mock":"TRUE","MockResult":"ok"}"#),
        ],
    )
    .await;
    assert_eq!(s, 200, "{api}");
    let api_id = api["ApiId"].as_str().unwrap().to_string();
    let (_, root_app) = admin_call(gw.admin, AK, "CreateApp", &[("AppName", "root_app")]).await;
    let root_app = root_app["AppId"].as_i64().unwrap().to_string();

    // The other account sees none of it and cannot touch it.
    let (s, b) = admin_call(gw.admin, other, "DescribeApiGroups", &[]).await;
    assert_eq!((s, b["TotalCount"].as_u64()), (200, Some(0)), "{b}");
    let (s, b) = admin_call(gw.admin, other, "DescribeApiGroup", &[("GroupId", &gid)]).await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (403, Some("ForbiddenApiGroup")),
        "{b}"
    );
    let (s, b) = admin_call(gw.admin, other, "DeleteApiGroup", &[("GroupId", &gid)]).await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (403, Some("ForbiddenApiGroup")),
        "{b}"
    );
    let (s, b) = admin_call(gw.admin, other, "DescribeApi", &[("ApiId", &api_id)]).await;
    assert_eq!((s, b["Code"].as_str()), (403, Some("ForbiddenApi")), "{b}");
    let (s, b) = admin_call(gw.admin, other, "DescribeApp", &[("AppId", &root_app)]).await;
    assert_eq!((s, b["Code"].as_str()), (403, Some("ForbiddenApp")), "{b}");
    // Names are per account.
    let (s, b) = admin_call(
        gw.admin,
        other,
        "CreateApiGroup",
        &[("GroupName", "root_group")],
    )
    .await;
    assert_eq!(s, 200, "{b}");

    // An app of the other account can be authorized on the root's API by AppId.
    let (_, their_app) =
        admin_call(gw.admin, other, "CreateApp", &[("AppName", "their_app")]).await;
    let their_app = their_app["AppId"].as_i64().unwrap().to_string();
    let (s, b) = admin_call(
        gw.admin,
        AK,
        "SetAppsAuthorities",
        &[
            ("ApiId", &api_id),
            ("AppIds", &their_app),
            ("StageName", "RELEASE"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = admin_call(
        gw.admin,
        AK,
        "DescribeAuthorizedApps",
        &[("ApiId", &api_id)],
    )
    .await;
    assert_eq!(
        b["AuthorizedApps"]["AuthorizedApp"][0]["AppName"], "their_app",
        "{b}"
    );
    let (_, b) = admin_call(
        gw.admin,
        other,
        "DescribeAuthorizedApis",
        &[("AppId", &their_app)],
    )
    .await;
    assert_eq!(b["TotalCount"], 1, "the app's owner sees the grant: {b}");

    // A disabled key is refused.
    let (ok, out) = gw.cli(&["account", "disable-key", &id]);
    assert!(ok, "{out}");
    let (s, b) = admin_call(gw.admin, other, "DescribeApiGroups", &[]).await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("InvalidAccessKeyId.Inactive")),
        "{b}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apigw_admin_calls_actions_and_prints_json() {
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    let admin = |args: &[&str]| {
        let out = std::process::Command::new(support::BIN)
            .arg("admin")
            .args(["--endpoint", &gw.admin.to_string()])
            .args(args)
            .env("APIGW_ROOT_ACCESS_KEY_ID", AK.0)
            .env("APIGW_ROOT_ACCESS_KEY_SECRET", AK.1)
            .output()
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
        (out.status.success(), json)
    };
    let (ok, created) = admin(&[
        "CreateApiGroup",
        "--GroupName",
        "cli_group",
        "--Description=made by apigw admin",
    ]);
    assert!(ok, "{created}");
    let gid = created["GroupId"].as_str().unwrap();
    let (ok, described) = admin(&["DescribeApiGroup", "--GroupId", gid]);
    assert!(ok, "{described}");
    assert_eq!(described["Description"], "made by apigw admin");
    // JSON members go in the form body, like the Tea SDK sends them.
    let (ok, api) = admin(&[
        "CreateApi",
        "--GroupId",
        gid,
        "--ApiName",
        "cli_api",
        "--Visibility",
        "PRIVATE",
        "--RequestConfig",
        r#"{"RequestHttpMethod":"GET","RequestPath":"/cli"}"#,
        "--ServiceConfig",
        r#"{"Mock":"TRUE","MockResult":"ok"}"#,
        "--RequestParameters",
        r#"[{"ApiParameterName":"q","Location":"QUERY","ParameterType":"String","Required":"OPTIONAL"}]"#,
        "--ServiceParameters",
        r#"[{"ServiceParameterName":"q","Location":"QUERY","ParameterType":"STRING"}]"#,
        "--ServiceParametersMap",
        r#"[{"RequestParameterName":"q","ServiceParameterName":"q"}]"#,
    ]);
    assert!(ok, "{api}");
    let (ok, err) = admin(&["CreateApiGroup", "--GroupName", "cli_group"]);
    assert!(!ok);
    assert_eq!(err["Code"], "RepeatedGroupName");
}

/// `apigw admin` signs with the aliyun CLI's profiles and the SDKs' variables, in the
/// documented order: an explicit `--profile` beats `ALIBABA_CLOUD_ACCESS_KEY_*`, which beat the
/// file's `current` profile; options may follow the action.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apigw_admin_takes_profiles_and_the_sdk_variables() {
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".aliyun")).unwrap();
    let config = serde_json::json!({
        "current": "wrong",
        "profiles": [
            {"name": "wrong", "mode": "AK", "access_key_id": AK.0, "access_key_secret": "not-the-secret"},
            {"name": "gateway", "mode": "AK", "access_key_id": AK.0, "access_key_secret": AK.1},
        ]
    });
    std::fs::write(home.path().join(".aliyun/config.json"), config.to_string()).unwrap();
    let admin = |args: &[&str], env: &[(&str, &str)]| {
        let out = std::process::Command::new(support::BIN)
            .arg("admin")
            .args(args)
            .args(["--endpoint", &format!("http://{}", gw.admin)])
            .env_remove("APIGW_ROOT_ACCESS_KEY_ID")
            .env_remove("APIGW_ROOT_ACCESS_KEY_SECRET")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_ID")
            .env_remove("ALIBABA_CLOUD_ACCESS_KEY_SECRET")
            .env_remove("ALIBABA_CLOUD_PROFILE")
            .env("HOME", home.path())
            .envs(env.iter().copied())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        (out.status.success(), text, stderr)
    };
    let sdk_env = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK.0),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", AK.1),
    ];
    let wrong_env = [
        ("ALIBABA_CLOUD_ACCESS_KEY_ID", AK.0),
        ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "wrong-secret-0001"),
    ];
    // The file's current profile holds a wrong secret: refused, and the message says whose key.
    let (ok, text, stderr) = admin(&["DescribeApiGroups"], &[]);
    assert!(!ok, "{text}");
    assert!(text.contains("SignatureDoesNotMatch"), "{text}");
    assert!(stderr.contains("profile `wrong`"), "{stderr}");
    // The SDKs' variables beat the current profile.
    let (ok, text, _) = admin(&["DescribeApiGroups"], &sdk_env);
    assert!(ok, "{text}");
    // An explicit profile beats the variables; it may follow the action's parameters.
    let (ok, text, _) = admin(
        &[
            "DescribeApiGroups",
            "--PageSize",
            "5",
            "--profile",
            "gateway",
        ],
        &wrong_env,
    );
    assert!(ok, "{text}");
    let (ok, text, _) = admin(
        &["DescribeApiGroups"],
        &[("ALIBABA_CLOUD_PROFILE", "gateway")],
    );
    assert!(ok, "{text}");
}

/// No tenant reaches what it must not: backend addresses are checked when an API is written.
/// Link-local (metadata), unspecified and multicast addresses and the gateway's own listeners
/// are refused for every account; loopback and private ranges for accounts other than root,
/// unless `APIGW_BACKEND_ALLOW` names them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_addresses_are_checked_per_account() {
    let mut env = ENV.to_vec();
    env.push(("APIGW_BACKEND_ALLOW", "10.9.0.0/16"));
    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &env);
    let (id, secret) = create_account(&gw);
    let tenant = (id.as_str(), secret.as_str());
    let admin = gw.admin;
    let create = |key: (&'static str, &'static str), name: &'static str| async move {
        let (_, g) = admin_call(admin, key, "CreateApiGroup", &[("GroupName", name)]).await;
        g["GroupId"].as_str().unwrap().to_string()
    };
    let root_group = create(AK, "root_backends").await;
    let (_, g) = admin_call(
        gw.admin,
        tenant,
        "CreateApiGroup",
        &[("GroupName", "tenant_backends")],
    )
    .await;
    let tenant_group = g["GroupId"].as_str().unwrap().to_string();
    let api = |key: (&str, &str), group: &str, name: &str, address: &str| {
        let (key, group, name) = (
            (key.0.to_string(), key.1.to_string()),
            group.to_string(),
            name.to_string(),
        );
        let sc = format!(r#"{{"ServiceAddress":"{address}","ServiceTimeout":1000}}"#);
        async move {
            admin_call(
                admin,
                (&key.0, &key.1),
                "CreateApi",
                &[
                    ("GroupId", &group),
                    ("ApiName", &name),
                    ("Visibility", "PRIVATE"),
                    ("AuthType", "ANONYMOUS"),
                    (
                        "RequestConfig",
                        &format!(r#"{{"RequestHttpMethod":"GET","RequestPath":"/{name}"}}"#),
                    ),
                    ("ServiceConfig", &sc),
                ],
            )
            .await
        }
    };
    let admin_listener = format!("http://{}", gw.admin);
    let refused_for_all = [
        "http://169.254.169.254",
        "http://0.0.0.0:8000",
        "http://[::]:8000",
        "http://224.0.0.1",
        admin_listener.as_str(),
    ];
    for (i, address) in refused_for_all.iter().enumerate() {
        for (key, group) in [(AK, &root_group), (tenant, &tenant_group)] {
            let (s, b) = api(key, group, &format!("bad_{i}"), address).await;
            assert_eq!(
                (s, b["Code"].as_str()),
                (400, Some("InvalidBackendAddress")),
                "{address}: {b}"
            );
        }
    }
    for (i, address) in [
        "http://127.0.0.1:7000",
        "http://[::1]:7000",
        "http://192.168.1.10",
        "http://localhost:7000",
        "http://LocalHost.:7000",
    ]
    .iter()
    .enumerate()
    {
        let (s, b) = api(tenant, &tenant_group, &format!("internal_{i}"), address).await;
        assert_eq!(
            (s, b["Code"].as_str()),
            (400, Some("InvalidBackendAddress")),
            "{address}: {b}"
        );
        let (s, b) = api(AK, &root_group, &format!("internal_{i}"), address).await;
        assert_eq!(s, 200, "root may use {address}: {b}");
    }
    for (i, address) in [
        "http://10.9.1.2:8080",
        "https://api.example.com",
        "http://8.8.8.8",
    ]
    .iter()
    .enumerate()
    {
        let (s, b) = api(tenant, &tenant_group, &format!("fine_{i}"), address).await;
        assert_eq!(s, 200, "{address}: {b}");
    }
    // Plugins that send requests elsewhere are checked the same way.
    let plugin = |key: (&'static str, &'static str),
                  name: String,
                  kind: &'static str,
                  data: String| async move {
        admin_call(
            admin,
            key,
            "CreatePlugin",
            &[
                ("PluginName", &name),
                ("PluginType", kind),
                ("PluginData", &data),
            ],
        )
        .await
    };
    let routing = |address: &str| {
        format!("routes: [{{name: r, condition: \"1 = 1\", backend: {{type: HTTP, address: \"{address}\"}}}}]")
    };
    let downgrade = |address: &str| {
        format!(
            r#"{{"timeoutThreshold": 2, "windowInSeconds": 10, "openTimeoutSeconds": 15, "downgradeBackend": {{"type": "http", "address": "{address}"}}}}"#
        )
    };
    for (i, (kind, data)) in [
        ("routing", routing("http://169.254.169.254")),
        ("routing", routing("http://127.0.0.1:7000")),
        ("circuitBreaker", downgrade("http://10.0.0.1")),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, b) = plugin(tenant_key(&id, &secret), format!("plugin_{i}"), kind, data).await;
        assert_eq!(
            (s, b["Code"].as_str()),
            (400, Some("InvalidBackendAddress")),
            "{b}"
        );
    }
    let (s, b) = plugin(
        AK,
        "root_routing".into(),
        "routing",
        routing("http://127.0.0.1:7000"),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = plugin(
        AK,
        "root_metadata".into(),
        "routing",
        routing("http://169.254.169.254"),
    )
    .await;
    assert_eq!(
        (s, b["Code"].as_str()),
        (400, Some("InvalidBackendAddress")),
        "{b}"
    );
}

/// An account's key with a `'static` lifetime, for closures that outlive the test's locals.
fn tenant_key(id: &str, secret: &str) -> (&'static str, &'static str) {
    (
        Box::leak(id.to_string().into_boxed_str()),
        Box::leak(secret.to_string().into_boxed_str()),
    )
}

/// This machine's host name, and the addresses the system resolver gives it.
fn host_name_and_addresses() -> (String, Vec<std::net::IpAddr>) {
    use std::net::ToSocketAddrs;
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let ips = (name.as_str(), 80)
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("the host name `{name}` does not resolve: {e}"))
        .map(|a| a.ip())
        .collect();
    (name, ips)
}

/// Creates an anonymous GET `/<name>` API on `address` in `group` as `key`, deploys it to
/// RELEASE and calls it; returns the data plane's answer.
async fn deploy_and_call(
    gw: &Gateway,
    key: (&str, &str),
    group: &serde_json::Value,
    name: &str,
    address: &str,
) -> support::Resp {
    let gid = group["GroupId"].as_str().unwrap();
    let sc = format!(r#"{{"ServiceAddress":"{address}","ServiceTimeout":2000}}"#);
    let rc = format!(r#"{{"RequestHttpMethod":"GET","RequestPath":"/{name}"}}"#);
    let (s, api) = admin_call(
        gw.admin,
        key,
        "CreateApi",
        &[
            ("GroupId", gid),
            ("ApiName", name),
            ("Visibility", "PRIVATE"),
            ("AuthType", "ANONYMOUS"),
            ("RequestConfig", &rc),
            ("ServiceConfig", &sc),
        ],
    )
    .await;
    assert_eq!(s, 200, "{api}");
    let api_id = api["ApiId"].as_str().unwrap();
    let (s, b) = admin_call(
        gw.admin,
        key,
        "DeployApi",
        &[
            ("GroupId", gid),
            ("ApiId", api_id),
            ("StageName", "RELEASE"),
            ("Description", "d"),
        ],
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let host = group["SubDomain"].as_str().unwrap();
    support::get(gw.http, host, &format!("/{name}")).await
}

/// At connect time (after DNS) a host name that resolves to a loopback or private address
/// is refused for another account's API (`D504IL`), and nothing reaches the backend; an
/// address the operator denies is refused for the root account's APIs too, even when it
/// reached the store before the operator denied it (the data plane fails closed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_addresses_are_checked_when_they_resolve() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (name, ips) = host_name_and_addresses();
    assert!(
        ips.iter().all(|ip| match ip {
            std::net::IpAddr::V4(v4) => v4.is_loopback() || v4.is_private(),
            std::net::IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
        }),
        "this test needs a host name that resolves to loopback or private addresses: `{name}` resolves to {ips:?}"
    );
    // A backend on every address that counts the requests it gets.
    let hits = std::sync::Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let counted = hits.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
            use tokio::io::{AsyncReadExt, AsyncWriteExt};
            // Read the request head first: an answer sent before the request is "an
            // unexpected message" to the gateway's HTTP client (D504CO), depending on timing.
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf).await {
                    Ok(n) if n > 0 => head.extend_from_slice(&buf[..n]),
                    _ => break,
                }
            }
            let _ = s
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok")
                .await;
        }
    });

    let gw = Gateway::start_in_with_env(tempfile::tempdir().unwrap(), &ENV);
    let (id, secret) = create_account(&gw);
    let tenant = (id.as_str(), secret.as_str());
    let (_, group) = admin_call(
        gw.admin,
        tenant,
        "CreateApiGroup",
        &[("GroupName", "t_res")],
    )
    .await;
    let by_name = format!("http://{name}:{port}");
    let r = deploy_and_call(&gw, tenant, &group, "by_name", &by_name).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (504, Some("D504IL")),
        "{}",
        r.text()
    );
    assert!(r.message().unwrap().contains(&name), "{:?}", r.message());
    assert_eq!(hits.load(Ordering::SeqCst), 0, "the backend was reached");

    // The root account may reach it by name.
    let (_, root_group) =
        admin_call(gw.admin, AK, "CreateApiGroup", &[("GroupName", "r_res")]).await;
    let literal = format!("http://127.0.0.1:{port}");
    let r = deploy_and_call(&gw, AK, &root_group, "root_literal", &literal).await;
    assert_eq!((r.status.as_u16(), r.text().as_str()), (200, "ok"));

    // The operator denies loopback: the stored API (a literal address) and a host name that
    // resolves there are both refused, for the root account too.
    let dir = gw.stop();
    let mut env = ENV.to_vec();
    let deny: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
    let deny = format!("127.0.0.0/8,::1/128,{}", deny.join(","));
    env.push(("APIGW_BACKEND_DENY", &deny));
    let gw = Gateway::start_in_with_env(dir, &env);
    let before = hits.load(Ordering::SeqCst);
    let host = root_group["SubDomain"].as_str().unwrap();
    let r = support::get(gw.http, host, "/root_literal").await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (504, Some("D504IL")),
        "{}",
        r.text()
    );
    let r = deploy_and_call(&gw, AK, &root_group, "root_by_name", &by_name).await;
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (504, Some("D504IL")),
        "{}",
        r.text()
    );
    assert_eq!(
        hits.load(Ordering::SeqCst),
        before,
        "the backend was reached"
    );
}
