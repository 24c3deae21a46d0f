//! Backend targets outside an API's own definition: VPC accesses (`SetVpcAccess`), backend
//! services with their per-stage models (`CreateBackend`, `CreateBackendModel`) and stage
//! variables (`CreateApiStageVariable`). Changing one changes the APIs that use it at the data
//! plane's next compile (the snapshot resolves them), without a redeploy; a stage variable a
//! deployed backend needs must exist when the API is deployed.

use crate::ops::{not_found, Control, Result};
use crate::{new_id, now_utc};
use apigw_model::account::ROOT_ACCOUNT_ID;
use apigw_model::service::{check_backend_type, resolve, Targets, Unresolved};
use apigw_model::{
    ApiDefinition, BackendConfig, BackendModel, BackendService, ModelError, Stage, StageVariable,
    VpcAccess,
};
use apigw_store::LiveConfig;

/// What `SetVpcAccess` / `ModifyVpcAccessAndUpdateApis` give.
#[derive(Debug, Clone, Default)]
pub struct VpcAccessSpec {
    pub name: String,
    pub vpc_id: String,
    pub instance_id: String,
    pub port: u16,
    pub vpc_target_host_name: Option<String>,
    pub description: String,
}

fn refused(code: &str, message: String) -> crate::ControlError {
    ModelError::new(code, message).into()
}

impl Control {
    fn root(&self) -> bool {
        self.account == ROOT_ACCOUNT_ID
    }

    /// A VPC access's target must be one the acting account may reach, like a ServiceAddress.
    pub(crate) fn check_vpc_target(&self, a: &VpcAccess) -> Result<()> {
        a.validate()?;
        Ok(self.backend_policy.check(&a.address("http"), self.root())?)
    }

    // ----- VPC accesses -----

    /// Creates a named VPC access. Refused when the account has one of that name or one with
    /// the same VpcId, InstanceId and Port (`RepeatedVpcAccess`).
    pub async fn set_vpc_access(&self, spec: VpcAccessSpec) -> Result<VpcAccess> {
        let _w = self.write_lock.lock().await?;
        let access = VpcAccess {
            vpc_access_id: new_id(),
            name: spec.name,
            vpc_id: spec.vpc_id,
            instance_id: spec.instance_id,
            port: spec.port,
            vpc_target_host_name: spec.vpc_target_host_name,
            description: spec.description,
            owner_id: self.account,
            created_time: now_utc(),
        };
        self.check_vpc_target(&access)?;
        let mine = self.vpc_accesses().await?;
        if let Some(same) = mine
            .iter()
            .find(|o| o.name == access.name || same_target(o, &access))
        {
            return Err(refused(
                "RepeatedVpcAccess",
                format!(
                    "VPC access `{}` already exists for {}:{} in {}",
                    same.name, same.instance_id, same.port, same.vpc_id
                ),
            ));
        }
        self.store.put_vpc_access(&access).await?;
        self.publish().await;
        Ok(access)
    }

    /// The acting account's VPC accesses.
    pub async fn vpc_accesses(&self) -> Result<Vec<VpcAccess>> {
        let mut all = self.store.list_vpc_accesses().await?;
        all.retain(|a| a.owner_id == self.account);
        Ok(all)
    }

    /// Re-points the VPC access `spec.name` at another VpcId, InstanceId and Port. The APIs that
    /// use it follow at once (no redeploy). `NotFoundVpc` when there is no such access.
    pub async fn modify_vpc_access(&self, spec: VpcAccessSpec) -> Result<VpcAccess> {
        let _w = self.write_lock.lock().await?;
        let mine = self.vpc_accesses().await?;
        let old = mine
            .iter()
            .find(|a| a.name == spec.name)
            .ok_or_else(|| not_found("Vpc", &spec.name))?;
        let access = VpcAccess {
            vpc_id: spec.vpc_id,
            instance_id: spec.instance_id,
            port: spec.port,
            vpc_target_host_name: spec
                .vpc_target_host_name
                .or_else(|| old.vpc_target_host_name.clone()),
            ..old.clone()
        };
        self.check_vpc_target(&access)?;
        if let Some(same) = mine
            .iter()
            .find(|o| o.vpc_access_id != access.vpc_access_id && same_target(o, &access))
        {
            return Err(refused(
                "RepeatedVpcAccess",
                format!(
                    "VPC access `{}` already has that target; remove it first",
                    same.name
                ),
            ));
        }
        self.store.put_vpc_access(&access).await?;
        self.publish().await;
        Ok(access)
    }

    /// Removes the VPC access with this VpcId, InstanceId and Port. Refused while an API
    /// (draft or deployed) or a backend model uses it (`DependencyViolationVpcAccess`).
    pub async fn remove_vpc_access(
        &self,
        vpc_id: &str,
        instance_id: &str,
        port: u16,
    ) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        let mine = self.vpc_accesses().await?;
        let access = mine
            .iter()
            .find(|a| a.vpc_id == vpc_id && a.instance_id == instance_id && a.port == port)
            .ok_or_else(|| not_found("Vpc", &format!("{vpc_id} {instance_id}:{port}")))?;
        let users = self.users(|api| uses_vpc(api, access)).await?;
        let models: Vec<String> = self
            .my_backends()
            .await?
            .into_iter()
            .filter(|b| {
                b.models.iter().any(|m| {
                    m.backend_config
                        .vpc_config
                        .as_ref()
                        .is_some_and(|v| v.name == access.name)
                })
            })
            .map(|b| b.backend_name)
            .collect();
        if !users.is_empty() || !models.is_empty() {
            return Err(refused(
                "DependencyViolationVpcAccess",
                format!(
                    "VPC access `{}` is used by API(s) [{}] and backend(s) [{}]",
                    access.name,
                    users.join(", "),
                    models.join(", ")
                ),
            ));
        }
        self.store.delete_vpc_access(&access.vpc_access_id).await?;
        self.publish().await;
        Ok(())
    }

    /// The ids of the acting account's APIs whose draft or online deployment `uses`.
    async fn users(&self, uses: impl Fn(&ApiDefinition) -> bool) -> Result<Vec<String>> {
        let all = self.store.load_all().await?;
        let mine: std::collections::HashSet<&str> = all
            .live
            .groups
            .iter()
            .filter(|g| g.owner_id == self.account)
            .map(|g| g.group_id.as_str())
            .collect();
        let mut ids: Vec<String> = all
            .apis
            .iter()
            .chain(all.live.deployments.iter().map(|d| &d.definition))
            .filter(|a| mine.contains(a.group_id.as_str()) && uses(a))
            .map(|a| a.api_id.clone())
            .collect();
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    // ----- backend services -----

    async fn my_backends(&self) -> Result<Vec<BackendService>> {
        let mut all = self.store.list_backends().await?;
        all.retain(|b| b.owner_id == self.account);
        Ok(all)
    }

    /// Creates a backend service (types `HTTP`, `HTTP-VPC`; others `InvalidBackendType`).
    pub async fn create_backend(
        &self,
        name: &str,
        backend_type: &str,
        description: &str,
    ) -> Result<BackendService> {
        let _w = self.write_lock.lock().await?;
        apigw_model::group::validate_name("BackendName", name)?;
        let backend_type = check_backend_type(backend_type)?;
        if self
            .my_backends()
            .await?
            .iter()
            .any(|b| b.backend_name == name)
        {
            return Err(refused(
                "RepeatedBackendName",
                format!("a backend named `{name}` already exists"),
            ));
        }
        let now = now_utc();
        let b = BackendService {
            backend_id: new_id(),
            backend_name: name.to_string(),
            backend_type,
            description: description.to_string(),
            owner_id: self.account,
            created_time: now.clone(),
            modified_time: now,
            models: Vec::new(),
        };
        self.store.put_backend(&b).await?;
        self.publish().await;
        Ok(b)
    }

    /// A backend service of the acting account (`NotFoundBackend`).
    pub async fn backend(&self, backend_id: &str) -> Result<BackendService> {
        self.my_backends()
            .await?
            .into_iter()
            .find(|b| b.backend_id == backend_id)
            .ok_or_else(|| not_found("Backend", backend_id))
    }

    pub async fn backends(&self) -> Result<Vec<BackendService>> {
        self.my_backends().await
    }

    /// Deletes a backend service no API uses (`DependencyViolationBackend` otherwise).
    pub async fn delete_backend(&self, backend_id: &str) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.backend(backend_id).await?;
        let users = self
            .users(|a| a.backend_enable && a.backend_id.as_deref() == Some(backend_id))
            .await?;
        if !users.is_empty() {
            return Err(refused(
                "DependencyViolationBackend",
                format!(
                    "backend `{backend_id}` is used by API(s) [{}]",
                    users.join(", ")
                ),
            ));
        }
        self.store.delete_backend(backend_id).await?;
        self.publish().await;
        Ok(())
    }

    /// Sets the backend's model for `stage` (replacing the one there): every API using the
    /// backend calls it in that stage from now on. `data` is `BackendModelData` (JSON).
    pub async fn create_backend_model(
        &self,
        backend_id: &str,
        stage: Stage,
        backend_type: &str,
        data: &str,
        description: &str,
    ) -> Result<BackendModel> {
        let _w = self.write_lock.lock().await?;
        let mut b = self.backend(backend_id).await?;
        let backend_type = check_backend_type(backend_type)?;
        if backend_type != b.backend_type {
            return Err(ModelError::invalid(
                "BackendType",
                format!(
                    "`{backend_type}` differs from the backend's type `{}`",
                    b.backend_type
                ),
            )
            .into());
        }
        let mut config: BackendConfig = serde_json::from_str(data)
            .map_err(|e| ModelError::new("InvalidFormatBackendModelData", e.to_string()))?;
        config.validate(&backend_type)?;
        if let Some(address) = &config.service_address {
            self.backend_policy.check(address, self.root())?;
        }
        let now = now_utc();
        let model = BackendModel {
            backend_model_id: new_id(),
            stage_name: stage,
            backend_config: config,
            description: description.to_string(),
            gmt_create: now.clone(),
            gmt_modified: now.clone(),
        };
        b.models.retain(|m| m.stage_name != stage);
        b.models.push(model.clone());
        b.models.sort_by_key(|m| m.stage_name);
        b.modified_time = now;
        self.store.put_backend(&b).await?;
        self.publish().await;
        Ok(model)
    }

    /// Deletes a backend model (`NotFoundBackendModel`); APIs using the backend in that stage
    /// answer `I404SR` from then on.
    pub async fn delete_backend_model(
        &self,
        backend_id: &str,
        model_id: &str,
        stage: Option<Stage>,
    ) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        let mut b = self.backend(backend_id).await?;
        let before = b.models.len();
        b.models
            .retain(|m| m.backend_model_id != model_id || stage.is_some_and(|s| s != m.stage_name));
        if b.models.len() == before {
            return Err(not_found("BackendModel", model_id));
        }
        b.modified_time = now_utc();
        self.store.put_backend(&b).await?;
        self.publish().await;
        Ok(())
    }

    // ----- stage variables -----

    /// Sets a stage variable of a group (a new value replaces the old one). Deployed APIs
    /// that use it call the new value at once.
    pub async fn set_stage_variable(&self, v: StageVariable) -> Result<StageVariable> {
        let _w = self.write_lock.lock().await?;
        self.group(&v.group_id).await?;
        v.validate()?;
        self.store.put_stage_variable(&v).await?;
        self.publish().await;
        Ok(v)
    }

    /// The variables of a group in a stage (all stages with `None`).
    pub async fn stage_variables(
        &self,
        group_id: &str,
        stage: Option<Stage>,
    ) -> Result<Vec<StageVariable>> {
        self.group(group_id).await?;
        let mut all = self.store.list_stage_variables().await?;
        all.retain(|v| v.group_id == group_id && stage.is_none_or(|s| v.stage_name == s));
        Ok(all)
    }

    /// Deletes a stage variable no API deployed in that stage uses
    /// (`DependencyViolationStageVariable`; `NotFoundStageVariable` when there is none).
    pub async fn delete_stage_variable(
        &self,
        group_id: &str,
        stage: Stage,
        name: &str,
    ) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        let vars = self.stage_variables(group_id, Some(stage)).await?;
        if !vars.iter().any(|v| v.variable_name == name) {
            return Err(not_found("StageVariable", name));
        }
        let live = self.store.load_live().await?;
        let users: Vec<&str> = live
            .deployments
            .iter()
            .filter(|d| d.group_id == group_id && d.stage_name == stage)
            .filter(|d| uses_variable(&d.definition, &live, self.account, stage, name))
            .map(|d| d.api_id.as_str())
            .collect();
        if !users.is_empty() {
            return Err(refused(
                "DependencyViolationStageVariable",
                format!(
                    "stage variable `{name}` is used in {stage} by API(s) [{}]",
                    users.join(", ")
                ),
            ));
        }
        self.store
            .delete_stage_variable(group_id, stage, name)
            .await?;
        self.publish().await;
        Ok(())
    }

    /// Refuses to make `api` live in `stage` when its backend needs a stage variable the
    /// group lacks there (`NotFoundStageVariable`), or resolves to an address the account may
    /// not reach. A VPC access or a backend model that is missing is not refused: the API
    /// answers `X504VE` / `I404SR` until it exists.
    pub(crate) fn check_target(
        &self,
        api: &ApiDefinition,
        stage: Stage,
        live: &LiveConfig,
    ) -> Result<()> {
        let vars = &live.stage_variables;
        self.check_target_in(api, stage, &live.vpc_accesses, &live.backends, vars)
    }

    /// [`Control::check_target`] against these VPC accesses, backends and variables.
    pub(crate) fn check_target_in(
        &self,
        api: &ApiDefinition,
        stage: Stage,
        vpc_accesses: &[VpcAccess],
        backends: &[BackendService],
        stage_variables: &[StageVariable],
    ) -> Result<()> {
        if !apigw_model::service::needs_resolving(api) {
            return Ok(());
        }
        let variables = apigw_model::service::variables_of(stage_variables, &api.group_id, stage);
        let targets = Targets {
            vpc_accesses,
            backends,
            variables: &variables,
        };
        match resolve(api, self.account, stage, &targets) {
            Ok(r) => {
                apigw_model::validate::validate_service_address(&r.address)?;
                Ok(self.backend_policy.check(&r.address, self.root())?)
            }
            Err(Unresolved::MissingVariable(name)) => Err(refused(
                "NotFoundStageVariable",
                format!(
                    "the backend of API `{}` uses stage variable `{name}`, which group `{}` does not define in {stage}; create it with CreateApiStageVariable first",
                    api.api_name, api.group_id
                ),
            )),
            Err(_) => Ok(()),
        }
    }
}

fn same_target(a: &VpcAccess, b: &VpcAccess) -> bool {
    a.vpc_id == b.vpc_id && a.instance_id == b.instance_id && a.port == b.port
}

fn uses_vpc(api: &ApiDefinition, access: &VpcAccess) -> bool {
    let sc = &api.service_config;
    sc.service_vpc_enable
        && sc.vpc_config.as_ref().is_some_and(|v| {
            v.name == access.name
                || (v.name.is_empty()
                    && v.vpc_id.as_deref() == Some(&access.vpc_id)
                    && v.instance_id.as_deref() == Some(&access.instance_id)
                    && v.port == Some(access.port))
        })
}

/// Whether the backend of `api` in `stage` refers to the variable `name`.
fn uses_variable(
    api: &ApiDefinition,
    live: &LiveConfig,
    owner: i64,
    stage: Stage,
    name: &str,
) -> bool {
    let mut texts: Vec<&str> = Vec::new();
    let sc = &api.service_config;
    texts.extend(sc.service_address.as_deref());
    texts.extend(sc.service_path.as_deref());
    if api.backend_enable {
        let model = live
            .backends
            .iter()
            .filter(|b| {
                b.owner_id == owner && Some(b.backend_id.as_str()) == api.backend_id.as_deref()
            })
            .find_map(|b| b.model(stage));
        texts.extend(model.and_then(|m| m.backend_config.service_address.as_deref()));
    }
    texts
        .iter()
        .any(|t| apigw_model::service::variables(t).contains(&name))
}
