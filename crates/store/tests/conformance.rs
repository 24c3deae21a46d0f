//! What every store does, the same test body against SQLite and PostgreSQL (`sqlite::…`,
//! `postgres::…`): round trips, the generation, deployments and history, atomic and
//! conditional batches, shared deployments between loads.

mod common;

use apigw_model::{App, Authorization, Domain, Plugin, PluginBinding, Stage};
use apigw_store::{StoreError, Write};
use common::{api, deployment, group, Backend};
use std::sync::Arc;

on_both!(
    round_trips_and_survives_reopen,
    every_write_bumps_the_generation,
    deploy_abolish_and_switch_keep_one_online_version,
    a_batch_is_written_whole_and_bumps_the_generation_once,
    a_stale_batch_is_refused_and_writes_nothing,
    a_batch_failing_half_way_leaves_the_store_as_it_was,
    of_two_conditional_batches_from_two_handles_exactly_one_commits,
    unchanged_online_deployments_are_shared_between_loads,
    apps_grants_plugins_and_keys_round_trip_in_key_order,
    vpc_accesses_backends_and_stage_variables_round_trip_and_go_with_their_group,
);

async fn round_trips_and_survives_reopen(backend: Backend) {
    {
        let store = backend.open().await;
        store.put_group(&group("g1")).await.unwrap();
        let d = Domain {
            domain_name: "localhost".into(),
            group_id: "g1".into(),
            bind_stage_name: None,
            certificate: None,
            web_socket: Default::default(),
        };
        store.put_domain(&d).await.unwrap();
        store.put_api(&api("a1", "g1", "/x")).await.unwrap();
    }
    let store = backend.open().await;
    assert_eq!(
        store.get_group("g1").await.unwrap().unwrap().group_name,
        "group_g1"
    );
    assert!(store.get_group("nope").await.unwrap().is_none());
    assert_eq!(store.list_domains().await.unwrap().len(), 1);
    let back = store.get_api("a1").await.unwrap().unwrap();
    assert_eq!(back, api("a1", "g1", "/x"));
    assert!(back.extra.contains_key("RequestParameters"));
    assert_eq!(store.list_apis("g1").await.unwrap(), vec![back]);
    assert!(store.delete_domain("localhost").await.unwrap());
    assert!(!store.delete_domain("localhost").await.unwrap());
    assert!(store.delete_api("a1").await.unwrap());
    assert!(store.get_api("a1").await.unwrap().is_none());
}

async fn every_write_bumps_the_generation(backend: Backend) {
    let store = backend.open().await;
    let g0 = store.generation().await.unwrap();
    store.put_group(&group("g1")).await.unwrap();
    let g1 = store.generation().await.unwrap();
    assert!(g1 > g0);
    store.put_api(&api("a1", "g1", "/x")).await.unwrap();
    assert!(store.generation().await.unwrap() > g1);
    // A write that finds nothing to change is a write all the same.
    let g2 = store.generation().await.unwrap();
    assert!(!store.delete_group("nope").await.unwrap());
    assert!(store.generation().await.unwrap() > g2);
    // A second handle (another process) sees the change.
    let other = backend.open().await;
    assert_eq!(
        other.generation().await.unwrap(),
        store.generation().await.unwrap()
    );
}

async fn deploy_abolish_and_switch_keep_one_online_version(backend: Backend) {
    let store = backend.open().await;
    store.put_group(&group("g1")).await.unwrap();
    let v1 = api("a1", "g1", "/v1");
    let v2 = api("a1", "g1", "/v2");
    store
        .deploy(&deployment(&v1, Stage::Release, "20261125000000001"))
        .await
        .unwrap();
    store
        .deploy(&deployment(&v2, Stage::Release, "20261125000000002"))
        .await
        .unwrap();
    store
        .deploy(&deployment(&v1, Stage::Test, "20261125000000003"))
        .await
        .unwrap();

    let live = store.load_live().await.unwrap();
    assert_eq!(live.deployments.len(), 2);
    let release = live
        .deployments
        .iter()
        .find(|d| d.stage_name == Stage::Release)
        .unwrap();
    assert_eq!(release.definition.request_config.request_path, "/v2");
    assert!(release.online);

    let history = store.history("a1", Some(Stage::Release)).await.unwrap();
    assert_eq!(
        history.iter().map(|d| d.online).collect::<Vec<_>>(),
        vec![true, false]
    );
    assert_eq!(
        store
            .latest_version("a1", Stage::Release)
            .await
            .unwrap()
            .as_deref(),
        Some("20261125000000002")
    );
    assert_eq!(store.latest_version("a1", Stage::Pre).await.unwrap(), None);

    assert!(store
        .switch_version("a1", Stage::Release, "20261125000000001")
        .await
        .unwrap());
    assert!(!store
        .switch_version("a1", Stage::Release, "19990101000000000")
        .await
        .unwrap());
    let live = store.load_live().await.unwrap();
    let release = live
        .deployments
        .iter()
        .find(|d| d.stage_name == Stage::Release)
        .unwrap();
    assert_eq!(release.definition.request_config.request_path, "/v1");

    assert!(store.abolish("a1", Stage::Release).await.unwrap());
    assert!(!store.abolish("a1", Stage::Release).await.unwrap());
    let live = store.load_live().await.unwrap();
    assert_eq!(live.deployments.len(), 1);
    assert_eq!(live.deployments[0].stage_name, Stage::Test);
    let all = store.history("a1", None).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|d| d.history_version.as_str())
            .collect::<Vec<_>>(),
        vec![
            "20261125000000003",
            "20261125000000002",
            "20261125000000001"
        ]
    );

    assert!(store.delete_group("g1").await.unwrap());
    assert!(store.load_live().await.unwrap().deployments.is_empty());
    assert!(store.history("a1", None).await.unwrap().is_empty());
}

async fn a_batch_is_written_whole_and_bumps_the_generation_once(backend: Backend) {
    let store = backend.open().await;
    let a = api("a1", "g1", "/a1");
    let before = store.generation().await.unwrap();
    store
        .commit(
            &[
                Write::PutGroup(group("g1")),
                Write::PutApi(a.clone()),
                Write::Deploy(deployment(&a, Stage::Release, "1")),
                Write::Deploy(deployment(&a, Stage::Release, "2")),
            ],
            Some(before),
        )
        .await
        .unwrap();
    assert_eq!(store.generation().await.unwrap(), before + 1);
    let all = store.load_all().await.unwrap();
    assert_eq!(all.live.generation, before + 1);
    assert_eq!(all.apis, vec![a.clone()]);
    assert_eq!(all.live.deployments.len(), 1, "one online version");
    assert_eq!(all.live.deployments[0].history_version, "2");
    assert_eq!(
        all.latest_versions,
        vec![("a1".to_string(), Stage::Release, "2".to_string())]
    );
    // An empty batch writes nothing.
    store.commit(&[], Some(before + 1)).await.unwrap();
    assert_eq!(store.generation().await.unwrap(), before + 1);
}

async fn a_stale_batch_is_refused_and_writes_nothing(backend: Backend) {
    let store = backend.open().await;
    let read_at = store.generation().await.unwrap();
    store.put_group(&group("g1")).await.unwrap();
    let before = backend.dump().await;
    let err = store
        .commit(&[Write::PutGroup(group("g2"))], Some(read_at))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err}");
    assert_eq!(backend.dump().await, before);
}

async fn a_batch_failing_half_way_leaves_the_store_as_it_was(backend: Backend) {
    let store = backend.open().await;
    store.put_group(&group("g1")).await.unwrap();
    store.put_api(&api("a1", "g1", "/a1")).await.unwrap();
    // A real failure inside the database, after earlier writes of the batch have run.
    backend
        .execute(
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON apis WHEN NEW.api_id = 'boom'
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END;",
            "CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN IF NEW.api_id = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$;
             CREATE TRIGGER refuse_boom BEFORE INSERT ON apis FOR EACH ROW EXECUTE FUNCTION refuse_boom();",
        )
        .await;
    let before = backend.dump().await;
    let a1 = api("a1", "g1", "/a1");
    let err = store
        .commit(
            &[
                Write::PutGroup(group("g2")),
                Write::Deploy(deployment(&a1, Stage::Release, "1")),
                Write::DeleteApi("a1".into()),
                Write::PutApi(api("boom", "g2", "/boom")),
                Write::PutApi(api("a3", "g2", "/a3")),
            ],
            None,
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("boom refused"), "{err}");
    assert_eq!(backend.dump().await, before);
    // The store still works.
    store.put_group(&group("g3")).await.unwrap();
}

/// Two nodes (two handles) read the same generation and commit: the database lets one
/// through and refuses the other, however they interleave.
async fn of_two_conditional_batches_from_two_handles_exactly_one_commits(backend: Backend) {
    let (a, b) = (backend.open().await, backend.open().await);
    for round in 0..20 {
        let read_at = a.generation().await.unwrap();
        assert_eq!(b.generation().await.unwrap(), read_at);
        let wa = [Write::PutGroup(group(&format!("a{round}")))];
        let wb = [Write::PutGroup(group(&format!("b{round}")))];
        let (ra, rb) = tokio::join!(a.commit(&wa, Some(read_at)), b.commit(&wb, Some(read_at)),);
        let won = [&ra, &rb].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {ra:?} {rb:?}");
        let lost = if ra.is_ok() { rb } else { ra };
        assert!(matches!(lost, Err(StoreError::Conflict(_))), "{lost:?}");
        assert_eq!(a.generation().await.unwrap(), read_at + 1);
    }
    assert_eq!(a.list_groups().await.unwrap().len(), 20);
}

/// A load hands out the same `Arc` for a deployment that did not change (the data plane
/// recompiles only what changed), and new ones for what changed.
async fn unchanged_online_deployments_are_shared_between_loads(backend: Backend) {
    let store = backend.open().await;
    store.put_group(&group("g1")).await.unwrap();
    let apis: Vec<_> = (0..5)
        .map(|i| api(&format!("a{i}"), "g1", &format!("/p{i}")))
        .collect();
    for a in &apis {
        store
            .deploy(&deployment(a, Stage::Release, "1"))
            .await
            .unwrap();
    }
    let first = store.load_live().await.unwrap();
    store
        .deploy(&deployment(&apis[2], Stage::Release, "2"))
        .await
        .unwrap();
    store.abolish("a4", Stage::Release).await.unwrap();
    store
        .deploy(&deployment(&apis[0], Stage::Test, "3"))
        .await
        .unwrap();
    let second = store.load_all().await.unwrap().live;
    let key = |d: &Arc<apigw_model::Deployment>| {
        format!("{}/{}/{}", d.api_id, d.stage_name, d.history_version)
    };
    assert_eq!(
        second.deployments.iter().map(key).collect::<Vec<_>>(),
        [
            "a0/RELEASE/1",
            "a0/TEST/3",
            "a1/RELEASE/1",
            "a2/RELEASE/2",
            "a3/RELEASE/1"
        ]
    );
    let same = |i: usize, j: usize| Arc::ptr_eq(&first.deployments[i], &second.deployments[j]);
    assert!(same(0, 0) && same(1, 2) && same(3, 4), "unchanged: shared");
    assert!(!Arc::ptr_eq(&first.deployments[2], &second.deployments[3]));
    assert!(second.deployments.iter().all(|d| d.online));
    // Nothing changed: everything shared.
    let third = store.load_live().await.unwrap();
    for (x, y) in second.deployments.iter().zip(&third.deployments) {
        assert!(Arc::ptr_eq(x, y));
    }
}

async fn apps_grants_plugins_and_keys_round_trip_in_key_order(backend: Backend) {
    let store = backend.open().await;
    store.put_group(&group("g1")).await.unwrap();
    let app = |id: i64| -> App {
        serde_json::from_value(serde_json::json!({"AppId": id, "AppName": format!("app{id}")}))
            .unwrap()
    };
    for id in [30, 4, 1_000_000_000_007] {
        store.put_app(&app(id)).await.unwrap();
    }
    assert_eq!(
        store
            .list_apps()
            .await
            .unwrap()
            .iter()
            .map(|a| a.app_id)
            .collect::<Vec<_>>(),
        [4, 30, 1_000_000_000_007]
    );
    assert_eq!(store.get_app(30).await.unwrap().unwrap().app_name, "app30");
    let grant: Authorization = serde_json::from_value(serde_json::json!({
        "AppId": 30, "ApiId": "a1", "GroupId": "g1", "StageName": "RELEASE"
    }))
    .unwrap();
    store.put_authorization(&grant).await.unwrap();
    assert_eq!(store.list_authorizations().await.unwrap().len(), 1);
    assert!(store.delete_app(30).await.unwrap());
    assert!(store.list_authorizations().await.unwrap().is_empty());
    assert!(!store.delete_app(30).await.unwrap());

    // Byte order, whatever the database's locale: upper case before lower case.
    for id in ["b", "B", "a", "A"] {
        let plugin: Plugin = serde_json::from_value(serde_json::json!({
            "PluginId": id, "PluginName": id, "PluginType": "cors", "PluginData": "{}"
        }))
        .unwrap();
        store.put_plugin(&plugin).await.unwrap();
    }
    let ids: Vec<String> = store
        .list_plugins()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.plugin_id)
        .collect();
    assert_eq!(ids, ["A", "B", "a", "b"]);
    let binding = |plugin: &str| -> PluginBinding {
        serde_json::from_value(serde_json::json!({
            "PluginId": plugin, "ApiId": "a1", "GroupId": "g1", "StageName": "RELEASE"
        }))
        .unwrap()
    };
    store.bind_plugin(&binding("a"), &[]).await.unwrap();
    store
        .bind_plugin(&binding("b"), &["a".to_string()])
        .await
        .unwrap();
    let bound = store.list_plugin_bindings().await.unwrap();
    assert_eq!(bound.len(), 1);
    assert_eq!(bound[0].plugin_id, "b");
    assert!(store
        .unbind_plugin("b", "a1", Stage::Release)
        .await
        .unwrap());
    assert!(!store
        .unbind_plugin("b", "a1", Stage::Release)
        .await
        .unwrap());
    store.bind_plugin(&binding("A"), &[]).await.unwrap();
    assert!(store.delete_plugin("A").await.unwrap());
    assert!(store.list_plugin_bindings().await.unwrap().is_empty());

    let key: apigw_model::AccessKey = serde_json::from_value(serde_json::json!({
        "AccessKeyId": "LTAIkey", "AccessKeySecret": "s3cret", "AccountId": 7
    }))
    .unwrap();
    store.put_access_key(&key).await.unwrap();
    assert_eq!(store.list_access_keys().await.unwrap(), vec![key]);
}

async fn vpc_accesses_backends_and_stage_variables_round_trip_and_go_with_their_group(
    backend: Backend,
) {
    use apigw_model::{BackendService, StageVariable, VpcAccess};
    let store = backend.open().await;
    store.put_group(&group("g1")).await.unwrap();
    let access: VpcAccess = serde_json::from_value(serde_json::json!({
        "VpcAccessId": "v1", "Name": "orders", "VpcId": "vpc-1", "InstanceId": "10.0.0.7",
        "Port": 8080, "OwnerId": 7
    }))
    .unwrap();
    store.put_vpc_access(&access).await.unwrap();
    let backend_service: BackendService = serde_json::from_value(serde_json::json!({
        "BackendId": "b1", "BackendName": "users", "BackendType": "HTTP",
        "Models": [{"BackendModelId": "m1", "StageName": "TEST",
                    "BackendConfig": {"Type": "HTTP", "ServiceAddress": "http://10.0.0.8:80"}}]
    }))
    .unwrap();
    store.put_backend(&backend_service).await.unwrap();
    let variable = |stage: &str, name: &str, value: &str| -> StageVariable {
        serde_json::from_value(serde_json::json!({
            "GroupId": "g1", "StageName": stage, "VariableName": name, "VariableValue": value
        }))
        .unwrap()
    };
    store
        .put_stage_variable(&variable("TEST", "host", "10.0.0.1"))
        .await
        .unwrap();
    store
        .put_stage_variable(&variable("TEST", "host", "10.0.0.2"))
        .await
        .unwrap();
    store
        .put_stage_variable(&variable("RELEASE", "host", "10.0.0.3"))
        .await
        .unwrap();

    let live = store.load_live().await.unwrap();
    assert_eq!(live.vpc_accesses, vec![access.clone()]);
    assert_eq!(live.backends, vec![backend_service.clone()]);
    assert_eq!(
        live.stage_variables,
        vec![
            variable("RELEASE", "host", "10.0.0.3"),
            variable("TEST", "host", "10.0.0.2")
        ]
    );
    assert_eq!(store.list_vpc_accesses().await.unwrap(), vec![access]);
    assert_eq!(store.list_backends().await.unwrap(), vec![backend_service]);

    assert!(store
        .delete_stage_variable("g1", Stage::Test, "host")
        .await
        .unwrap());
    assert!(!store
        .delete_stage_variable("g1", Stage::Test, "host")
        .await
        .unwrap());
    assert!(store.delete_vpc_access("v1").await.unwrap());
    assert!(!store.delete_vpc_access("v1").await.unwrap());
    assert!(store.delete_backend("b1").await.unwrap());
    assert!(store.list_backends().await.unwrap().is_empty());
    // Deleting the group deletes its variables.
    assert!(store.delete_group("g1").await.unwrap());
    assert!(store.list_stage_variables().await.unwrap().is_empty());
}
