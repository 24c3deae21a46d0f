//! Plugins and their bindings to APIs per stage.

use crate::ops::{not_found, Control, Result};
use crate::{new_id, now_utc};
use apigw_model::{ModelError, Plugin, PluginBinding, Stage};

/// Checks a plugin document with the one parser the data plane compiles it with
/// (`apigw_plugin::parse`); CreatePlugin, ModifyPlugin and the declarative file all come here.
/// A type this gateway does not run is refused (`InvalidPluginType`), so nothing inert is
/// stored.
pub(crate) fn check_document(plugin: &Plugin) -> std::result::Result<(), ModelError> {
    parse_document(plugin).map(|_| ())
}

fn parse_document(plugin: &Plugin) -> std::result::Result<apigw_plugin::PluginDoc, ModelError> {
    apigw_plugin::parse(&plugin.plugin_type, &plugin.plugin_data).map_err(plugin_error)
}

impl Control {
    /// [`check_document`], and the backend addresses the document names (routing routes, a
    /// circuit breaker's downgrade) are ones the acting account may use
    /// (`InvalidBackendAddress`, as for a `ServiceAddress`).
    pub(crate) fn check_plugin(&self, plugin: &Plugin) -> std::result::Result<(), ModelError> {
        let doc = parse_document(plugin)?;
        let root = self.account == apigw_model::account::ROOT_ACCOUNT_ID;
        for address in doc.backend_addresses() {
            self.backend_policy.check(address, root)?;
        }
        Ok(())
    }
}

/// A refused document in the management API's vocabulary: `InvalidPluginType` for a type
/// this gateway does not run, `InvalidPluginData` for a bad document, `Invalid<Limit>`
/// (`InvalidApiDefault` ...) for trafficControl limits out of order.
pub(crate) fn plugin_error(e: apigw_plugin::PluginError) -> ModelError {
    use apigw_plugin::PluginError;
    match e {
        PluginError::UnsupportedType(_) => ModelError::invalid("PluginType", e),
        PluginError::TooLarge(_) | PluginError::Invalid(_) => ModelError::invalid("PluginData", e),
        PluginError::Limit(l) => ModelError::invalid(l.parameter, l.message),
    }
}

/// Other plugins of `plugin`'s type bound to the API in `stage` (binding `plugin` there
/// replaces them: one plugin of each type is in force).
pub(crate) fn same_type_bound(
    plugins: &[Plugin],
    bindings: &[PluginBinding],
    plugin: &Plugin,
    api_id: &str,
    stage: Stage,
) -> Vec<String> {
    bindings
        .iter()
        .filter(|b| b.api_id == api_id && b.stage_name == stage && b.plugin_id != plugin.plugin_id)
        .filter(|b| {
            plugins
                .iter()
                .any(|p| p.plugin_id == b.plugin_id && p.plugin_type == plugin.plugin_type)
        })
        .map(|b| b.plugin_id.clone())
        .collect()
}

impl Control {
    /// The acting account's plugins.
    pub async fn plugins(&self) -> Result<Vec<Plugin>> {
        let mut all = self.store.list_plugins().await?;
        all.retain(|p| p.owner_id == self.account);
        Ok(all)
    }

    /// A plugin of the acting account (`ForbiddenPlugin` for another account's).
    pub async fn plugin(&self, plugin_id: &str) -> Result<Plugin> {
        let p = self
            .store
            .list_plugins()
            .await?
            .into_iter()
            .find(|p| p.plugin_id == plugin_id)
            .ok_or_else(|| not_found("Plugin", plugin_id))?;
        self.check_owner("Plugin", plugin_id, p.owner_id)?;
        Ok(p)
    }

    pub async fn plugin_by_name(&self, name: &str) -> Result<Option<Plugin>> {
        Ok(self
            .plugins()
            .await?
            .into_iter()
            .find(|p| p.plugin_name == name))
    }

    pub async fn create_plugin(
        &self,
        name: &str,
        plugin_type: &str,
        data: &str,
        description: &str,
    ) -> Result<Plugin> {
        let _w = self.write_lock.lock().await?;
        let plugin = self.new_plugin(
            &self.store.list_plugins().await?,
            name,
            plugin_type,
            data,
            description,
        )?;
        self.store.put_plugin(&plugin).await?;
        self.publish().await;
        Ok(plugin)
    }

    /// A new plugin of the acting account, checked against `all` (every stored plugin).
    pub(crate) fn new_plugin(
        &self,
        all: &[Plugin],
        name: &str,
        plugin_type: &str,
        data: &str,
        description: &str,
    ) -> Result<Plugin> {
        let now = now_utc();
        let plugin = Plugin {
            plugin_id: new_id(),
            plugin_name: name.to_string(),
            owner_id: self.account,
            plugin_type: plugin_type.to_string(),
            plugin_data: data.to_string(),
            description: description.to_string(),
            created_time: now.clone(),
            modified_time: now,
        };
        plugin.validate()?;
        self.check_plugin(&plugin)?;
        if all
            .iter()
            .any(|p| p.owner_id == self.account && p.plugin_name == name)
        {
            return Err(ModelError::new(
                "RepeatedPluginName",
                format!("a plugin named `{name}` already exists"),
            )
            .into());
        }
        Ok(plugin)
    }

    /// Changes a plugin's document or description; bound APIs see it at once (no redeploy).
    pub async fn modify_plugin(
        &self,
        plugin_id: &str,
        data: &str,
        description: &str,
    ) -> Result<Plugin> {
        self.modify_plugin_named(plugin_id, None, data, description)
            .await
    }

    /// Like [`Control::modify_plugin`], renaming the plugin too when `name` is given.
    pub async fn modify_plugin_named(
        &self,
        plugin_id: &str,
        name: Option<&str>,
        data: &str,
        description: &str,
    ) -> Result<Plugin> {
        let _w = self.write_lock.lock().await?;
        let mut plugin = self.plugin(plugin_id).await?;
        if let Some(name) = name.filter(|n| *n != plugin.plugin_name) {
            if self.plugins().await?.iter().any(|p| p.plugin_name == name) {
                return Err(ModelError::new(
                    "RepeatedPluginName",
                    format!("a plugin named `{name}` already exists"),
                )
                .into());
            }
            plugin.plugin_name = name.to_string();
        }
        plugin.plugin_data = data.to_string();
        plugin.description = description.to_string();
        plugin.modified_time = now_utc();
        plugin.validate()?;
        self.check_plugin(&plugin)?;
        self.store.put_plugin(&plugin).await?;
        self.publish().await;
        Ok(plugin)
    }

    /// Deletes a plugin that is bound nowhere.
    pub async fn delete_plugin(&self, plugin_id: &str) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.plugin(plugin_id).await?;
        let bound = self
            .store
            .list_plugin_bindings()
            .await?
            .into_iter()
            .filter(|b| b.plugin_id == plugin_id)
            .count();
        if bound > 0 {
            return Err(ModelError::new(
                "DependencyViolationPlugin",
                format!("plugin `{plugin_id}` is still attached to {bound} API stage(s)"),
            )
            .into());
        }
        self.store.delete_plugin(plugin_id).await?;
        self.publish().await;
        Ok(())
    }

    /// Attaches a plugin to an API in a stage; a plugin of the same type bound there is
    /// detached in the same write. Takes effect at once, without a redeploy.
    pub async fn attach_plugin(&self, plugin_id: &str, api_id: &str, stage: Stage) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        let plugin = self.plugin(plugin_id).await?;
        let api = self.api(api_id).await?;
        let same_type = same_type_bound(
            &self.store.list_plugins().await?,
            &self.store.list_plugin_bindings().await?,
            &plugin,
            api_id,
            stage,
        );
        let binding = PluginBinding {
            plugin_id: plugin.plugin_id,
            api_id: api.api_id,
            group_id: api.group_id,
            stage_name: stage,
            created_time: now_utc(),
        };
        self.store.bind_plugin(&binding, &same_type).await?;
        self.publish().await;
        Ok(())
    }

    pub async fn detach_plugin(&self, plugin_id: &str, api_id: &str, stage: Stage) -> Result<()> {
        let _w = self.write_lock.lock().await?;
        self.plugin(plugin_id).await?;
        if !self.store.unbind_plugin(plugin_id, api_id, stage).await? {
            return Err(not_found(
                "PluginBinding",
                &format!("plugin {plugin_id} on API {api_id} in {stage}"),
            ));
        }
        self.publish().await;
        Ok(())
    }

    /// Bindings of the acting account's plugins.
    pub async fn plugin_bindings(&self) -> Result<Vec<PluginBinding>> {
        let mine: Vec<String> = self
            .plugins()
            .await?
            .into_iter()
            .map(|p| p.plugin_id)
            .collect();
        let mut all = self.store.list_plugin_bindings().await?;
        all.retain(|b| mine.contains(&b.plugin_id));
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin(plugin_type: &str, data: &str) -> Plugin {
        Plugin {
            plugin_id: String::new(),
            plugin_name: "p1234".into(),
            owner_id: apigw_model::account::ROOT_ACCOUNT_ID,
            plugin_type: plugin_type.into(),
            plugin_data: data.into(),
            description: String::new(),
            created_time: String::new(),
            modified_time: String::new(),
        }
    }

    #[test]
    fn types_this_gateway_does_not_run_are_refused() {
        for t in ["basicAuth", "remoteAuth", "logMask"] {
            let e = check_document(&plugin(t, "{}")).unwrap_err();
            assert_eq!(e.code, "InvalidPluginType", "{t}");
            assert!(e.message.contains("not supported by this gateway"), "{e}");
        }
    }

    #[test]
    fn document_errors_keep_their_codes() {
        let e = check_document(&plugin("cors", "maxAge: soon")).unwrap_err();
        assert_eq!(e.code, "InvalidPluginData");
        assert!(e.message.contains("`maxAge`"), "{e}");
        let e = check_document(&plugin(
            "trafficControl",
            "unit: MINUTE\napiDefault: 10\nuserDefault: 20",
        ))
        .unwrap_err();
        assert_eq!(e.code, "InvalidUserDefault");
        assert!(check_document(&plugin("caching", "duration: 60")).is_ok());
    }

    #[test]
    fn the_newer_types_are_checked() {
        let vpc = "routes:\n  - name: Vip\n    condition: '$CaAppId = 1'\n    backend: {type: HTTP-VPC, vpcAccessName: slb}\n";
        let e = check_document(&plugin("routing", vpc)).unwrap_err();
        assert_eq!(e.code, "InvalidPluginData");
        assert!(e.message.contains("HTTP-VPC needs VPC accesses"), "{e}");
        let e = check_document(&plugin(
            "accessControl",
            "rules: [{name: r, condition: '$a = ', ifTrue: DENY}]",
        ))
        .unwrap_err();
        assert!(e.message.contains("at character"), "{e}");
        assert!(check_document(&plugin(
            "transformer",
            "requestTransformer: [{action: removeRequestParameter, location: query, name: debug}]"
        ))
        .is_ok());
    }
}
