//! The `Apps` and `Plugins` sections of the declarative file.

use crate::apply::{ApiStagesSpec, AppFileSpec, KeySpec, Plan, PluginSpec};
use crate::apps::new_grant;
use crate::ops::{not_found, Control, Result};
use crate::plugins::same_type_bound;
use crate::AppSpec;
use apigw_model::{App, Authorization, ModelError, PluginBinding, Stage};
use apigw_store::Write;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Where a file entry grants or binds: (API id, stage) → (API's group id, expiry,
/// "group/api"), in file order; an (API, stage) listed twice takes the later entry.
type Targets = Vec<((String, Stage), (String, Option<String>, String))>;

impl Plan<'_> {
    /// The APIs and stages a list names, as the plan leaves the groups.
    fn resolve_targets(&self, specs: &[ApiStagesSpec]) -> Result<Targets> {
        let mut out: Targets = Vec::new();
        let mut seen: HashMap<(String, Stage), usize> = HashMap::new();
        for s in specs {
            let (group, api) = (&s.group_name, &s.api_name);
            if !self.group_names.contains(group) {
                return Err(ModelError::new(
                    "NotFoundApiGroup",
                    format!("no group named `{group}`"),
                )
                .into());
            }
            let id = self
                .api_names
                .get(&(group.clone(), api.clone()))
                .ok_or_else(|| {
                    ModelError::new(
                        "NotFoundApi",
                        format!("group `{group}` has no API named `{api}`"),
                    )
                })?;
            let group_id = self.apis[id].group_id.clone();
            for stage in &s.stages {
                let key = (id.clone(), *stage);
                let value = (
                    group_id.clone(),
                    s.auth_valid_time.clone(),
                    format!("{group}/{api}"),
                );
                match seen.get(&key) {
                    Some(&i) => out[i].1 = value,
                    None => {
                        seen.insert(key.clone(), out.len());
                        out.push((key, value));
                    }
                }
            }
        }
        Ok(out)
    }

    /// The API a stored grant or binding names, as an operation on it would look it up.
    fn own_api(&self, api_id: &str) -> Result<()> {
        let api = self
            .apis
            .get(api_id)
            .ok_or_else(|| not_found("Api", api_id))?;
        let owner = self
            .groups_owner(&api.group_id)
            .unwrap_or(apigw_model::account::ROOT_ACCOUNT_ID);
        self.control.check_owner("Api", api_id, owner)
    }

    fn put_app(&mut self, app: App) {
        self.writes.push(Write::PutApp(app.clone()));
        match self.apps.iter_mut().find(|a| a.app_id == app.app_id) {
            Some(a) => *a = app,
            None => self.apps.push(app),
        }
    }

    pub(crate) fn app(&mut self, spec: &AppFileSpec) -> Result<()> {
        let name = &spec.app_name;
        let control = self.control;
        let existing = self
            .apps
            .iter()
            .find(|a| a.owner_id == control.account && a.app_name == *name)
            .cloned();
        let mut app = match existing {
            Some(app) => app,
            None => {
                let first_key = spec.keys.as_ref().and_then(|k| k.first());
                let app = control.new_app(
                    &self.apps,
                    AppSpec {
                        app_name: name.clone(),
                        description: spec.description.clone(),
                        extend: spec.extend.clone(),
                        app_key: first_key.map(|k| k.app_key.clone()),
                        app_secret: first_key.map(|k| k.app_secret.clone()),
                        app_code: spec.app_codes.as_ref().and_then(|c| c.first().cloned()),
                    },
                )?;
                self.report
                    .push(format!("created app {name} ({})", app.app_id));
                self.put_app(app.clone());
                app
            }
        };
        if app.description != spec.description
            || app.extend != spec.extend
            || app.disabled != spec.disabled
        {
            app.description = spec.description.clone();
            app.extend = spec.extend.clone();
            app.disabled = spec.disabled;
            app.modified_time = self.now.clone();
            app.validate()?;
            Control::check_unique(&self.apps, &app)?;
            self.report.push(format!("updated app {name}"));
            self.put_app(app.clone());
        }
        let pairs = |keys: &[apigw_model::AppKeyPair]| -> Vec<(String, String)> {
            keys.iter()
                .map(|k| (k.app_key.clone(), k.app_secret.clone()))
                .collect()
        };
        let current = pairs(&app.keys);
        let keys: Vec<(String, String)> = match &spec.keys {
            Some(k) => k
                .iter()
                .map(|k| (k.app_key.clone(), k.app_secret.clone()))
                .collect(),
            None => current.clone(),
        };
        let codes = spec
            .app_codes
            .clone()
            .unwrap_or_else(|| app.app_codes.clone());
        if keys != current || codes != app.app_codes {
            app = control.with_credentials(app, &keys, &codes)?;
            Control::check_unique(&self.apps, &app)?;
            self.report
                .push(format!("updated credentials of app {name}"));
            self.put_app(app.clone());
        }
        if let Some(grants) = &spec.authorizations {
            let wanted = self.resolve_targets(grants)?;
            let existing: Vec<Authorization> = self
                .grants
                .iter()
                .filter(|g| g.app_id == app.app_id)
                .cloned()
                .collect();
            for ((api_id, stage), (group_id, valid, label)) in &wanted {
                let same = existing.iter().any(|g| {
                    &g.api_id == api_id && g.stage_name == *stage && &g.auth_valid_time == valid
                });
                if !same {
                    let grant = new_grant(
                        app.app_id,
                        api_id,
                        group_id,
                        *stage,
                        valid.as_deref(),
                        "apigw apply",
                    )?;
                    self.grants.retain(|g| {
                        !(g.app_id == app.app_id && &g.api_id == api_id && g.stage_name == *stage)
                    });
                    self.grants.push(grant.clone());
                    self.writes.push(Write::PutAuthorization(grant));
                    self.report
                        .push(format!("authorized app {name} on {label} in {stage}"));
                }
            }
            let wanted: HashSet<&(String, Stage)> = wanted.iter().map(|(k, _)| k).collect();
            for g in existing {
                if !wanted.contains(&(g.api_id.clone(), g.stage_name)) {
                    self.own_api(&g.api_id)?;
                    self.grants.retain(|o| {
                        !(o.app_id == g.app_id
                            && o.api_id == g.api_id
                            && o.stage_name == g.stage_name)
                    });
                    self.writes.push(Write::DeleteAuthorization {
                        app_id: app.app_id,
                        api_id: g.api_id.clone(),
                        stage: g.stage_name,
                    });
                    self.report.push(format!(
                        "revoked app {name} on API {} in {}",
                        g.api_id, g.stage_name
                    ));
                }
            }
        }
        Ok(())
    }

    pub(crate) fn plugin(&mut self, spec: &PluginSpec) -> Result<()> {
        let name = &spec.plugin_name;
        let control = self.control;
        let existing = self
            .plugins
            .iter()
            .position(|p| p.owner_id == control.account && p.plugin_name == *name);
        let plugin = match existing {
            None => {
                let p = control.new_plugin(
                    &self.plugins,
                    name,
                    &spec.plugin_type,
                    &spec.plugin_data,
                    &spec.description,
                )?;
                self.report
                    .push(format!("created plugin {name} ({})", p.plugin_id));
                self.writes.push(Write::PutPlugin(p.clone()));
                self.plugins.push(p.clone());
                p
            }
            Some(i) if self.plugins[i].plugin_type != spec.plugin_type => {
                return Err(ModelError::invalid(
                    "PluginType",
                    format!(
                        "plugin `{name}` is a {}; delete it to change its type",
                        self.plugins[i].plugin_type
                    ),
                )
                .into())
            }
            Some(i) => {
                let p = &mut self.plugins[i];
                if p.plugin_data != spec.plugin_data || p.description != spec.description {
                    p.plugin_data = spec.plugin_data.clone();
                    p.description = spec.description.clone();
                    p.modified_time = self.now.clone();
                    p.validate()?;
                    control.check_plugin(p)?;
                    self.report.push(format!("updated plugin {name}"));
                    self.writes.push(Write::PutPlugin(p.clone()));
                }
                p.clone()
            }
        };
        if let Some(targets) = &spec.attach_to {
            let wanted = self.resolve_targets(targets)?;
            let existing: Vec<PluginBinding> = self
                .bindings
                .iter()
                .filter(|b| b.plugin_id == plugin.plugin_id)
                .cloned()
                .collect();
            for ((api_id, stage), (group_id, _, label)) in &wanted {
                if existing
                    .iter()
                    .any(|b| &b.api_id == api_id && b.stage_name == *stage)
                {
                    continue;
                }
                let replaces =
                    same_type_bound(&self.plugins, &self.bindings, &plugin, api_id, *stage);
                self.bindings.retain(|b| {
                    !(&b.api_id == api_id
                        && b.stage_name == *stage
                        && replaces.contains(&b.plugin_id))
                });
                let binding = PluginBinding {
                    plugin_id: plugin.plugin_id.clone(),
                    api_id: api_id.clone(),
                    group_id: group_id.clone(),
                    stage_name: *stage,
                    created_time: self.now.clone(),
                };
                self.bindings.push(binding.clone());
                self.writes.push(Write::BindPlugin { binding, replaces });
                self.report
                    .push(format!("attached plugin {name} to {label} in {stage}"));
            }
            let wanted: HashSet<&(String, Stage)> = wanted.iter().map(|(k, _)| k).collect();
            for b in existing {
                if !wanted.contains(&(b.api_id.clone(), b.stage_name)) {
                    self.bindings.retain(|o| {
                        !(o.plugin_id == b.plugin_id
                            && o.api_id == b.api_id
                            && o.stage_name == b.stage_name)
                    });
                    self.writes.push(Write::UnbindPlugin {
                        plugin_id: b.plugin_id.clone(),
                        api_id: b.api_id.clone(),
                        stage: b.stage_name,
                    });
                    self.report.push(format!(
                        "detached plugin {name} from API {} in {}",
                        b.api_id, b.stage_name
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Names of every API: id → (group name, API name).
async fn api_names(control: &Control) -> Result<HashMap<String, (String, String)>> {
    let mut out = HashMap::new();
    for g in control.groups().await? {
        for a in control.apis(&g.group_id).await? {
            out.insert(a.api_id, (g.group_name.clone(), a.api_name));
        }
    }
    Ok(out)
}

/// Groups (api id, stage, expiry) into file entries, one per API and expiry.
fn to_specs(
    names: &HashMap<String, (String, String)>,
    items: impl Iterator<Item = (String, Stage, Option<String>)>,
) -> Vec<ApiStagesSpec> {
    let mut grouped: BTreeMap<(String, String, Option<String>), Vec<Stage>> = BTreeMap::new();
    for (api_id, stage, valid) in items {
        if let Some((g, a)) = names.get(&api_id) {
            grouped
                .entry((g.clone(), a.clone(), valid))
                .or_default()
                .push(stage);
        }
    }
    grouped
        .into_iter()
        .map(|((group_name, api_name, auth_valid_time), mut stages)| {
            stages.sort();
            ApiStagesSpec {
                group_name,
                api_name,
                stages,
                auth_valid_time,
            }
        })
        .collect()
}

pub(crate) async fn export_apps(control: &Control) -> Result<Vec<AppFileSpec>> {
    let names = api_names(control).await?;
    let grants = control.authorizations().await?;
    let mut out = Vec::new();
    for app in control.apps().await? {
        let mine = grants
            .iter()
            .filter(|g| g.app_id == app.app_id)
            .map(|g| (g.api_id.clone(), g.stage_name, g.auth_valid_time.clone()));
        out.push(AppFileSpec {
            authorizations: Some(to_specs(&names, mine)),
            app_name: app.app_name,
            description: app.description,
            extend: app.extend,
            disabled: app.disabled,
            keys: Some(
                app.keys
                    .into_iter()
                    .map(|k| KeySpec {
                        app_key: k.app_key,
                        app_secret: k.app_secret,
                    })
                    .collect(),
            ),
            app_codes: Some(app.app_codes),
        });
    }
    out.sort_by(|a, b| a.app_name.cmp(&b.app_name));
    Ok(out)
}

pub(crate) async fn export_plugins(control: &Control) -> Result<Vec<PluginSpec>> {
    let names = api_names(control).await?;
    let bindings = control.plugin_bindings().await?;
    let mut out = Vec::new();
    for p in control.plugins().await? {
        let mine = bindings
            .iter()
            .filter(|b| b.plugin_id == p.plugin_id)
            .map(|b| (b.api_id.clone(), b.stage_name, None));
        out.push(PluginSpec {
            attach_to: Some(to_specs(&names, mine)),
            plugin_name: p.plugin_name,
            plugin_type: p.plugin_type,
            plugin_data: p.plugin_data,
            description: p.description,
        });
    }
    out.sort_by(|a, b| a.plugin_name.cmp(&b.plugin_name));
    Ok(out)
}
