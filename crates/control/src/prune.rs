//! `apigw apply --prune`: what the file does not list is deleted, in the same plan (one
//! transaction) as the rest of the apply. Like decK's `sync` and APISIX ADC's `sync`, the file
//! is then the whole configuration — of the acting account: another account's groups, apps and
//! plugins are never touched.
//!
//! The scope:
//! - a group the file does not list, with its domains and APIs;
//! - in a group the file lists, each API and each domain the file does not list;
//! - an app the file does not list, with its grants;
//! - a plugin the file does not list, with its bindings.
//!
//! A prune never takes something off live traffic by omission alone: an API deployed in a
//! stage, or a plugin attached to an API in a stage where that API is live, is refused
//! (`DependencyViolationApi`, `DependencyViolationPlugin`) unless the file says
//! `PruneLive: true`; it is then abolished (detached) first, and each step is a report line.

use crate::apply::{GatewayFile, Plan};
use crate::ops::Result;
use apigw_model::{Group, ModelError, Stage};
use apigw_store::Write;
use std::collections::{HashMap, HashSet};

impl Plan<'_> {
    /// Groups, APIs and domains the file does not list (before apps and plugins are planned,
    /// so that a grant or binding in the file cannot name a pruned API).
    pub(crate) fn prune_groups(&mut self, file: &GatewayFile) -> Result<()> {
        let account = self.control.account;
        let listed: HashMap<&str, &crate::apply::GroupSpec> = file
            .groups
            .iter()
            .map(|g| (g.group_name.as_str(), g))
            .collect();
        let mut mine: Vec<Group> = self
            .groups
            .iter()
            .filter(|g| g.owner_id == account)
            .cloned()
            .collect();
        mine.sort_by(|a, b| a.group_name.cmp(&b.group_name));
        for group in mine {
            let spec = listed.get(group.group_name.as_str());
            let apis: HashSet<&str> = spec
                .iter()
                .flat_map(|s| s.apis.iter().map(|a| a.definition.api_name.as_str()))
                .collect();
            let domains: HashSet<&str> = spec
                .iter()
                .flat_map(|s| s.domains.iter().map(|d| d.domain_name.as_str()))
                .collect();
            let mut gone: Vec<(String, String)> = self
                .group_apis
                .get(&group.group_id)
                .into_iter()
                .flatten()
                .map(|id| (self.apis[id].api_name.clone(), id.clone()))
                .filter(|(name, _)| !apis.contains(name.as_str()))
                .collect();
            gone.sort();
            for (name, id) in gone {
                self.prune_api(&group, &name, &id, file.prune_live)?;
            }
            let mut gone_domains: Vec<String> = self
                .domains
                .values()
                .filter(|d| d.group_id == group.group_id)
                .map(|d| d.domain_name.clone())
                .filter(|d| !domains.contains(d.as_str()))
                .collect();
            gone_domains.sort();
            for d in gone_domains {
                self.domains.remove(&d);
                self.writes.push(Write::DeleteDomain(d.clone()));
                self.report
                    .push(format!("deleted domain {d} of group {}", group.group_name));
            }
            if spec.is_none() {
                self.groups.retain(|g| g.group_id != group.group_id);
                self.group_apis.remove(&group.group_id);
                self.writes.push(Write::DeleteGroup(group.group_id.clone()));
                self.report.push(format!(
                    "deleted group {} ({})",
                    group.group_name, group.group_id
                ));
            }
        }
        Ok(())
    }

    /// One API: abolished from its stages (only with `live_ok`), then deleted with its history,
    /// grants and bindings.
    fn prune_api(&mut self, group: &Group, name: &str, id: &str, live_ok: bool) -> Result<()> {
        let live: Vec<Stage> = Stage::ALL
            .into_iter()
            .filter(|s| self.online.contains_key(&(id.to_string(), *s)))
            .collect();
        if !live.is_empty() && !live_ok {
            return Err(ModelError::new(
                "DependencyViolationApi",
                format!(
                    "apply --prune would delete API {}/{name}, which is deployed in {}: abolish it first (list it with `DeployTo: []` and apply), or set `PruneLive: true` in the file",
                    group.group_name,
                    stages(&live)
                ),
            )
            .into());
        }
        for stage in live {
            self.online.remove(&(id.to_string(), stage));
            self.writes.push(Write::Abolish {
                api_id: id.to_string(),
                stage,
            });
            self.report.push(format!("abolished {name} from {stage}"));
        }
        self.writes.push(Write::DeleteApi(id.to_string()));
        self.report
            .push(format!("deleted API {}/{name} ({id})", group.group_name));
        self.apis.remove(id);
        if let Some(ids) = self.group_apis.get_mut(&group.group_id) {
            ids.retain(|i| i != id);
        }
        self.latest_versions.retain(|(api, _), _| api != id);
        self.grants.retain(|g| g.api_id != id);
        self.bindings.retain(|b| b.api_id != id);
        Ok(())
    }

    /// Apps and plugins of the acting account the file does not list.
    pub(crate) fn prune_apps_and_plugins(&mut self, file: &GatewayFile) -> Result<()> {
        let account = self.control.account;
        let apps: HashSet<&str> = file.apps.iter().map(|a| a.app_name.as_str()).collect();
        let mut gone: Vec<(String, i64)> = self
            .apps
            .iter()
            .filter(|a| a.owner_id == account && !apps.contains(a.app_name.as_str()))
            .map(|a| (a.app_name.clone(), a.app_id))
            .collect();
        gone.sort();
        for (name, id) in gone {
            self.apps.retain(|a| a.app_id != id);
            self.grants.retain(|g| g.app_id != id);
            self.writes.push(Write::DeleteApp(id));
            self.report.push(format!("deleted app {name} ({id})"));
        }
        let plugins: HashSet<&str> = file
            .plugins
            .iter()
            .map(|p| p.plugin_name.as_str())
            .collect();
        let mut gone: Vec<(String, String)> = self
            .plugins
            .iter()
            .filter(|p| p.owner_id == account && !plugins.contains(p.plugin_name.as_str()))
            .map(|p| (p.plugin_name.clone(), p.plugin_id.clone()))
            .collect();
        gone.sort();
        for (name, id) in gone {
            self.prune_plugin(&name, &id, file.prune_live)?;
        }
        Ok(())
    }

    fn prune_plugin(&mut self, name: &str, id: &str, live_ok: bool) -> Result<()> {
        let mut bound: Vec<(String, Stage)> = self
            .bindings
            .iter()
            .filter(|b| b.plugin_id == id)
            .map(|b| (b.api_id.clone(), b.stage_name))
            .collect();
        bound.sort();
        let live: Vec<String> = bound
            .iter()
            .filter(|key| self.online.contains_key(*key))
            .map(|(api, stage)| format!("{} in {stage}", self.api_label(api)))
            .collect();
        if !live.is_empty() && !live_ok {
            return Err(ModelError::new(
                "DependencyViolationPlugin",
                format!(
                    "apply --prune would delete plugin {name}, which is attached to {} where it is live: list it in the file, or set `PruneLive: true` in the file",
                    live.join(", ")
                ),
            )
            .into());
        }
        for (api, stage) in &bound {
            let label = self.api_label(api);
            self.report
                .push(format!("detached plugin {name} from {label} in {stage}"));
        }
        self.bindings.retain(|b| b.plugin_id != id);
        self.plugins.retain(|p| p.plugin_id != id);
        self.writes.push(Write::DeletePlugin(id.to_string()));
        self.report.push(format!("deleted plugin {name} ({id})"));
        Ok(())
    }

    /// `group/api` of an API id, as the plan leaves them (the id when unknown).
    fn api_label(&self, api_id: &str) -> String {
        let Some(api) = self.apis.get(api_id) else {
            return api_id.to_string();
        };
        let group = self
            .groups
            .iter()
            .find(|g| g.group_id == api.group_id)
            .map_or(api.group_id.as_str(), |g| g.group_name.as_str());
        format!("{group}/{}", api.api_name)
    }
}

fn stages(stages: &[Stage]) -> String {
    stages
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
