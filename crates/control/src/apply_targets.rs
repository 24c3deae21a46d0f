//! The declarative file's VPC accesses (`VpcAccesses`, by `Name`), backend services
//! (`Backends`, by `BackendName`, with their per-stage `Models`) and a group's
//! `StageVariables`, planned like the rest of the file: checked against the stored state and
//! written in the same batch.

use crate::apply::Plan;
use crate::ops::{not_found, Result};
use crate::{new_id, ControlError};
use apigw_model::service::check_backend_type;
use apigw_model::{
    BackendConfig, BackendModel, BackendService, Group, ModelError, Stage, StageVariable, VpcAccess,
};
use apigw_store::Write;
use serde::{Deserialize, Serialize};

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct VpcAccessFileSpec {
    pub name: String,
    pub vpc_id: String,
    /// The target host: an IP address or a host name.
    pub instance_id: String,
    pub port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vpc_target_host_name: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

/// A backend service. `Models` absent: left alone; present: exactly these stages.
#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BackendFileSpec {
    pub backend_name: String,
    pub backend_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub models: Option<Vec<BackendModelFileSpec>>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct BackendModelFileSpec {
    pub stage_name: Stage,
    pub backend_config: BackendConfig,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct StageVariableSpec {
    pub stage_name: Stage,
    pub variable_name: String,
    pub variable_value: String,
}

impl Plan<'_> {
    pub(crate) fn vpc_access(&mut self, spec: &VpcAccessFileSpec) -> Result<()> {
        let account = self.control.account;
        let old = self
            .vpc_accesses
            .iter()
            .position(|a| a.owner_id == account && a.name == spec.name);
        let access = VpcAccess {
            vpc_access_id: old.map_or_else(new_id, |i| self.vpc_accesses[i].vpc_access_id.clone()),
            name: spec.name.clone(),
            vpc_id: spec.vpc_id.clone(),
            instance_id: spec.instance_id.clone(),
            port: spec.port,
            vpc_target_host_name: spec.vpc_target_host_name.clone(),
            description: spec.description.clone(),
            owner_id: account,
            created_time: old.map_or_else(
                || self.now.clone(),
                |i| self.vpc_accesses[i].created_time.clone(),
            ),
        };
        if old.is_some_and(|i| self.vpc_accesses[i] == access) {
            return Ok(());
        }
        self.control.check_vpc_target(&access)?;
        self.report.push(format!(
            "{} VPC access {} ({}:{})",
            if old.is_some() { "updated" } else { "created" },
            access.name,
            access.instance_id,
            access.port
        ));
        self.writes.push(Write::PutVpcAccess(access.clone()));
        match old {
            Some(i) => self.vpc_accesses[i] = access,
            None => self.vpc_accesses.push(access),
        }
        Ok(())
    }

    pub(crate) fn backend(&mut self, spec: &BackendFileSpec) -> Result<()> {
        let account = self.control.account;
        apigw_model::group::validate_name("BackendName", &spec.backend_name)?;
        let backend_type = check_backend_type(&spec.backend_type)?;
        let old = self
            .backends
            .iter()
            .position(|b| b.owner_id == account && b.backend_name == spec.backend_name);
        let mut b = match old {
            Some(i) => self.backends[i].clone(),
            None => BackendService {
                backend_id: new_id(),
                backend_name: spec.backend_name.clone(),
                backend_type: backend_type.clone(),
                description: String::new(),
                owner_id: account,
                created_time: self.now.clone(),
                modified_time: self.now.clone(),
                models: Vec::new(),
            },
        };
        let before = b.clone();
        b.backend_type = backend_type.clone();
        b.description = spec.description.clone();
        if let Some(models) = &spec.models {
            let mut next = Vec::new();
            for m in models {
                let mut config = m.backend_config.clone();
                config.validate(&backend_type)?;
                if let Some(address) = &config.service_address {
                    self.control.backend_policy.check(
                        address,
                        self.control.account == apigw_model::account::ROOT_ACCOUNT_ID,
                    )?;
                }
                let kept = b
                    .model(m.stage_name)
                    .filter(|o| o.backend_config == config)
                    .cloned();
                next.push(kept.unwrap_or(BackendModel {
                    backend_model_id: new_id(),
                    stage_name: m.stage_name,
                    backend_config: config,
                    description: String::new(),
                    gmt_create: self.now.clone(),
                    gmt_modified: self.now.clone(),
                }));
            }
            next.sort_by_key(|m| m.stage_name);
            b.models = next;
        }
        if old.is_some() && b == before {
            return Ok(());
        }
        b.modified_time = self.now.clone();
        self.report.push(format!(
            "{} backend {} ({})",
            if old.is_some() { "updated" } else { "created" },
            b.backend_name,
            b.backend_id
        ));
        self.writes.push(Write::PutBackend(b.clone()));
        match old {
            Some(i) => self.backends[i] = b,
            None => self.backends.push(b),
        }
        Ok(())
    }

    /// The id of the acting account's backend `name` (as the plan leaves the backends).
    pub(crate) fn backend_id(&self, name: &str) -> Result<String> {
        self.backends
            .iter()
            .find(|b| b.owner_id == self.control.account && b.backend_name == name)
            .map(|b| b.backend_id.clone())
            .ok_or_else(|| not_found("Backend", name))
    }

    pub(crate) fn group_variables(
        &mut self,
        group: &Group,
        spec: &crate::apply::GroupSpec,
    ) -> Result<()> {
        let Some(wanted) = &spec.stage_variables else {
            return Ok(());
        };
        let mut next = Vec::new();
        for w in wanted {
            let v = StageVariable {
                group_id: group.group_id.clone(),
                stage_name: w.stage_name,
                variable_name: w.variable_name.clone(),
                variable_value: w.variable_value.clone(),
                support_route: false,
                stage_route_model: None,
            };
            v.validate()?;
            next.push(v);
        }
        let (old, others): (Vec<StageVariable>, Vec<StageVariable>) =
            std::mem::take(&mut self.stage_variables)
                .into_iter()
                .partition(|v| v.group_id == group.group_id);
        for v in &old {
            let kept = next
                .iter()
                .any(|n| n.stage_name == v.stage_name && n.variable_name == v.variable_name);
            if !kept {
                self.writes.push(Write::DeleteStageVariable {
                    group_id: v.group_id.clone(),
                    stage: v.stage_name,
                    name: v.variable_name.clone(),
                });
                self.report.push(format!(
                    "deleted stage variable {} in {} of {}",
                    v.variable_name, v.stage_name, group.group_name
                ));
            }
        }
        for v in &next {
            if !old.contains(v) {
                self.writes.push(Write::PutStageVariable(v.clone()));
                self.report.push(format!(
                    "set stage variable {} in {} of {}",
                    v.variable_name, v.stage_name, group.group_name
                ));
            }
        }
        self.stage_variables = others;
        self.stage_variables.extend(next);
        Ok(())
    }

    /// A deployment the plan leaves live must find its stage variables (see
    /// [`crate::Control::deploy`]).
    pub(crate) fn check_target(
        &self,
        api: &apigw_model::ApiDefinition,
        stage: Stage,
    ) -> Result<()> {
        self.control
            .check_target_in(
                api,
                stage,
                &self.vpc_accesses,
                &self.backends,
                &self.stage_variables,
            )
            .map_err(|e| match e {
                ControlError::Refused(m) => ModelError::new(
                    m.code,
                    format!("API `{}` in {stage}: {}", api.api_name, m.message),
                )
                .into(),
                other => other,
            })
    }
}

/// For export: the name of the backend service `api` uses, taken out of the definition.
pub(crate) fn backend_name_of(
    api: &mut apigw_model::ApiDefinition,
    backends: &[BackendService],
) -> Option<String> {
    if !api.backend_enable {
        return None;
    }
    let b = backends
        .iter()
        .find(|b| Some(b.backend_id.as_str()) == api.backend_id.as_deref())?;
    api.backend_enable = false;
    api.backend_id = None;
    Some(b.backend_name.clone())
}

pub(crate) async fn export_variables(
    control: &crate::Control,
    group_id: &str,
) -> Result<Option<Vec<StageVariableSpec>>> {
    let vars = control.stage_variables(group_id, None).await?;
    Ok((!vars.is_empty()).then(|| {
        vars.into_iter()
            .map(|v| StageVariableSpec {
                stage_name: v.stage_name,
                variable_name: v.variable_name,
                variable_value: v.variable_value,
            })
            .collect()
    }))
}

pub(crate) async fn export_vpc_accesses(
    control: &crate::Control,
) -> Result<Vec<VpcAccessFileSpec>> {
    Ok(control
        .vpc_accesses()
        .await?
        .into_iter()
        .map(|a| VpcAccessFileSpec {
            name: a.name,
            vpc_id: a.vpc_id,
            instance_id: a.instance_id,
            port: a.port,
            vpc_target_host_name: a.vpc_target_host_name,
            description: a.description,
        })
        .collect())
}

pub(crate) fn export_backend(b: &BackendService) -> BackendFileSpec {
    BackendFileSpec {
        backend_name: b.backend_name.clone(),
        backend_type: b.backend_type.clone(),
        description: b.description.clone(),
        models: Some(
            b.models
                .iter()
                .map(|m| BackendModelFileSpec {
                    stage_name: m.stage_name,
                    backend_config: m.backend_config.clone(),
                })
                .collect(),
        ),
    }
}
