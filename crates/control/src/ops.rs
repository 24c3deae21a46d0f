use crate::certs::{certificate_info, check_certificate};
use crate::{new_id, now_utc, version_now};
use apigw_model::account::ROOT_ACCOUNT_ID;
use apigw_model::group::MAX_DOMAINS_PER_GROUP;
use apigw_model::validate::{check_conflicts, validate_api};
use apigw_model::{
    ApiDefinition, Deployment, Domain, DomainCertificate, Group, ModelError, PathPattern, Stage,
};
use apigw_store::{Store, StoreError};
use std::fmt;
use std::sync::Arc;
use tokio::sync::{watch, Mutex, Notify};

/// How long a write waits for this node to serve it before returning anyway (the write is
/// durable either way; a warning is logged).
pub const LIVE_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

#[derive(Debug)]
pub enum ControlError {
    /// The request was refused; `code` is a management-API code such as `RepeatedPath`.
    Refused(ModelError),
    Store(StoreError),
}

impl ControlError {
    pub fn code(&self) -> &str {
        match self {
            ControlError::Refused(e) => &e.code,
            ControlError::Store(_) => "ServiceUnavailable",
        }
    }
}

impl fmt::Display for ControlError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ControlError::Refused(e) => e.fmt(f),
            ControlError::Store(e) => write!(f, "ServiceUnavailable: {e}"),
        }
    }
}

impl std::error::Error for ControlError {}

impl From<ModelError> for ControlError {
    fn from(e: ModelError) -> Self {
        ControlError::Refused(e)
    }
}
impl From<StoreError> for ControlError {
    fn from(e: StoreError) -> Self {
        ControlError::Store(e)
    }
}

pub type Result<T> = std::result::Result<T, ControlError>;

pub(crate) fn not_found(what: &str, id: &str) -> ControlError {
    ModelError::new(
        format!("NotFound{what}"),
        format!("no {what} matches `{id}`"),
    )
    .into()
}

/// Serialises the writers of the configuration: within the process (a mutex) and, through
/// [`Store::lock_writes`], across the processes that share the store (the nodes of a
/// cluster), so that checks (uniqueness, conflicts) and the write they guard cannot interleave
/// with another writer's.
#[derive(Clone)]
pub(crate) struct Writers {
    local: Arc<Mutex<()>>,
    store: Arc<dyn Store>,
}

/// Held by a writer; the next one goes in when it is dropped.
pub struct WriteGuard {
    // Dropped in this order: the store's lock first, then this process's.
    _store: apigw_store::WriteLock,
    _local: tokio::sync::OwnedMutexGuard<()>,
}

impl Writers {
    pub(crate) async fn lock(&self) -> Result<WriteGuard> {
        let local = self.local.clone().lock_owned().await;
        let store = self.store.lock_writes().await?;
        Ok(WriteGuard {
            _store: store,
            _local: local,
        })
    }
}

/// Validated operations on the configuration. Writes are serialised (within the process, and
/// across the nodes sharing a cluster store), so checks (uniqueness, conflicts) and the write
/// they guard cannot interleave.
#[derive(Clone)]
pub struct Control {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) write_lock: Writers,
    changed: Arc<Notify>,
    /// The generation this node's data plane serves, when one runs in this process: a write
    /// returns once it is live there (read your writes).
    live: Option<watch::Receiver<u64>>,
    /// How long the previous secret of a reset AppKey stays valid.
    pub(crate) secret_grace: std::time::Duration,
    /// Most groups an account may own (`ExceedLimitApiGroup`).
    pub(crate) max_groups: usize,
    /// The account acting: it sees and changes only what it owns.
    /// Which backend addresses an API may name.
    pub(crate) backend_policy: Arc<apigw_model::backend_address::BackendPolicy>,
    pub(crate) account: i64,
    /// The latest batch deploy/abolish tasks, for DescribeDeployApiTask / DescribeAbolishApiTask.
    pub(crate) tasks: Arc<std::sync::Mutex<crate::batch::TaskLog>>,
}

/// Default of [`Control::with_group_limit`], as in the cloud.
pub const DEFAULT_MAX_GROUPS: usize = 100;

impl Control {
    pub fn new(store: Arc<dyn Store>) -> Control {
        Control {
            write_lock: Writers {
                local: Arc::new(Mutex::new(())),
                store: store.clone(),
            },
            store,
            changed: Arc::new(Notify::new()),
            live: None,
            secret_grace: crate::apps::DEFAULT_SECRET_GRACE,
            max_groups: DEFAULT_MAX_GROUPS,
            account: ROOT_ACCOUNT_ID,
            tasks: Default::default(),
            backend_policy: Arc::default(),
        }
    }

    /// Sets which backend addresses APIs may name (allow/deny lists, own listeners).
    pub fn with_backend_policy(
        mut self,
        policy: apigw_model::backend_address::BackendPolicy,
    ) -> Control {
        self.backend_policy = Arc::new(policy);
        self
    }

    /// Refuses a backend address the acting account may not use (`InvalidBackendAddress`).
    pub(crate) fn check_backend(&self, api: &ApiDefinition) -> Result<()> {
        let sc = &api.service_config;
        match &sc.service_address {
            Some(address) if !sc.mock => Ok(self
                .backend_policy
                .check(address, self.account == ROOT_ACCOUNT_ID)?),
            _ => Ok(()),
        }
    }

    /// The same operations, acting as `account` (the root account by default).
    pub fn as_account(&self, account: i64) -> Control {
        Control {
            account,
            ..self.clone()
        }
    }

    /// The account acting.
    pub fn account(&self) -> i64 {
        self.account
    }

    /// Refuses a resource another account owns (`Forbidden<What>`, 403 in the management API).
    pub(crate) fn check_owner(&self, what: &str, id: &str, owner: i64) -> Result<()> {
        if owner == self.account {
            Ok(())
        } else {
            Err(ModelError::new(
                format!("Forbidden{what}"),
                format!("{what} `{id}` belongs to another account"),
            )
            .into())
        }
    }

    /// Sets the most groups an account may own.
    pub fn with_group_limit(mut self, max: usize) -> Control {
        self.max_groups = max;
        self
    }

    /// Sets how long the previous secret stays valid after `reset_app_secret`.
    pub fn with_secret_grace(mut self, grace: std::time::Duration) -> Control {
        self.secret_grace = grace;
        self
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Holds off every other writer of the configuration (in this process, and on the other
    /// nodes of a cluster) until the guard is dropped: for a caller that checks what is stored
    /// and writes through [`Control::store`] directly.
    pub async fn lock_writes(&self) -> Result<WriteGuard> {
        self.write_lock.lock().await
    }

    /// Notified after every write, so an in-process gateway reloads at once.
    pub fn changed(&self) -> Arc<Notify> {
        self.changed.clone()
    }

    /// Makes every write wait until the data plane that publishes `live` (the generation it
    /// serves) serves it.
    pub fn with_live(mut self, live: watch::Receiver<u64>) -> Control {
        self.live = Some(live);
        self
    }

    /// Tells the in-process gateway that the store changed, then waits until it serves the
    /// change, so the caller reads its write on this node when the call returns.
    pub(crate) async fn publish(&self) {
        self.changed.notify_one();
        let Some(live) = &self.live else { return };
        let target = match self.store.generation().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(target: "apigw::config", "cannot read the store generation after a write: {e}");
                return;
            }
        };
        let mut live = live.clone();
        let reached = tokio::time::timeout(LIVE_WAIT, live.wait_for(|g| *g >= target)).await;
        if !matches!(reached, Ok(Ok(_))) {
            tracing::warn!(target: "apigw::config", generation = target, "a write is not live on this node after {LIVE_WAIT:?}; it is stored and will go live with the next reload");
        }
    }

    // ----- groups -----

    pub async fn create_group(
        &self,
        name: &str,
        description: &str,
        base_path: Option<&str>,
    ) -> Result<Group> {
        let _w = self.write_lock.lock().await?;
        let group = self.new_group(
            &self.store.list_groups().await?,
            name,
            description,
            base_path,
        )?;
        self.store.put_group(&group).await?;
        self.publish().await;
        Ok(group)
    }

    /// A new group of the acting account, checked against `all` (every stored group).
    pub(crate) fn new_group(
        &self,
        all: &[Group],
        name: &str,
        description: &str,
        base_path: Option<&str>,
    ) -> Result<Group> {
        let now = now_utc();
        let group = Group {
            group_id: new_id(),
            group_name: name.to_string(),
            owner_id: self.account,
            description: description.to_string(),
            base_path: base_path.unwrap_or("/").to_string(),
            traffic_limit: None,
            created_time: now.clone(),
            modified_time: now,
        };
        group.validate()?;
        let mut groups = all.iter().filter(|g| g.owner_id == self.account);
        if groups.clone().count() >= self.max_groups {
            return Err(ModelError::new(
                "ExceedLimitApiGroup",
                format!(
                    "an account may own at most {} groups (APIGW_MAX_GROUPS)",
                    self.max_groups
                ),
            )
            .into());
        }
        if groups.any(|g| g.group_name == name) {
            return Err(ModelError::new(
                "RepeatedGroupName",
                format!("a group named `{name}` already exists"),
            )
            .into());
        }
        Ok(group)
    }

    pub async fn modify_group(&self, group: &Group) -> Result<Group> {
        let _w = self.write_lock.lock().await?;
        let old = self.group(&group.group_id).await?;
        group.validate()?;
        let groups = self.groups().await?;
        if groups
            .iter()
            .any(|g| g.group_name == group.group_name && g.group_id != group.group_id)
        {
            return Err(ModelError::new(
                "RepeatedGroupName",
                format!("a group named `{}` already exists", group.group_name),
            )
            .into());
        }
        let new = Group {
            owner_id: old.owner_id,
            created_time: old.created_time,
            modified_time: now_utc(),
            ..group.clone()
        };
        self.store.put_group(&new).await?;
        self.publish().await;
        Ok(new)
    }

    /// A group of the acting account (`ForbiddenApiGroup` for another account's).
    pub async fn group(&self, group_id: &str) -> Result<Group> {
        let g = self
            .store
            .get_group(group_id)
            .await?
            .ok_or_else(|| not_found("ApiGroup", group_id))?;
        self.check_owner("ApiGroup", group_id, g.owner_id)?;
        Ok(g)
    }

    /// The acting account's groups.
    pub async fn groups(&self) -> Result<Vec<Group>> {
        let mut all = self.store.list_groups().await?;
        all.retain(|g| g.owner_id == self.account);
        Ok(all)
    }

    pub async fn group_by_name(&self, name: &str) -> Result<Option<Group>> {
        Ok(self
            .groups()
            .await?
            .into_iter()
            .find(|g| g.group_name == name))
    }

    /// Deletes an empty group (its domains go with it). A group that still has APIs is refused.
    pub async fn delete_group(&self, group_id: &str) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.group(group_id).await?;
        let apis = self.store.list_apis(group_id).await?;
        if !apis.is_empty() {
            return Err(ModelError::new(
                "DependencyViolationApiGroup",
                format!(
                    "group `{group_id}` still has {} API(s); delete them first",
                    apis.len()
                ),
            )
            .into());
        }
        self.store.delete_group(group_id).await?;
        self.publish().await;
        Ok(())
    }

    // ----- domains -----

    /// Binds (or re-binds) a custom domain to a group; at most 5 per group. A certificate that
    /// differs from the one stored passes [`crate::check_certificate`] first.
    pub async fn set_domain(&self, domain: Domain) -> Result<Domain> {
        let _w = self.write_lock.lock().await?;
        domain.validate()?;
        self.group(&domain.group_id).await?;
        check_domain(&self.store.list_domains().await?, &domain)?;
        self.store.put_domain(&domain).await?;
        self.publish().await;
        Ok(domain)
    }

    pub async fn delete_domain(&self, group_id: &str, domain_name: &str) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.group(group_id).await?;
        let all = self.store.list_domains().await?;
        if !all
            .iter()
            .any(|d| d.domain_name == domain_name && d.group_id == group_id)
        {
            return Err(not_found("Domain", domain_name));
        }
        self.store.delete_domain(domain_name).await?;
        self.publish().await;
        Ok(())
    }

    /// One custom domain of a group (`NotFoundDomain`).
    pub async fn domain(&self, group_id: &str, domain_name: &str) -> Result<Domain> {
        self.domains(group_id)
            .await?
            .into_iter()
            .find(|d| d.domain_name == domain_name)
            .ok_or_else(|| not_found("Domain", domain_name))
    }

    /// Sets the certificate a bound domain is served with (by SNI), after
    /// [`crate::check_certificate`]; replaces the one it had.
    pub async fn set_domain_certificate(
        &self,
        group_id: &str,
        domain_name: &str,
        certificate: DomainCertificate,
    ) -> Result<Domain> {
        let _w = self.write_lock.lock().await?;
        let mut domain = self.domain(group_id, domain_name).await?;
        check_certificate(
            &certificate.certificate_body,
            &certificate.certificate_private_key,
        )?;
        domain.certificate = Some(certificate);
        self.store.put_domain(&domain).await?;
        self.publish().await;
        Ok(domain)
    }

    /// Opens or closes a domain's WebSocket channel (`SetDomainWebSocketStatus`).
    pub async fn set_domain_web_socket(
        &self,
        group_id: &str,
        domain_name: &str,
        status: apigw_model::WebSocketStatus,
    ) -> Result<Domain> {
        let _w = self.write_lock.lock().await?;
        let mut domain = self.domain(group_id, domain_name).await?;
        if domain.web_socket != status {
            domain.web_socket = status;
            self.store.put_domain(&domain).await?;
            self.publish().await;
        }
        Ok(domain)
    }

    /// Removes a domain's certificate; `certificate_id` must be the id of the one it has
    /// (`DomainCertificateNotFound` otherwise). HTTPS to the domain then fails the handshake.
    pub async fn delete_domain_certificate(
        &self,
        group_id: &str,
        domain_name: &str,
        certificate_id: &str,
    ) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        let mut domain = self.domain(group_id, domain_name).await?;
        let current = domain
            .certificate
            .as_ref()
            .and_then(|c| certificate_info(&c.certificate_body).ok());
        if current.is_none_or(|i| i.certificate_id != certificate_id) {
            return Err(ModelError::new(
                "DomainCertificateNotFound",
                format!("domain `{domain_name}` has no certificate `{certificate_id}`"),
            )
            .into());
        }
        domain.certificate = None;
        self.store.put_domain(&domain).await?;
        self.publish().await;
        Ok(())
    }

    pub async fn domains(&self, group_id: &str) -> Result<Vec<Domain>> {
        self.group(group_id).await?;
        Ok(self
            .store
            .list_domains()
            .await?
            .into_iter()
            .filter(|d| d.group_id == group_id)
            .collect())
    }

    // ----- APIs -----

    /// Creates a draft. Nothing changes live until it is deployed.
    pub async fn create_api(&self, mut api: ApiDefinition) -> Result<ApiDefinition> {
        let _w = self.write_lock.lock().await?;
        self.group(&api.group_id).await?;
        api.api_id = new_id();
        api.created_time = now_utc();
        api.modified_time = api.created_time.clone();
        self.check_draft(&api).await?;
        self.store.put_api(&api).await?;
        self.publish().await;
        Ok(api)
    }

    /// Replaces a draft. Deployed versions stay as they are until the next deploy.
    pub async fn modify_api(&self, mut api: ApiDefinition) -> Result<ApiDefinition> {
        let _w = self.write_lock.lock().await?;
        let old = self.api(&api.api_id).await?;
        api.group_id = old.group_id;
        api.created_time = old.created_time;
        api.modified_time = now_utc();
        self.check_draft(&api).await?;
        self.store.put_api(&api).await?;
        self.publish().await;
        Ok(api)
    }

    async fn check_draft(&self, api: &ApiDefinition) -> Result<PathPattern> {
        let path = validate_api(api)?;
        self.check_backend(api)?;
        let others = self.store.list_apis(&api.group_id).await?;
        check_conflicts(api, &path, &others)?;
        Ok(path)
    }

    /// An API in a group of the acting account (`ForbiddenApi` otherwise).
    pub async fn api(&self, api_id: &str) -> Result<ApiDefinition> {
        let api = self
            .store
            .get_api(api_id)
            .await?
            .ok_or_else(|| not_found("Api", api_id))?;
        let owner = self
            .store
            .get_group(&api.group_id)
            .await?
            .map_or(ROOT_ACCOUNT_ID, |g| g.owner_id);
        self.check_owner("Api", api_id, owner)?;
        Ok(api)
    }

    pub async fn apis(&self, group_id: &str) -> Result<Vec<ApiDefinition>> {
        self.group(group_id).await?;
        Ok(self.store.list_apis(group_id).await?)
    }

    /// Deletes a draft that is not deployed in any stage.
    pub async fn delete_api(&self, api_id: &str) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.api(api_id).await?;
        let online: Vec<String> = self
            .store
            .history(api_id, None)
            .await?
            .into_iter()
            .filter(|d| d.online)
            .map(|d| d.stage_name.to_string())
            .collect();
        if !online.is_empty() {
            return Err(ModelError::new(
                "DependencyViolationApi",
                format!(
                    "API `{api_id}` is still deployed in {}; abolish it first",
                    online.join(", ")
                ),
            )
            .into());
        }
        self.store.delete_api(api_id).await?;
        self.publish().await;
        Ok(())
    }

    // ----- deployments -----

    /// Makes the current draft live in `stage`, as a new history version.
    pub async fn deploy(
        &self,
        api_id: &str,
        stage: Stage,
        description: &str,
    ) -> Result<Deployment> {
        let _w = self.write_lock.lock().await?;
        let deployment = self.deploy_locked(api_id, stage, description).await?;
        self.publish().await;
        Ok(deployment)
    }

    /// [`Control::deploy`] for a caller that holds the write lock (and notifies).
    pub(crate) async fn deploy_locked(
        &self,
        api_id: &str,
        stage: Stage,
        description: &str,
    ) -> Result<Deployment> {
        let api = self.api(api_id).await?;
        let path = validate_api(&api)?;
        self.check_backend(&api)?;
        let live = self.store.load_live().await?;
        let live_in_stage = live
            .deployments
            .iter()
            .filter(|d| d.group_id == api.group_id && d.stage_name == stage)
            .map(|d| &d.definition);
        check_conflicts(&api, &path, live_in_stage)?;
        self.check_target(&api, stage, &live)?;
        let latest = self.store.latest_version(api_id, stage).await?;
        let deployment = new_deployment(api, stage, latest.as_deref(), description);
        self.store.deploy(&deployment).await?;
        Ok(deployment)
    }

    /// Takes the API out of `stage`. Refused with `NotFoundStage` when it is not deployed there.
    pub async fn abolish(&self, api_id: &str, stage: Stage) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.abolish_locked(api_id, stage).await?;
        self.publish().await;
        Ok(())
    }

    /// [`Control::abolish`] for a caller that holds the write lock (and notifies).
    pub(crate) async fn abolish_locked(&self, api_id: &str, stage: Stage) -> Result<()> {
        self.api(api_id).await?;
        if !self.store.abolish(api_id, stage).await? {
            return Err(not_deployed(api_id, stage));
        }
        Ok(())
    }

    /// Rollback: makes an earlier history version of `stage` live again.
    pub async fn switch_version(&self, api_id: &str, stage: Stage, version: &str) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.api(api_id).await?;
        let history = self.store.history(api_id, Some(stage)).await?;
        let Some(target) = history.iter().find(|d| d.history_version == version) else {
            return Err(not_found("HistoryVersion", version));
        };
        let path = validate_api(&target.definition)?;
        let live = self.store.load_live().await?;
        let others = live
            .deployments
            .iter()
            .filter(|d| d.group_id == target.group_id && d.stage_name == stage)
            .map(|d| &d.definition);
        check_conflicts(&target.definition, &path, others)?;
        self.check_target(&target.definition, stage, &live)?;
        self.store.switch_version(api_id, stage, version).await?;
        self.publish().await;
        Ok(())
    }

    pub async fn history(&self, api_id: &str, stage: Option<Stage>) -> Result<Vec<Deployment>> {
        self.api(api_id).await?;
        Ok(self.store.history(api_id, stage).await?)
    }

    /// The deployment live in `stage` (`NotFoundStage` when the API is not deployed there).
    pub async fn deployed(&self, api_id: &str, stage: Stage) -> Result<Deployment> {
        self.history(api_id, Some(stage))
            .await?
            .into_iter()
            .find(|d| d.online)
            .ok_or_else(|| not_deployed(api_id, stage))
    }

    /// One history version of `stage`, online or not (`NotFoundHistoryVersion`).
    pub async fn history_version(
        &self,
        api_id: &str,
        stage: Stage,
        version: &str,
    ) -> Result<Deployment> {
        self.history(api_id, Some(stage))
            .await?
            .into_iter()
            .find(|d| d.history_version == version)
            .ok_or_else(|| not_found("HistoryVersion", version))
    }
}

fn not_deployed(api_id: &str, stage: Stage) -> ControlError {
    ModelError::new(
        "NotFoundStage",
        format!("API `{api_id}` is not deployed in {stage}"),
    )
    .into()
}

/// Refuses to bind `domain` when another group holds the name, or when its group already
/// binds the most domains (`all`: every bound domain).
pub(crate) fn check_domain(all: &[Domain], domain: &Domain) -> Result<()> {
    // A certificate is checked when it is new or changed (a stored one passed already).
    if let Some(cert) = &domain.certificate {
        let stored = all
            .iter()
            .find(|d| d.domain_name == domain.domain_name)
            .and_then(|d| d.certificate.as_ref());
        if stored != Some(cert) {
            check_certificate(&cert.certificate_body, &cert.certificate_private_key)?;
        }
    }
    if let Some(taken) = all
        .iter()
        .find(|d| d.domain_name == domain.domain_name && d.group_id != domain.group_id)
    {
        return Err(ModelError::new(
            "RepeatedDomain",
            format!(
                "domain `{}` is already bound to group `{}`",
                domain.domain_name, taken.group_id
            ),
        )
        .into());
    }
    let count = all
        .iter()
        .filter(|d| d.group_id == domain.group_id && d.domain_name != domain.domain_name)
        .count();
    if count >= MAX_DOMAINS_PER_GROUP {
        return Err(ModelError::new(
            "ExceedLimitDomain",
            format!("a group may bind at most {MAX_DOMAINS_PER_GROUP} custom domains"),
        )
        .into());
    }
    Ok(())
}

/// A deployment of the draft `api` made now, with a history version after `latest` (the
/// newest one of the API in `stage`).
pub(crate) fn new_deployment(
    api: ApiDefinition,
    stage: Stage,
    latest: Option<&str>,
    description: &str,
) -> Deployment {
    let mut version = version_now();
    if let Some(latest) = latest {
        if latest >= version.as_str() {
            version = next_version(latest);
        }
    }
    Deployment {
        api_id: api.api_id.clone(),
        group_id: api.group_id.clone(),
        stage_name: stage,
        history_version: version,
        description: description.to_string(),
        deployed_time: now_utc(),
        online: true,
        definition: api,
    }
}

/// The version after `v` (one millisecond later in `yyyyMMddHHmmssSSS` as a number).
fn next_version(v: &str) -> String {
    v.parse::<u64>()
        .map(|n| (n + 1).to_string())
        .unwrap_or_else(|_| version_now())
}
