//! The declarative file: `apigw apply -f gateway.yaml`.
//!
//! The file lists groups (by `GroupName`) with their domains and APIs (by `ApiName`), in the
//! management API's field names. Applying creates what is missing, updates what differs, and,
//! for APIs with `DeployTo`, deploys the draft to exactly those stages (abolishing the others).
//! Nothing in the store that the file does not mention is touched. The whole file is parsed and
//! validated before the first write, so a bad file changes nothing.

use crate::ops::{Control, Result};
use apigw_model::validate::{check_conflicts, validate_api};
use apigw_model::{ApiDefinition, Domain, DomainCertificate, ModelError, Stage};
use serde::{Deserialize, Serialize};
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
            for (i, a) in g.apis.iter().enumerate() {
                let path = validate_api(&a.definition)
                    .map_err(|e| in_api(e, &g.group_name, &a.definition.api_name))?;
                // Conflicts inside the file (ids are not assigned yet: compare by position).
                let earlier = g.apis[..i].iter().map(|o| &o.definition);
                let mut me = a.definition.clone();
                me.api_id = format!("#{i}");
                check_conflicts(&me, &path, earlier)
                    .map_err(|e| in_api(e, &g.group_name, &a.definition.api_name))?;
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
pub async fn apply(control: &Control, file: &GatewayFile) -> Result<Vec<String>> {
    file.validate()?;
    let mut report = Vec::new();
    for spec in &file.groups {
        apply_group(control, spec, &mut report).await?;
    }
    for spec in &file.apps {
        crate::apply_apps::apply_app(control, spec, &mut report).await?;
    }
    for spec in &file.plugins {
        crate::apply_apps::apply_plugin(control, spec, &mut report).await?;
    }
    Ok(report)
}

async fn apply_group(control: &Control, spec: &GroupSpec, report: &mut Vec<String>) -> Result<()> {
    let name = &spec.group_name;
    let group = match control.group_by_name(name).await? {
        None => {
            let mut g = control
                .create_group(name, &spec.description, spec.base_path.as_deref())
                .await?;
            if spec.traffic_limit.is_some() {
                g.traffic_limit = spec.traffic_limit;
                g = control.modify_group(&g).await?;
            }
            report.push(format!("created group {name} ({})", g.group_id));
            g
        }
        Some(mut g) => {
            let base_path = spec.base_path.clone().unwrap_or_else(|| "/".into());
            if g.description != spec.description
                || g.base_path != base_path
                || g.traffic_limit != spec.traffic_limit
            {
                g.description = spec.description.clone();
                g.base_path = base_path;
                g.traffic_limit = spec.traffic_limit;
                g = control.modify_group(&g).await?;
                report.push(format!("updated group {name}"));
            }
            g
        }
    };
    let bound = control.domains(&group.group_id).await?;
    for d in &spec.domains {
        let current = bound.iter().find(|b| b.domain_name == d.domain_name);
        let certificate = match &d.certificate {
            Some(c) => Some(DomainCertificate {
                certificate_name: c.certificate_name.clone(),
                certificate_body: c.certificate_body.clone().unwrap_or_default(),
                certificate_private_key: c.certificate_private_key.clone().unwrap_or_default(),
            }),
            // No `Certificate` in the file: a certificate set earlier stays.
            None => current.and_then(|b| b.certificate.clone()),
        };
        let domain = Domain {
            domain_name: d.domain_name.clone(),
            group_id: group.group_id.clone(),
            bind_stage_name: d.bind_stage_name,
            certificate,
        };
        if current != Some(&domain) {
            control.set_domain(domain).await?;
            report.push(format!("bound domain {} to group {name}", d.domain_name));
        }
    }
    let existing = control.apis(&group.group_id).await?;
    for a in &spec.apis {
        let mut def = a.definition.clone();
        def.group_id = group.group_id.clone();
        let api = match existing.iter().find(|e| e.api_name == def.api_name) {
            None => {
                let api = control.create_api(def).await?;
                report.push(format!(
                    "created API {}/{} ({})",
                    name, api.api_name, api.api_id
                ));
                api
            }
            Some(old) => {
                def.api_id = old.api_id.clone();
                if same_definition(old, &def) {
                    old.clone()
                } else {
                    let api = control.modify_api(def).await?;
                    report.push(format!("updated API {}/{}", name, api.api_name));
                    api
                }
            }
        };
        if let Some(stages) = &a.deploy_to {
            apply_deployments(control, &api, stages, report).await?;
        }
    }
    Ok(())
}

async fn apply_deployments(
    control: &Control,
    api: &ApiDefinition,
    stages: &[Stage],
    report: &mut Vec<String>,
) -> Result<()> {
    let history = control.history(&api.api_id, None).await?;
    for stage in Stage::ALL {
        let online = history.iter().find(|d| d.online && d.stage_name == stage);
        let wanted = stages.contains(&stage);
        match (wanted, online) {
            (true, Some(d)) if same_definition(&d.definition, api) => {}
            (true, _) => {
                let d = control.deploy(&api.api_id, stage, "apigw apply").await?;
                report.push(format!(
                    "deployed {} to {stage} (version {})",
                    api.api_name, d.history_version
                ));
            }
            (false, Some(_)) => {
                control.abolish(&api.api_id, stage).await?;
                report.push(format!("abolished {} from {stage}", api.api_name));
            }
            (false, None) => {}
        }
    }
    Ok(())
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
            apis.push(ApiSpec {
                deploy_to: Some(live),
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
