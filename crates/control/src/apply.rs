//! The declarative file: `apigw apply -f gateway.yaml`.
//!
//! The file lists groups (by `GroupName`) with their domains and APIs (by `ApiName`), in the
//! management API's field names. Applying creates what is missing, updates what differs, and,
//! for APIs with `DeployTo`, deploys the draft to exactly those stages (abolishing the others).
//! Nothing in the store that the file does not mention is touched, unless the apply prunes
//! ([`ApplyOptions::prune`], `apigw apply --prune`: see `prune.rs`). The file is parsed and
//! validated alone, then the whole change is planned and checked against the stored state,
//! then written as one atomic batch ([`apigw_store::Store::commit`]): a bad file changes nothing.

use crate::ops::{check_domain, new_deployment, Control, ControlError, Result};
use crate::paths::PathIndex;
use crate::{new_id, now_utc};
use apigw_model::validate::validate_api;
use apigw_model::{
    ApiDefinition, App, Authorization, Deployment, Domain, DomainCertificate, Group, ModelError,
    Plugin, PluginBinding, Stage,
};
use apigw_store::{StoreError, StoredConfig, Write};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::Path;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GatewayFile {
    #[serde(default)]
    pub groups: Vec<GroupSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apps: Vec<AppFileSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub plugins: Vec<PluginSpec>,
    /// VPC accesses by `Name`: created or re-pointed; others left alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub vpc_accesses: Vec<crate::apply_targets::VpcAccessFileSpec>,
    /// Backend services by `BackendName`; APIs name them with `BackendName`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub backends: Vec<crate::apply_targets::BackendFileSpec>,
    /// With `apply --prune`: an API deployed in a stage, and a plugin attached where its API
    /// is live, may be removed too (abolished, detached, then deleted). Without it such a
    /// prune is refused. No effect without `--prune`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub prune_live: bool,
}

/// An app, by `AppName`. `Keys`/`AppCodes` absent: generated on creation, left alone after;
/// present: exactly these (a changed secret is rotated with the grace period).
/// `Authorizations` absent: left alone; present: exactly these grants.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AppFileSpec {
    pub app_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub extend: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<KeySpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_codes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizations: Option<Vec<ApiStagesSpec>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct KeySpec {
    pub app_key: String,
    pub app_secret: String,
}

/// An API (by group and API name) in some stages.
#[derive(Debug, Deserialize, Serialize, Clone, PartialEq)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct ApiStagesSpec {
    pub group_name: String,
    pub api_name: String,
    pub stages: Vec<Stage>,
    /// Grants only: expiry, UTC `YYYY-MM-DDThh:mm:ssZ`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_valid_time: Option<String>,
}

/// A plugin, by `PluginName`. `AttachTo` absent: bindings left alone; present: exactly these.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct PluginSpec {
    pub plugin_name: String,
    pub plugin_type: String,
    pub plugin_data: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attach_to: Option<Vec<ApiStagesSpec>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct GroupSpec {
    pub group_name: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_path: Option<String>,
    /// Requests per second to all the group's APIs on one node (`T429GR`); absent = no cap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_limit: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<DomainSpec>,
    /// The group's stage variables. Absent: left alone; present: exactly these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_variables: Option<Vec<crate::apply_targets::StageVariableSpec>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub apis: Vec<ApiSpec>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct DomainSpec {
    pub domain_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind_stage_name: Option<Stage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateSpec>,
    /// WebSocket upgrades on this domain (`SetDomainWebSocketStatus`); absent: as stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_socket: Option<bool>,
    /// With `WebSocket: true`, whether upgrades over TLS are taken too (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub web_socket_wss: Option<bool>,
}

/// PEM inline (`CertificateBody`, `CertificatePrivateKey`) or from files (`...File`, relative
/// to the declarative file).
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct CertificateSpec {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub certificate_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_private_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_body_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_private_key_file: Option<String>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ApiSpec {
    /// Stages the API must be live in after apply. Absent: deployments are left alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_to: Option<Vec<Stage>>,
    /// A backend service of the file or the store, by name (sets `BackendEnable` and
    /// `BackendId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_name: Option<String>,
    #[serde(flatten)]
    pub definition: ApiDefinition,
}

impl GatewayFile {
    pub fn parse(text: &str) -> Result<GatewayFile> {
        serde_norway::from_str(text)
            .map_err(|e| ModelError::new("InvalidFormatFile", e.to_string()).into())
    }

    /// Reads and parses a file; certificate files are resolved relative to it.
    pub fn read(path: &Path) -> Result<GatewayFile> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ModelError::new(
                "InvalidFile",
                format!("cannot read {}: {e}", path.display()),
            )
        })?;
        let mut file = GatewayFile::parse(&text)?;
        let base = path.parent().unwrap_or(Path::new("."));
        for d in file.groups.iter_mut().flat_map(|g| g.domains.iter_mut()) {
            if let Some(c) = d.certificate.as_mut() {
                for (inline, file) in [
                    (&mut c.certificate_body, &c.certificate_body_file),
                    (
                        &mut c.certificate_private_key,
                        &c.certificate_private_key_file,
                    ),
                ] {
                    if let (None, Some(f)) = (&inline, file) {
                        let p = base.join(f);
                        *inline = Some(std::fs::read_to_string(&p).map_err(|e| {
                            ModelError::new(
                                "InvalidCertificate",
                                format!("cannot read {}: {e}", p.display()),
                            )
                        })?);
                    }
                }
            }
        }
        Ok(file)
    }

    /// Checks everything that can be checked without the store.
    pub fn validate(&self) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for g in &self.groups {
            if !names.insert(&g.group_name) {
                return Err(ModelError::new(
                    "DuplicateGroupName",
                    format!("group `{}` is listed twice", g.group_name),
                )
                .into());
            }
            apigw_model::group::validate_group_name(&g.group_name)?;
            if let Some(bp) = &g.base_path {
                apigw_model::group::validate_base_path(bp)?;
            }
            for d in &g.domains {
                apigw_model::group::validate_domain_name(&d.domain_name)?;
                if let Some(c) = &d.certificate {
                    if c.certificate_body.is_none() || c.certificate_private_key.is_none() {
                        return Err(ModelError::new(
                            "InvalidCertificate",
                            format!(
                                "domain `{}`: a certificate needs a body and a private key",
                                d.domain_name
                            ),
                        )
                        .into());
                    }
                }
            }
            // Conflicts inside the file (ids are not assigned yet: number them by position).
            let numbered: Vec<ApiDefinition> = g
                .apis
                .iter()
                .enumerate()
                .map(|(i, a)| ApiDefinition {
                    api_id: format!("#{i}"),
                    backend_enable: a.definition.backend_enable || a.backend_name.is_some(),
                    backend_id: a.backend_name.clone().or(a.definition.backend_id.clone()),
                    ..a.definition.clone()
                })
                .collect();
            let mut earlier = PathIndex::default();
            for me in &numbered {
                let path = validate_api(me).map_err(|e| in_api(e, &g.group_name, &me.api_name))?;
                earlier
                    .check(me, &path)
                    .map_err(|e| in_api(e, &g.group_name, &me.api_name))?;
                earlier.insert(me);
            }
        }
        self.validate_apps()?;
        self.validate_plugins()
    }

    fn validate_apps(&self) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for a in &self.apps {
            let ctx = |e: ModelError| {
                ModelError::new(e.code, format!("app `{}`: {}", a.app_name, e.message))
            };
            if !names.insert(&a.app_name) {
                return Err(ModelError::new(
                    "DuplicateAppName",
                    format!("app `{}` is listed twice", a.app_name),
                )
                .into());
            }
            apigw_model::group::validate_name("AppName", &a.app_name).map_err(ctx)?;
            for k in a.keys.iter().flatten() {
                apigw_model::app::validate_app_key(&k.app_key).map_err(ctx)?;
                apigw_model::app::validate_app_secret(&k.app_secret).map_err(ctx)?;
            }
            for c in a.app_codes.iter().flatten() {
                apigw_model::app::validate_app_code(c).map_err(ctx)?;
            }
            for g in a.authorizations.iter().flatten() {
                if let Some(t) = &g.auth_valid_time {
                    apigw_model::app::validate_auth_valid_time(t).map_err(ctx)?;
                }
            }
        }
        Ok(())
    }

    fn validate_plugins(&self) -> Result<()> {
        let mut names = std::collections::HashSet::new();
        for p in &self.plugins {
            if !names.insert(&p.plugin_name) {
                return Err(ModelError::new(
                    "DuplicatePluginName",
                    format!("plugin `{}` is listed twice", p.plugin_name),
                )
                .into());
            }
            let plugin = apigw_model::Plugin {
                plugin_id: String::new(),
                plugin_name: p.plugin_name.clone(),
                owner_id: apigw_model::account::ROOT_ACCOUNT_ID,
                plugin_type: p.plugin_type.clone(),
                plugin_data: p.plugin_data.clone(),
                description: p.description.clone(),
                created_time: String::new(),
                modified_time: String::new(),
            };
            plugin.validate().map_err(|e| {
                ModelError::new(e.code, format!("plugin `{}`: {}", p.plugin_name, e.message))
            })?;
            crate::plugins::check_document(&plugin).map_err(|e| {
                ModelError::new(e.code, format!("plugin `{}`: {}", p.plugin_name, e.message))
            })?;
        }
        Ok(())
    }
}

fn in_api(e: ModelError, group: &str, api: &str) -> ModelError {
    ModelError::new(
        e.code,
        format!("group `{group}`, API `{api}`: {}", e.message),
    )
}

/// Applies `file` and returns one line per change.
///
/// The file is checked alone, then the whole change is computed in memory against the stored
/// state (read once) and checked there (names, domains, path conflicts of drafts and of what
/// will be live, grants and bindings), and only then written, as one atomic batch. A refused
/// file changes nothing.
pub async fn apply(control: &Control, file: &GatewayFile) -> Result<Vec<String>> {
    apply_with(control, file, ApplyOptions::default()).await
}

/// What an apply does besides creating and updating what the file lists.
#[derive(Debug, Default, Clone, Copy)]
pub struct ApplyOptions {
    /// Delete what the file does not list (see `prune.rs` for the scope).
    pub prune: bool,
    /// Plan and report only; write nothing (`apigw diff`).
    pub dry_run: bool,
}

/// [`apply`] with options: the report lines are the same whether or not it is a dry run.
pub async fn apply_with(
    control: &Control,
    file: &GatewayFile,
    options: ApplyOptions,
) -> Result<Vec<String>> {
    file.validate()?;
    if options.dry_run {
        let stored = control.store.load_all().await?;
        return Ok(Plan::make(control, stored, file, options.prune)?.report);
    }
    let _w = control.write_lock.lock().await?;
    let mut tries = 0;
    loop {
        let stored = control.store.load_all().await?;
        let generation = stored.live.generation;
        let plan = Plan::make(control, stored, file, options.prune)?;
        // Conditional on the generation read: another process that wrote in between makes
        // the plan stale; it is computed again from the new state.
        match control.store.commit(&plan.writes, Some(generation)).await {
            Ok(()) => {
                if !plan.writes.is_empty() {
                    control.publish().await;
                }
                return Ok(plan.report);
            }
            Err(StoreError::Conflict(_)) if tries < 3 => tries += 1,
            Err(e) => return Err(e.into()),
        }
    }
}

/// A change being computed: the stored state as the file leaves it, the writes that get it
/// there, and the report lines.
pub(crate) struct Plan<'c> {
    pub(crate) control: &'c Control,
    pub(crate) now: String,
    pub(crate) groups: Vec<Group>,
    pub(crate) domains: HashMap<String, Domain>,
    /// Drafts by id.
    pub(crate) apis: HashMap<String, ApiDefinition>,
    /// Group id → ids of its APIs.
    pub(crate) group_apis: HashMap<String, Vec<String>>,
    pub(crate) online: HashMap<(String, Stage), std::sync::Arc<Deployment>>,
    pub(crate) latest_versions: HashMap<(String, Stage), String>,
    /// (group name, API name) → API id, for the acting account (after the groups are planned).
    pub(crate) api_names: HashMap<(String, String), String>,
    /// Group names of the acting account.
    pub(crate) group_names: HashSet<String>,
    pub(crate) apps: Vec<App>,
    pub(crate) grants: Vec<Authorization>,
    pub(crate) plugins: Vec<Plugin>,
    pub(crate) bindings: Vec<PluginBinding>,
    pub(crate) vpc_accesses: Vec<apigw_model::VpcAccess>,
    pub(crate) backends: Vec<apigw_model::BackendService>,
    pub(crate) stage_variables: Vec<apigw_model::StageVariable>,
    pub(crate) writes: Vec<Write>,
    pub(crate) report: Vec<String>,
}

impl<'c> Plan<'c> {
    fn make(
        control: &'c Control,
        stored: StoredConfig,
        file: &GatewayFile,
        prune: bool,
    ) -> Result<Plan<'c>> {
        let live = stored.live;
        let mut group_apis: HashMap<String, Vec<String>> = HashMap::new();
        for a in &stored.apis {
            group_apis
                .entry(a.group_id.clone())
                .or_default()
                .push(a.api_id.clone());
        }
        let mut plan = Plan {
            control,
            now: now_utc(),
            groups: live.groups,
            domains: live
                .domains
                .into_iter()
                .map(|d| (d.domain_name.clone(), d))
                .collect(),
            apis: stored
                .apis
                .into_iter()
                .map(|a| (a.api_id.clone(), a))
                .collect(),
            group_apis,
            online: live
                .deployments
                .into_iter()
                .map(|d| ((d.api_id.clone(), d.stage_name), d))
                .collect(),
            latest_versions: stored
                .latest_versions
                .into_iter()
                .map(|(api, stage, version)| ((api, stage), version))
                .collect(),
            api_names: HashMap::new(),
            group_names: HashSet::new(),
            apps: live.apps,
            grants: live.authorizations,
            plugins: live.plugins,
            bindings: live.plugin_bindings,
            vpc_accesses: live.vpc_accesses,
            backends: live.backends,
            stage_variables: live.stage_variables,
            writes: Vec::new(),
            report: Vec::new(),
        };
        for spec in &file.vpc_accesses {
            plan.vpc_access(spec)
                .map_err(|e| within(e, &format!("VPC access `{}`", spec.name)))?;
        }
        for spec in &file.backends {
            plan.backend(spec)
                .map_err(|e| within(e, &format!("backend `{}`", spec.backend_name)))?;
        }
        for spec in &file.groups {
            plan.group(spec)?;
        }
        if prune {
            plan.prune_groups(file)?;
        }
        for g in plan.groups.iter().filter(|g| g.owner_id == control.account) {
            plan.group_names.insert(g.group_name.clone());
            for id in plan.group_apis.get(&g.group_id).into_iter().flatten() {
                let name = plan.apis[id].api_name.clone();
                plan.api_names
                    .insert((g.group_name.clone(), name), id.clone());
            }
        }
        for spec in &file.apps {
            plan.app(spec)
                .map_err(|e| within(e, &format!("app `{}`", spec.app_name)))?;
        }
        for spec in &file.plugins {
            plan.plugin(spec)
                .map_err(|e| within(e, &format!("plugin `{}`", spec.plugin_name)))?;
        }
        if prune {
            plan.prune_apps_and_plugins(file)?;
        }
        Ok(plan)
    }

    fn group(&mut self, spec: &GroupSpec) -> Result<()> {
        let name = &spec.group_name;
        let account = self.control.account;
        let ctx = |e| within(e, &format!("group `{name}`"));
        let existing = self
            .groups
            .iter()
            .position(|g| g.owner_id == account && g.group_name == *name);
        let group = match existing {
            None => {
                let mut g = self
                    .control
                    .new_group(
                        &self.groups,
                        name,
                        &spec.description,
                        spec.base_path.as_deref(),
                    )
                    .map_err(ctx)?;
                g.traffic_limit = spec.traffic_limit;
                self.writes.push(Write::PutGroup(g.clone()));
                self.report
                    .push(format!("created group {name} ({})", g.group_id));
                self.groups.push(g.clone());
                g
            }
            Some(i) => {
                let g = &mut self.groups[i];
                let base_path = spec.base_path.clone().unwrap_or_else(|| "/".into());
                if g.description != spec.description
                    || g.base_path != base_path
                    || g.traffic_limit != spec.traffic_limit
                {
                    g.description = spec.description.clone();
                    g.base_path = base_path;
                    g.traffic_limit = spec.traffic_limit;
                    g.modified_time = self.now.clone();
                    g.validate().map_err(|e| ctx(e.into()))?;
                    self.writes.push(Write::PutGroup(g.clone()));
                    self.report.push(format!("updated group {name}"));
                }
                g.clone()
            }
        };
        self.group_domains(&group, spec).map_err(ctx)?;
        self.group_variables(&group, spec).map_err(ctx)?;
        self.group_apis(&group, spec)
    }

    fn group_domains(&mut self, group: &Group, spec: &GroupSpec) -> Result<()> {
        for d in &spec.domains {
            let current = self
                .domains
                .get(&d.domain_name)
                .filter(|b| b.group_id == group.group_id);
            let certificate = match &d.certificate {
                Some(c) => Some(DomainCertificate {
                    certificate_name: c.certificate_name.clone(),
                    certificate_body: c.certificate_body.clone().unwrap_or_default(),
                    certificate_private_key: c.certificate_private_key.clone().unwrap_or_default(),
                }),
                // No `Certificate` in the file: a certificate set earlier stays.
                None => current.and_then(|b| b.certificate.clone()),
            };
            let web_socket = match d.web_socket {
                Some(enabled) => apigw_model::WebSocketStatus {
                    enabled,
                    wss: enabled && d.web_socket_wss.unwrap_or(true),
                },
                // No `WebSocket` in the file: the status set earlier stays.
                None => current.map(|b| b.web_socket).unwrap_or_default(),
            };
            let domain = Domain {
                domain_name: d.domain_name.clone(),
                group_id: group.group_id.clone(),
                bind_stage_name: d.bind_stage_name,
                certificate,
                web_socket,
            };
            if current != Some(&domain) {
                domain.validate()?;
                // Only the domains that may hold this name or count for this group matter.
                let near: Vec<Domain> = self
                    .domains
                    .values()
                    .filter(|o| {
                        o.domain_name == domain.domain_name || o.group_id == domain.group_id
                    })
                    .cloned()
                    .collect();
                check_domain(&near, &domain)?;
                self.writes.push(Write::PutDomain(domain.clone()));
                self.report.push(format!(
                    "bound domain {} to group {}",
                    d.domain_name, group.group_name
                ));
                self.domains.insert(domain.domain_name.clone(), domain);
            }
        }
        Ok(())
    }

    fn group_apis(&mut self, group: &Group, spec: &GroupSpec) -> Result<()> {
        let name = &group.group_name;
        let by_name: HashMap<String, String> = self
            .group_apis
            .get(&group.group_id)
            .into_iter()
            .flatten()
            .map(|id| (self.apis[id].api_name.clone(), id.clone()))
            .collect();
        // Drafts created or changed, and (API, stage) newly deployed, in file order.
        let mut changed = Vec::new();
        let mut deployed = Vec::new();
        for a in &spec.apis {
            let mut def = a.definition.clone();
            def.group_id = group.group_id.clone();
            if let Some(n) = &a.backend_name {
                def.backend_enable = true;
                def.backend_id =
                    Some(self.backend_id(n).map_err(|e| {
                        within(e, &format!("group `{name}`, API `{}`", def.api_name))
                    })?);
            }
            let id = match by_name.get(&def.api_name) {
                None => {
                    def.api_id = new_id();
                    def.created_time = self.now.clone();
                    def.modified_time = self.now.clone();
                    self.report.push(format!(
                        "created API {name}/{} ({})",
                        def.api_name, def.api_id
                    ));
                    self.group_apis
                        .entry(group.group_id.clone())
                        .or_default()
                        .push(def.api_id.clone());
                    changed.push(def.api_id.clone());
                    self.put_api(def)
                }
                Some(old_id) => {
                    let old = &self.apis[old_id];
                    def.api_id = old_id.clone();
                    if !same_definition(old, &def) {
                        def.created_time = old.created_time.clone();
                        def.modified_time = self.now.clone();
                        self.report
                            .push(format!("updated API {name}/{}", def.api_name));
                        changed.push(def.api_id.clone());
                        self.put_api(def);
                    }
                    old_id.clone()
                }
            };
            if let Some(stages) = &a.deploy_to {
                self.deployments(&id, stages, &mut deployed);
            }
        }
        self.check_drafts(group, &changed)?;
        // What the group serves after the plan (new deployments, and the others against
        // changed stage variables) must find its stage variables.
        let mut live: Vec<_> = self
            .online
            .values()
            .filter(|d| d.group_id == group.group_id)
            .cloned()
            .collect();
        live.sort_by(|a, b| (&a.api_id, a.stage_name).cmp(&(&b.api_id, b.stage_name)));
        for d in live {
            self.check_target(&d.definition, d.stage_name)
                .map_err(|e| within(e, &format!("group `{name}`")))?;
        }
        self.check_live(group, &deployed)
    }

    /// The account owning a group, as the plan leaves the groups.
    pub(crate) fn groups_owner(&self, group_id: &str) -> Option<i64> {
        self.groups
            .iter()
            .find(|g| g.group_id == group_id)
            .map(|g| g.owner_id)
    }

    fn put_api(&mut self, api: ApiDefinition) -> String {
        let id = api.api_id.clone();
        self.writes.push(Write::PutApi(api.clone()));
        self.apis.insert(id.clone(), api);
        id
    }

    /// Deploys the draft to exactly `stages` (when what is live there differs) and abolishes
    /// it from the others.
    fn deployments(&mut self, api_id: &str, stages: &[Stage], deployed: &mut Vec<(String, Stage)>) {
        let api = &self.apis[api_id];
        for stage in Stage::ALL {
            let key = (api_id.to_string(), stage);
            let online = self.online.get(&key);
            match (stages.contains(&stage), online) {
                (true, Some(d)) if same_definition(&d.definition, api) => {}
                (true, _) => {
                    let latest = self.latest_versions.get(&key).map(String::as_str);
                    let d = new_deployment(api.clone(), stage, latest, "apigw apply");
                    self.report.push(format!(
                        "deployed {} to {stage} (version {})",
                        api.api_name, d.history_version
                    ));
                    self.writes.push(Write::Deploy(d.clone()));
                    self.latest_versions
                        .insert(key.clone(), d.history_version.clone());
                    self.online.insert(key.clone(), std::sync::Arc::new(d));
                    deployed.push(key);
                }
                (false, Some(_)) => {
                    self.report
                        .push(format!("abolished {} from {stage}", api.api_name));
                    self.writes.push(Write::Abolish {
                        api_id: api_id.to_string(),
                        stage,
                    });
                    self.online.remove(&key);
                }
                (false, None) => {}
            }
        }
    }

    /// The group's drafts after the plan: each created or changed one is checked against
    /// the others (as CreateApi/ModifyApi would), in one pass.
    fn check_drafts(&self, group: &Group, changed: &[String]) -> Result<()> {
        let changed_set: HashSet<&str> = changed.iter().map(String::as_str).collect();
        let mut index = PathIndex::default();
        let ids = self.group_apis.get(&group.group_id).into_iter().flatten();
        for id in ids.filter(|id| !changed_set.contains(id.as_str())) {
            index.insert(&self.apis[id]);
        }
        for id in changed {
            let api = &self.apis[id];
            let fail = |e| in_api(e, &group.group_name, &api.api_name);
            let path = validate_api(api).map_err(fail)?;
            self.control.check_backend(api).map_err(|e| match e {
                crate::ControlError::Refused(m) => crate::ControlError::Refused(fail(m)),
                other => other,
            })?;
            index.check(api, &path).map_err(fail)?;
            index.insert(api);
        }
        Ok(())
    }

    /// What the group will serve in each stage: each new deployment is checked against the
    /// rest of the stage (as a deploy would), in one pass.
    fn check_live(&self, group: &Group, deployed: &[(String, Stage)]) -> Result<()> {
        let ids = self.group_apis.get(&group.group_id);
        for stage in Stage::ALL {
            let new: Vec<&String> = deployed
                .iter()
                .filter(|(_, s)| *s == stage)
                .map(|(id, _)| id)
                .collect();
            if new.is_empty() {
                continue;
            }
            let new_set: HashSet<&str> = new.iter().map(|id| id.as_str()).collect();
            let mut index = PathIndex::default();
            for id in ids.into_iter().flatten() {
                if !new_set.contains(id.as_str()) {
                    if let Some(d) = self.online.get(&(id.clone(), stage)) {
                        index.insert(&d.definition);
                    }
                }
            }
            for id in new {
                let api = &self.online[&(id.clone(), stage)].definition;
                let fail = |e| in_api(e, &group.group_name, &api.api_name);
                let path = validate_api(api).map_err(fail)?;
                index.check(api, &path).map_err(|e| {
                    fail(ModelError::new(
                        e.code,
                        format!("in {stage}: {}", e.message),
                    ))
                })?;
                index.insert(api);
            }
        }
        Ok(())
    }
}

/// `e` with `what` (the file entry) in front of its message.
pub(crate) fn within(e: ControlError, what: &str) -> ControlError {
    match e {
        ControlError::Refused(e) => {
            ModelError::new(e.code, format!("{what}: {}", e.message)).into()
        }
        other => other,
    }
}

/// What [`export`] found besides the file itself.
#[derive(Debug, Default)]
pub struct ExportNotes {
    /// APIs live in a stage with a version that differs from their current draft: applying the
    /// export deploys the draft there.
    pub drafts_differ: Vec<String>,
    /// True when a certificate's private key or an AppSecret is in the file.
    pub has_private_keys: bool,
}

/// The whole configuration as a file that [`apply`] accepts: groups with their domains and
/// API drafts; `DeployTo` lists the stages where each API is live.
pub async fn export(control: &Control) -> Result<(GatewayFile, ExportNotes)> {
    let mut notes = ExportNotes::default();
    let mut groups = Vec::new();
    let backends = control.backends().await?;
    for g in control.groups().await? {
        let domains = control
            .domains(&g.group_id)
            .await?
            .into_iter()
            .map(|d| {
                notes.has_private_keys |= d.certificate.is_some();
                DomainSpec {
                    domain_name: d.domain_name,
                    bind_stage_name: d.bind_stage_name,
                    certificate: d.certificate.map(|c| CertificateSpec {
                        certificate_name: c.certificate_name,
                        certificate_body: Some(c.certificate_body),
                        certificate_private_key: Some(c.certificate_private_key),
                        certificate_body_file: None,
                        certificate_private_key_file: None,
                    }),
                    web_socket: d.web_socket.enabled.then_some(true),
                    web_socket_wss: (d.web_socket.enabled && !d.web_socket.wss).then_some(false),
                }
            })
            .collect();
        let mut apis = Vec::new();
        for mut api in control.apis(&g.group_id).await? {
            let history = control.history(&api.api_id, None).await?;
            let mut live = Vec::new();
            for d in history.iter().filter(|d| d.online) {
                live.push(d.stage_name);
                if !same_definition(&d.definition, &api) {
                    notes.drafts_differ.push(format!(
                        "{}/{} in {}",
                        g.group_name, api.api_name, d.stage_name
                    ));
                }
            }
            live.sort();
            api.api_id.clear();
            api.group_id.clear();
            api.created_time.clear();
            api.modified_time.clear();
            let backend_name = crate::apply_targets::backend_name_of(&mut api, &backends);
            apis.push(ApiSpec {
                deploy_to: Some(live),
                backend_name,
                definition: api,
            });
        }
        apis.sort_by(|a, b| a.definition.api_name.cmp(&b.definition.api_name));
        let base_path = (g.base_path != "/").then_some(g.base_path);
        groups.push(GroupSpec {
            group_name: g.group_name,
            description: g.description,
            base_path,
            traffic_limit: g.traffic_limit,
            domains,
            stage_variables: crate::apply_targets::export_variables(control, &g.group_id).await?,
            apis,
        });
    }
    groups.sort_by(|a, b| a.group_name.cmp(&b.group_name));
    let apps = crate::apply_apps::export_apps(control).await?;
    notes.has_private_keys |= !apps.is_empty();
    let plugins = crate::apply_apps::export_plugins(control).await?;
    Ok((
        GatewayFile {
            groups,
            apps,
            plugins,
            vpc_accesses: crate::apply_targets::export_vpc_accesses(control).await?,
            backends: backends
                .iter()
                .map(crate::apply_targets::export_backend)
                .collect(),
            prune_live: false,
        },
        notes,
    ))
}

impl GatewayFile {
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("the file model always serialises")
    }
}

/// Equal apart from bookkeeping times.
fn same_definition(a: &ApiDefinition, b: &ApiDefinition) -> bool {
    let strip = |x: &ApiDefinition| ApiDefinition {
        created_time: String::new(),
        modified_time: String::new(),
        ..x.clone()
    };
    strip(a) == strip(b)
}
