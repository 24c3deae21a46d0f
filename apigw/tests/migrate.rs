//! `apigw migrate --to postgres://…`: an embedded installation (a data directory written by
//! `apply`, with an app, a grant, a plugin and a rolled-back deployment history) copied into a
//! PostgreSQL database of the test's own, then served from there by a cluster node.

mod support;

use apigw_store::TestDatabase;
use support::{backend, cli, cli_store, get, signed_get, Gateway};

const KEY: &str = "203000001";
const SECRET: &str = "migrate-secret-0001";

fn yaml(backend: std::net::SocketAddr) -> String {
    format!(
        r#"
Groups:
  - GroupName: moving
    Domains: [{{DomainName: localhost}}]
    Apis:
      - ApiName: open
        AuthType: ANONYMOUS
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /open}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: /open, ServiceTimeout: 5000}}
        DeployTo: [RELEASE]
      - ApiName: signed
        AuthType: APP
        RequestConfig: {{RequestHttpMethod: GET, RequestPath: /signed}}
        ServiceConfig: {{ServiceAddress: "http://{backend}", ServicePath: /signed, ServiceTimeout: 5000}}
        DeployTo: [RELEASE]
Apps:
  - AppName: moving_app
    Keys: [{{AppKey: "{KEY}", AppSecret: "{SECRET}"}}]
    Authorizations:
      - {{GroupName: moving, ApiName: signed, Stages: [RELEASE]}}
Plugins:
  - PluginName: moving_limit
    PluginType: trafficControl
    PluginData: "unit: DAY\napiDefault: 1000\n"
    AttachTo: [{{GroupName: moving, ApiName: open, Stages: [RELEASE]}}]
"#
    )
}

fn ok(result: (bool, String)) -> String {
    assert!(result.0, "{}", result.1);
    result.1
}

/// The lines of `apigw history`, sorted (the same on both stores after the copy).
fn history(text: &str) -> Vec<&str> {
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_copies_a_data_directory_into_the_cluster_store() {
    let backend = backend().await;
    let dir = tempfile::tempdir().unwrap();
    support::apply(dir.path(), &yaml(backend)).expect("apply");
    // A second version of `open`, then back to the first: the online version is not the newest.
    ok(cli(dir.path(), &["deploy", "moving", "open", "RELEASE"]));
    let local_history = ok(cli(dir.path(), &["history", "moving", "open"]));
    let first = local_history
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().nth(1))
        .expect("a history line")
        .to_string();
    ok(cli(
        dir.path(),
        &["rollback", "moving", "open", "RELEASE", &first],
    ));
    let local_history = ok(cli(dir.path(), &["history", "moving", "open"]));
    assert_eq!(local_history.lines().count(), 2, "{local_history}");

    let db = TestDatabase::create();

    let dry = ok(cli(dir.path(), &["migrate", "--to", db.url(), "--dry-run"]));
    assert!(dry.contains("would copy"), "{dry}");
    assert!(dry.contains("apis            2"), "{dry}");
    assert!(dry.contains("deployments     3 (2 online)"), "{dry}");
    assert!(dry.contains("apps            1"), "{dry}");
    assert!(dry.contains("plugin bindings 1"), "{dry}");
    let listed = ok(cli_store(db.url(), &["apis"]));
    assert!(!listed.contains("moving"), "a dry run wrote: {listed}");

    let done = ok(cli(dir.path(), &["migrate", "--to", db.url()]));
    assert!(done.contains("copied"), "{done}");
    let cluster_history = ok(cli_store(db.url(), &["history", "moving", "open"]));
    assert_eq!(history(&cluster_history), history(&local_history));
    assert!(
        cluster_history.contains(&format!("RELEASE {first} ONLINE")),
        "{cluster_history}"
    );

    // A second copy into the same database is refused and changes nothing.
    let (copied_again, text) = cli(dir.path(), &["migrate", "--to", db.url()]);
    assert!(!copied_again, "{text}");
    assert!(text.contains("already holds a configuration"), "{text}");

    // A node on the cluster store serves what the data directory held.
    let node = Gateway::start_cluster_node(db.url(), &[]);
    let open = get(node.http, "localhost", "/open").await;
    assert_eq!(open.status, 200, "{}", open.text());
    let signed = signed_get(
        node.http,
        "localhost",
        "/signed",
        (KEY, SECRET),
        &support::nonce(),
    )
    .await;
    assert_eq!(signed.status, 200, "{}", signed.text());
}

#[test]
fn migrate_refuses_what_it_cannot_copy() {
    let empty = tempfile::tempdir().unwrap();
    let (copied, text) = cli(
        empty.path(),
        &[
            "migrate",
            "--to",
            "postgres://postgres@127.0.0.1:5432/postgres",
        ],
    );
    assert!(!copied);
    assert!(text.contains("holds no apigw store"), "{text}");
    let (copied, text) = cli(empty.path(), &["migrate", "--to", "mysql://somewhere/db"]);
    assert!(!copied);
    assert!(text.contains("postgres://"), "{text}");
}
