//! The configuration store: groups, domains, API drafts and deployments (with history).
//!
//! Architecture invariants:
//! - Only the control plane calls the store; the data plane reads an immutable snapshot built
//!   from [`Store::load_live`] and never awaits the store on the request path.
//! - Every successful write is durable when the call returns.
//! - Every write of configuration bumps [`Store::generation`], so a gateway notices changes
//!   made by another process (e.g. `apigw apply`) or, in a cluster, by another node. A batch
//!   ([`Store::commit`]) is one write: all of it or nothing, one bump. The monitoring actions'
//!   per-minute totals ([`Store::put_minutes`]) are not configuration and bump nothing.
//! - Schemas are versioned and only move forward (`migrate.rs`): opening a store upgrades an
//!   older schema in place and refuses a newer one.
//! - Secrets (AccessKey secrets, app secrets and AppCodes, certificates' private keys, plugin
//!   documents) are sealed with the master key when one is set ([`SecretBox`]): every store
//!   seals the [`SecretFields`] of a document before writing it and opens them after reading
//!   (in `sql.rs`, so both stores do it the same way), and opening a store reseals what is not
//!   in the form the keys given write ([`Resealed`]).
//!
//! Two stores implement the trait: [`SqliteStore`] (one file in the data directory) and
//! [`PostgresStore`] (a cluster's nodes share one database; writes are pushed to every node
//! with LISTEN/NOTIFY). What they share — the SQL of every read and write, the documents and
//! their sealed secrets, the online deployments handed out between loads — lives in `sql.rs`,
//! `online.rs` and `backend.rs`, so a write means the same whichever store runs it.
#![forbid(unsafe_code)]

mod backend;
mod copy;
mod migrate;
mod minutes;
mod online;
mod postgres;
mod secrets;
mod sql;
mod sqlite;
mod testdb;

use apigw_model::monitor::{ApiMinute, MinuteDetail, MinuteTotals};
use apigw_model::{
    AccessKey, ApiDefinition, App, Authorization, BackendService, Deployment, Domain, Group,
    Plugin, PluginBinding, Stage, StageVariable, VpcAccess,
};
use async_trait::async_trait;

pub use copy::{copy_all, CopyReport};
pub use postgres::{is_postgres_url, PostgresStore};
pub use secrets::{MasterKey, Reseal, Resealed, SecretBox, SecretFields, KEY_ID_LEN};
pub use sqlite::{
    create_private_dir, create_private_file, restrict, SqliteStore, PRIVATE_DIR, PRIVATE_FILE,
};
pub use testdb::TestDatabase;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data unreadable: {0}")]
    Corrupt(String),
    #[error("not found: {0}")]
    NotFound(String),
    /// A conditional [`Store::commit`] found the store changed since the caller read it;
    /// nothing was written.
    #[error("the configuration changed meanwhile: {0}")]
    Conflict(String),
    /// Secrets in the store are sealed with a master key that was not given.
    #[error("{0}")]
    MasterKey(String),
    /// The store was made by a newer apigw: its schema is at a version this binary does not
    /// know. Nothing was changed.
    #[error("the store's schema is at version {found}, newer than this apigw knows (version {supported}): run the apigw release that wrote it, or a newer one")]
    SchemaTooNew { found: i64, supported: i64 },
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything the data plane needs, read in one consistent transaction.
#[derive(Debug, Clone, Default)]
pub struct LiveConfig {
    pub generation: u64,
    pub groups: Vec<Group>,
    pub domains: Vec<Domain>,
    /// The online deployment of every (API, stage). Shared: a store may hand out the same
    /// `Arc` for an unchanged deployment, so a reload can tell what changed by pointer.
    pub deployments: Vec<std::sync::Arc<Deployment>>,
    pub apps: Vec<App>,
    pub authorizations: Vec<Authorization>,
    pub plugins: Vec<Plugin>,
    pub plugin_bindings: Vec<PluginBinding>,
    /// Named backend targets APIs reach through `VpcConfig`.
    pub vpc_accesses: Vec<VpcAccess>,
    /// Backend services with their per-stage models, for APIs with `BackendEnable`.
    pub backends: Vec<BackendService>,
    /// Every group's stage variables.
    pub stage_variables: Vec<StageVariable>,
}

/// Everything the control plane checks a whole change against (the declarative file), read in
/// one consistent transaction.
#[derive(Debug, Clone, Default)]
pub struct StoredConfig {
    /// What is live, and the generation this view belongs to.
    pub live: LiveConfig,
    /// Every API draft.
    pub apis: Vec<ApiDefinition>,
    /// The newest history version of every (API, stage) ever deployed there.
    pub latest_versions: Vec<(String, Stage, String)>,
}

/// One write operation; [`Store::commit`] applies a batch of them atomically. Each variant
/// does exactly what the single-write method of the same name does (they share one
/// implementation).
#[derive(Debug, Clone)]
pub enum Write {
    PutGroup(Group),
    /// The group with its domains, APIs, deployment history, grants and bindings.
    DeleteGroup(String),
    PutDomain(Domain),
    DeleteDomain(String),
    PutApi(ApiDefinition),
    /// The draft with its deployment history, grants and bindings.
    DeleteApi(String),
    /// Records the deployment and makes it the online one of its API and stage.
    Deploy(Deployment),
    Abolish {
        api_id: String,
        stage: Stage,
    },
    SwitchVersion {
        api_id: String,
        stage: Stage,
        version: String,
    },
    PutApp(App),
    /// The app and its grants.
    DeleteApp(i64),
    PutAuthorization(Authorization),
    DeleteAuthorization {
        app_id: i64,
        api_id: String,
        stage: Stage,
    },
    PutPlugin(Plugin),
    /// The plugin and its bindings.
    DeletePlugin(String),
    /// Binds, replacing the bindings there of the plugin ids in `replaces`.
    BindPlugin {
        binding: PluginBinding,
        replaces: Vec<String>,
    },
    UnbindPlugin {
        plugin_id: String,
        api_id: String,
        stage: Stage,
    },
    PutAccessKey(AccessKey),
    PutVpcAccess(VpcAccess),
    DeleteVpcAccess(String),
    /// A backend service with its models.
    PutBackend(BackendService),
    DeleteBackend(String),
    PutStageVariable(StageVariable),
    DeleteStageVariable {
        group_id: String,
        stage: Stage,
        name: String,
    },
}

/// Held while the control plane checks a change against what is stored and writes it (see
/// [`Store::lock_writes`]); dropping it lets the next writer in.
pub struct WriteLock(#[allow(dead_code)] Option<Box<dyn std::any::Any + Send + Sync>>);

impl WriteLock {
    /// A lock that holds nothing (the store has one writing process, or serialises otherwise).
    pub fn none() -> WriteLock {
        WriteLock(None)
    }

    /// Holds `guard` until the lock is dropped.
    pub fn holding(guard: impl std::any::Any + Send + Sync) -> WriteLock {
        WriteLock(Some(Box::new(guard)))
    }
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Serialises writers across processes: the control plane holds this while it checks a
    /// change (uniqueness, conflicts) and writes it, so two nodes of a cluster cannot both
    /// pass a check that only one of their writes may pass. The embedded store has one
    /// serving process and returns a lock that holds nothing (the control plane serialises
    /// writers within the process).
    async fn lock_writes(&self) -> Result<WriteLock> {
        Ok(WriteLock::none())
    }

    /// Wakes `wake` whenever another process or node may have changed the store, until `stop`
    /// turns true. A store that cannot tell returns at once (the reloader polls
    /// [`Store::generation`] anyway).
    async fn listen(
        &self,
        wake: std::sync::Arc<tokio::sync::Notify>,
        stop: tokio::sync::watch::Receiver<bool>,
    ) {
        let _ = (wake, stop);
    }

    /// A number that grows with every committed write.
    async fn generation(&self) -> Result<u64>;
    /// A consistent view of what is live.
    async fn load_live(&self) -> Result<LiveConfig>;
    /// A consistent view of what is live, every draft and the newest history versions.
    async fn load_all(&self) -> Result<StoredConfig>;

    /// Applies `batch` in order, all or nothing, in one transaction that bumps the generation
    /// once. With `if_generation`, refuses with [`StoreError::Conflict`] (writing nothing) when
    /// the generation is not that number any more, i.e. when someone wrote since the caller
    /// read the state its batch was computed from. An empty batch writes nothing and leaves
    /// the generation alone. A batch that fails leaves the store as it was.
    async fn commit(&self, batch: &[Write], if_generation: Option<u64>) -> Result<()>;

    async fn put_group(&self, group: &Group) -> Result<()>;
    async fn get_group(&self, group_id: &str) -> Result<Option<Group>>;
    async fn list_groups(&self) -> Result<Vec<Group>>;
    /// Deletes the group with its domains, APIs, deployment history and stage variables.
    async fn delete_group(&self, group_id: &str) -> Result<bool>;

    async fn put_domain(&self, domain: &Domain) -> Result<()>;
    async fn delete_domain(&self, domain_name: &str) -> Result<bool>;
    async fn list_domains(&self) -> Result<Vec<Domain>>;

    async fn put_api(&self, api: &ApiDefinition) -> Result<()>;
    async fn get_api(&self, api_id: &str) -> Result<Option<ApiDefinition>>;
    async fn list_apis(&self, group_id: &str) -> Result<Vec<ApiDefinition>>;
    /// Deletes the draft and its deployment history.
    async fn delete_api(&self, api_id: &str) -> Result<bool>;

    /// Records `deployment` (its `online` flag is ignored) and makes it the online one of its
    /// API and stage, in one transaction.
    async fn deploy(&self, deployment: &Deployment) -> Result<()>;
    /// Takes the API offline in `stage`. False when it was not online there.
    async fn abolish(&self, api_id: &str, stage: Stage) -> Result<bool>;
    /// Makes an earlier deployment online again (rollback). False when no such version.
    async fn switch_version(&self, api_id: &str, stage: Stage, version: &str) -> Result<bool>;
    /// Deployment history of an API, newest first, optionally of one stage.
    async fn history(&self, api_id: &str, stage: Option<Stage>) -> Result<Vec<Deployment>>;
    /// The newest history version of an API in a stage (without reading the history).
    async fn latest_version(&self, api_id: &str, stage: Stage) -> Result<Option<String>>;

    async fn put_app(&self, app: &App) -> Result<()>;
    async fn get_app(&self, app_id: i64) -> Result<Option<App>>;
    async fn list_apps(&self) -> Result<Vec<App>>;
    /// Deletes the app and its authorizations.
    async fn delete_app(&self, app_id: i64) -> Result<bool>;

    /// Grants (or updates the grant of) an app on an API in a stage.
    async fn put_authorization(&self, grant: &Authorization) -> Result<()>;
    async fn delete_authorization(&self, app_id: i64, api_id: &str, stage: Stage) -> Result<bool>;
    async fn list_authorizations(&self) -> Result<Vec<Authorization>>;

    async fn put_plugin(&self, plugin: &Plugin) -> Result<()>;
    async fn list_plugins(&self) -> Result<Vec<Plugin>>;
    /// Deletes the plugin and its bindings.
    async fn delete_plugin(&self, plugin_id: &str) -> Result<bool>;
    /// Binds a plugin to an API in a stage, replacing in the same transaction the bindings
    /// listed in `replaces` (plugin ids of the same type bound there).
    async fn bind_plugin(&self, binding: &PluginBinding, replaces: &[String]) -> Result<()>;
    async fn unbind_plugin(&self, plugin_id: &str, api_id: &str, stage: Stage) -> Result<bool>;
    async fn list_plugin_bindings(&self) -> Result<Vec<PluginBinding>>;

    /// Management AccessKeys (not part of [`LiveConfig`]: the data plane never sees them).
    async fn put_access_key(&self, key: &AccessKey) -> Result<()>;
    async fn list_access_keys(&self) -> Result<Vec<AccessKey>>;

    /// Writes the per-minute totals `node` holds, replacing what `node` wrote before for the
    /// same API, stage and minute. Not configuration: the generation does not move.
    async fn put_minutes(&self, node: &str, rows: &[ApiMinute]) -> Result<()>;
    /// The totals of `api_id` (in `stage`, or all stages added) per minute from `from` up to
    /// (not including) `to`, added up over every node but `except_node`; minutes without a
    /// row are left out.
    async fn api_minutes(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
        except_node: &str,
    ) -> Result<Vec<(i64, MinuteTotals)>>;
    /// Like [`Store::api_minutes`], the detail of the totals (answers by status and error
    /// code, latency histogram) per minute, added up over every node but `except_node`.
    async fn api_minute_details(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
        except_node: &str,
    ) -> Result<Vec<(i64, MinuteDetail)>>;
    /// Deletes the per-minute totals and details of minutes before `before`; how many rows
    /// went (of both tables).
    async fn prune_minutes(&self, before: i64) -> Result<u64>;
    async fn put_vpc_access(&self, access: &VpcAccess) -> Result<()>;
    async fn delete_vpc_access(&self, vpc_access_id: &str) -> Result<bool>;
    async fn list_vpc_accesses(&self) -> Result<Vec<VpcAccess>>;

    /// Stores a backend service with its per-stage models.
    async fn put_backend(&self, backend: &BackendService) -> Result<()>;
    async fn delete_backend(&self, backend_id: &str) -> Result<bool>;
    async fn list_backends(&self) -> Result<Vec<BackendService>>;

    /// Sets (or changes the value of) a stage variable of a group.
    async fn put_stage_variable(&self, variable: &StageVariable) -> Result<()>;
    async fn delete_stage_variable(&self, group_id: &str, stage: Stage, name: &str)
        -> Result<bool>;
    async fn list_stage_variables(&self) -> Result<Vec<StageVariable>>;
}
