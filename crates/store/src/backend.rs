//! The [`Store`] trait for both stores, written once on a few primitives each store provides
//! ([`Backend`]): run a batch of writes in one transaction, read documents with the shared
//! SQL of `sql.rs`, load the live configuration consistently. Documents with secret fields are
//! opened here with the store's master keys ([`Backend::secrets`]).

use crate::minutes;
use crate::secrets::{SecretBox, SecretFields};
use crate::sql::{self, Arg};
use crate::{LiveConfig, Result, Store, StoredConfig, Write, WriteLock};
use apigw_model::monitor::{ApiMinute, MinuteDetail, MinuteTotals};
use apigw_model::{
    AccessKey, ApiDefinition, App, Authorization, BackendService, Deployment, Domain, Group,
    Plugin, PluginBinding, Stage, StageVariable, VpcAccess,
};
use async_trait::async_trait;
use std::sync::Arc;
use tokio::sync::{watch, Notify};

/// What a store runs; [`Store`] is implemented on top of it.
#[async_trait]
pub(crate) trait Backend: Send + Sync + 'static {
    /// The generation counter.
    async fn generation(&self) -> Result<u64>;
    /// One consistent read of what is live and, with `all`, of every draft and the newest
    /// history versions (empty otherwise).
    async fn load(&self, all: bool) -> Result<StoredConfig>;
    /// Runs `batch` ([`sql::run_batch`]) in one transaction that bumps the generation once,
    /// after checking `if_generation` in that transaction; the answer of each write.
    async fn write(&self, batch: Vec<Write>, if_generation: Option<u64>) -> Result<Vec<bool>>;
    /// The first column (a document) of every row of `sql`.
    async fn docs(&self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<String>>;
    /// Deployment rows: (document, online).
    async fn deployments(&self, sql: &'static str, args: Vec<Arg>) -> Result<Vec<(String, bool)>>;
    /// The first column of the first row, when it is not NULL.
    async fn text(&self, sql: &'static str, args: Vec<Arg>) -> Result<Option<String>>;
    /// The master keys documents are sealed and opened with.
    fn secrets(&self) -> &SecretBox;
    /// Runs `steps` in one transaction that leaves the generation alone (data that is not
    /// configuration: the per-minute totals); the rows they changed.
    async fn execute(&self, steps: Vec<sql::Step>) -> Result<u64>;
    /// Every row of `sql`, its first `columns` columns read as integers.
    async fn int_rows(
        &self,
        sql: &'static str,
        args: Vec<Arg>,
        columns: usize,
    ) -> Result<Vec<Vec<i64>>>;
    /// See [`Store::lock_writes`].
    async fn lock_writes(&self) -> Result<WriteLock> {
        Ok(WriteLock::none())
    }
    /// See [`Store::listen`].
    async fn listen(&self, wake: Arc<Notify>, stop: watch::Receiver<bool>) {
        let _ = (wake, stop);
    }
}

async fn one<B: Backend>(b: &B, w: Write) -> Result<bool> {
    Ok(b.write(vec![w], None).await?[0])
}

async fn list<B: Backend, T: serde::de::DeserializeOwned>(
    b: &B,
    sql: &'static str,
    args: Vec<Arg>,
) -> Result<Vec<T>> {
    sql::from_docs(&b.docs(sql, args).await?)
}

/// Like [`list`] for documents with secret fields: opens them.
async fn list_sealed<B: Backend, T: serde::de::DeserializeOwned + SecretFields>(
    b: &B,
    sql: &'static str,
    args: Vec<Arg>,
) -> Result<Vec<T>> {
    sql::from_sealed_docs(&b.docs(sql, args).await?, b.secrets())
}

#[async_trait]
impl<B: Backend> Store for B {
    async fn lock_writes(&self) -> Result<WriteLock> {
        Backend::lock_writes(self).await
    }

    async fn listen(&self, wake: Arc<Notify>, stop: watch::Receiver<bool>) {
        Backend::listen(self, wake, stop).await
    }

    async fn generation(&self) -> Result<u64> {
        Backend::generation(self).await
    }

    async fn load_live(&self) -> Result<LiveConfig> {
        Ok(self.load(false).await?.live)
    }

    async fn load_all(&self) -> Result<StoredConfig> {
        self.load(true).await
    }

    async fn commit(&self, batch: &[Write], if_generation: Option<u64>) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        self.write(batch.to_vec(), if_generation).await?;
        Ok(())
    }

    async fn put_group(&self, group: &Group) -> Result<()> {
        one(self, Write::PutGroup(group.clone())).await?;
        Ok(())
    }

    async fn get_group(&self, group_id: &str) -> Result<Option<Group>> {
        Ok(list(self, sql::GROUP, vec![group_id.into()]).await?.pop())
    }

    async fn list_groups(&self) -> Result<Vec<Group>> {
        list(self, sql::GROUPS, vec![]).await
    }

    async fn delete_group(&self, group_id: &str) -> Result<bool> {
        one(self, Write::DeleteGroup(group_id.to_string())).await
    }

    async fn put_domain(&self, domain: &Domain) -> Result<()> {
        one(self, Write::PutDomain(domain.clone())).await?;
        Ok(())
    }

    async fn delete_domain(&self, domain_name: &str) -> Result<bool> {
        one(self, Write::DeleteDomain(domain_name.to_string())).await
    }

    async fn list_domains(&self) -> Result<Vec<Domain>> {
        list_sealed(self, sql::DOMAINS, vec![]).await
    }

    async fn put_api(&self, api: &ApiDefinition) -> Result<()> {
        one(self, Write::PutApi(api.clone())).await?;
        Ok(())
    }

    async fn get_api(&self, api_id: &str) -> Result<Option<ApiDefinition>> {
        Ok(list(self, sql::API, vec![api_id.into()]).await?.pop())
    }

    async fn list_apis(&self, group_id: &str) -> Result<Vec<ApiDefinition>> {
        list(self, sql::GROUP_APIS, vec![group_id.into()]).await
    }

    async fn delete_api(&self, api_id: &str) -> Result<bool> {
        one(self, Write::DeleteApi(api_id.to_string())).await
    }

    async fn deploy(&self, deployment: &Deployment) -> Result<()> {
        one(self, Write::Deploy(deployment.clone())).await?;
        Ok(())
    }

    async fn abolish(&self, api_id: &str, stage: Stage) -> Result<bool> {
        let api_id = api_id.to_string();
        one(self, Write::Abolish { api_id, stage }).await
    }

    async fn switch_version(&self, api_id: &str, stage: Stage, version: &str) -> Result<bool> {
        let (api_id, version) = (api_id.to_string(), version.to_string());
        let w = Write::SwitchVersion {
            api_id,
            stage,
            version,
        };
        one(self, w).await
    }

    async fn history(&self, api_id: &str, stage: Option<Stage>) -> Result<Vec<Deployment>> {
        let rows = match stage {
            Some(s) => {
                let args = vec![api_id.into(), s.as_str().into()];
                self.deployments(sql::HISTORY_STAGE, args).await?
            }
            None => self.deployments(sql::HISTORY, vec![api_id.into()]).await?,
        };
        rows.iter()
            .map(|(doc, online)| sql::deployment(doc, *online))
            .collect()
    }

    async fn latest_version(&self, api_id: &str, stage: Stage) -> Result<Option<String>> {
        let args = vec![api_id.into(), stage.as_str().into()];
        self.text(sql::LATEST_VERSION, args).await
    }

    async fn put_app(&self, app: &App) -> Result<()> {
        one(self, Write::PutApp(app.clone())).await?;
        Ok(())
    }

    async fn get_app(&self, app_id: i64) -> Result<Option<App>> {
        Ok(list_sealed(self, sql::APP, vec![app_id.into()])
            .await?
            .pop())
    }

    async fn list_apps(&self) -> Result<Vec<App>> {
        list_sealed(self, sql::APPS, vec![]).await
    }

    async fn delete_app(&self, app_id: i64) -> Result<bool> {
        one(self, Write::DeleteApp(app_id)).await
    }

    async fn put_authorization(&self, grant: &Authorization) -> Result<()> {
        one(self, Write::PutAuthorization(grant.clone())).await?;
        Ok(())
    }

    async fn delete_authorization(&self, app_id: i64, api_id: &str, stage: Stage) -> Result<bool> {
        let api_id = api_id.to_string();
        let w = Write::DeleteAuthorization {
            app_id,
            api_id,
            stage,
        };
        one(self, w).await
    }

    async fn list_authorizations(&self) -> Result<Vec<Authorization>> {
        list(self, sql::AUTHORIZATIONS, vec![]).await
    }

    async fn put_plugin(&self, plugin: &Plugin) -> Result<()> {
        one(self, Write::PutPlugin(plugin.clone())).await?;
        Ok(())
    }

    async fn list_plugins(&self) -> Result<Vec<Plugin>> {
        list_sealed(self, sql::PLUGINS, vec![]).await
    }

    async fn delete_plugin(&self, plugin_id: &str) -> Result<bool> {
        one(self, Write::DeletePlugin(plugin_id.to_string())).await
    }

    async fn bind_plugin(&self, binding: &PluginBinding, replaces: &[String]) -> Result<()> {
        let w = Write::BindPlugin {
            binding: binding.clone(),
            replaces: replaces.to_vec(),
        };
        one(self, w).await?;
        Ok(())
    }

    async fn unbind_plugin(&self, plugin_id: &str, api_id: &str, stage: Stage) -> Result<bool> {
        let (plugin_id, api_id) = (plugin_id.to_string(), api_id.to_string());
        let w = Write::UnbindPlugin {
            plugin_id,
            api_id,
            stage,
        };
        one(self, w).await
    }

    async fn list_plugin_bindings(&self) -> Result<Vec<PluginBinding>> {
        list(self, sql::PLUGIN_BINDINGS, vec![]).await
    }

    async fn put_access_key(&self, key: &AccessKey) -> Result<()> {
        one(self, Write::PutAccessKey(key.clone())).await?;
        Ok(())
    }

    async fn list_access_keys(&self) -> Result<Vec<AccessKey>> {
        list_sealed(self, sql::ACCESS_KEYS, vec![]).await
    }

    async fn put_minutes(&self, node: &str, rows: &[ApiMinute]) -> Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.execute(minutes::puts(node, rows)).await.map(|_| ())
    }

    async fn api_minutes(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
        except_node: &str,
    ) -> Result<Vec<(i64, MinuteTotals)>> {
        let args = minutes::sums_args(api_id, stage, from, to, except_node);
        let rows = self
            .int_rows(minutes::SUMS, args, minutes::SUMS_COLUMNS)
            .await?;
        Ok(rows.iter().map(|r| minutes::from_sums(r)).collect())
    }

    async fn api_minute_details(
        &self,
        api_id: &str,
        stage: Option<Stage>,
        from: i64,
        to: i64,
        except_node: &str,
    ) -> Result<Vec<(i64, MinuteDetail)>> {
        let args = minutes::sums_args(api_id, stage, from, to, except_node);
        let rows = self.docs(minutes::DETAILS, args).await?;
        Ok(minutes::add_details(&rows))
    }

    async fn prune_minutes(&self, before: i64) -> Result<u64> {
        let steps = [minutes::PRUNE, minutes::PRUNE_DETAILS].map(|sql| sql::Step {
            sql,
            args: vec![Arg::Int(before)],
        });
        self.execute(steps.into()).await
    }

    async fn put_vpc_access(&self, access: &VpcAccess) -> Result<()> {
        one(self, Write::PutVpcAccess(access.clone())).await?;
        Ok(())
    }

    async fn delete_vpc_access(&self, vpc_access_id: &str) -> Result<bool> {
        one(self, Write::DeleteVpcAccess(vpc_access_id.to_string())).await
    }

    async fn list_vpc_accesses(&self) -> Result<Vec<VpcAccess>> {
        list(self, sql::VPC_ACCESSES, vec![]).await
    }

    async fn put_backend(&self, backend: &BackendService) -> Result<()> {
        one(self, Write::PutBackend(backend.clone())).await?;
        Ok(())
    }

    async fn delete_backend(&self, backend_id: &str) -> Result<bool> {
        one(self, Write::DeleteBackend(backend_id.to_string())).await
    }

    async fn list_backends(&self) -> Result<Vec<BackendService>> {
        list(self, sql::BACKENDS, vec![]).await
    }

    async fn put_stage_variable(&self, variable: &StageVariable) -> Result<()> {
        one(self, Write::PutStageVariable(variable.clone())).await?;
        Ok(())
    }

    async fn delete_stage_variable(
        &self,
        group_id: &str,
        stage: Stage,
        name: &str,
    ) -> Result<bool> {
        let w = Write::DeleteStageVariable {
            group_id: group_id.to_string(),
            stage,
            name: name.to_string(),
        };
        one(self, w).await
    }

    async fn list_stage_variables(&self) -> Result<Vec<StageVariable>> {
        list(self, sql::STAGE_VARIABLES, vec![]).await
    }
}
