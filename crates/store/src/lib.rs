//! The configuration store: groups, domains, API drafts and deployments (with history).
//!
//! Architecture invariants:
//! - Only the control plane calls the store; the data plane reads an immutable snapshot built
//!   from [`Store::load_live`] and never awaits the store on the request path.
//! - Every successful write is durable when the call returns.
//! - Every write bumps [`Store::generation`], so a gateway notices changes made by another
//!   process (e.g. `apigw apply`) or, in a cluster, by another node.
#![forbid(unsafe_code)]

mod sqlite;

use apigw_model::{ApiDefinition, Deployment, Domain, Group, Stage};
use async_trait::async_trait;

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("stored data unreadable: {0}")]
    Corrupt(String),
    #[error("not found: {0}")]
    NotFound(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Everything the data plane needs, read in one consistent transaction.
#[derive(Debug, Clone, Default)]
pub struct LiveConfig {
    pub generation: u64,
    pub groups: Vec<Group>,
    pub domains: Vec<Domain>,
    /// The online deployment of every (API, stage).
    pub deployments: Vec<Deployment>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A number that grows with every committed write.
    async fn generation(&self) -> Result<u64>;
    /// A consistent view of what is live.
    async fn load_live(&self) -> Result<LiveConfig>;

    async fn put_group(&self, group: &Group) -> Result<()>;
    async fn get_group(&self, group_id: &str) -> Result<Option<Group>>;
    async fn list_groups(&self) -> Result<Vec<Group>>;
    /// Deletes the group with its domains, APIs and deployment history.
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
}
