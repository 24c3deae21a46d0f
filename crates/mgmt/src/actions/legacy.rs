//! The legacy policy families (throttling, IP control, backend signatures) are plugins of one
//! type each, named in their own words (`TrafficControlId`, `NotFoundIpControl`, ...). What the
//! three share lives here: the typed lookup, error renaming, binding and unbinding
//! (`Set/Remove<Policy>Apis`), and the listings of who is bound to what
//! (`DescribeApisBy<Policy>`, `DescribeApi<Policy>s`, `Describe<Policy>sByApi`).

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::{Control, ControlError};
use apigw_model::Plugin;
use serde_json::json;

/// One legacy family: its plugin type and its words.
pub struct Family {
    pub plugin_type: &'static str,
    /// `TrafficControl`, `IpControl`, `Signature`.
    pub noun: &'static str,
    /// The list member of `DescribeApi<Policy>s` and its item (`ApiTrafficControls`,
    /// `ApiTrafficControlItem`).
    pub list: &'static str,
    pub item: &'static str,
}

pub const TRAFFIC: Family = Family {
    plugin_type: "trafficControl",
    noun: "TrafficControl",
    list: "ApiTrafficControls",
    item: "ApiTrafficControlItem",
};
pub const IP: Family = Family {
    plugin_type: "ipControl",
    noun: "IpControl",
    list: "ApiIpControls",
    item: "ApiIpControlItem",
};
pub const SIGNATURE: Family = Family {
    plugin_type: "backendSignature",
    noun: "Signature",
    list: "ApiSignatures",
    item: "ApiSignatureItem",
};

impl Family {
    /// A control-plane error in this family's words: `NotFoundPlugin` → `NotFound<Noun>`,
    /// `RepeatedPluginName` → `Repeated<Noun>Name`.
    pub fn renamed(&self, e: ControlError) -> ApiError {
        let mut e = ApiError::from(e);
        e.code = e.code.replace("Plugin", self.noun);
        e
    }

    /// The plugin `id`, which must be of this family (`NotFound<Noun>` otherwise).
    pub async fn plugin(&self, c: &Control, id: &str) -> Result<Plugin, ApiError> {
        let plugin = c.plugin(id).await.map_err(|e| self.renamed(e))?;
        if plugin.plugin_type != self.plugin_type {
            return Err(ApiError::not_found(self.noun, id));
        }
        Ok(plugin)
    }

    /// The plugin named by the `<Noun>Id` parameter.
    async fn named(&self, c: &Control, p: &Params) -> Result<Plugin, ApiError> {
        self.plugin(c, p.required(&format!("{}Id", self.noun))?)
            .await
    }

    /// `Set<Policy>Apis`: binds the policy to `ApiIds` in `StageName`.
    pub async fn set_apis(&self, c: &Control, p: &Params) -> Out {
        let plugin = self.named(c, p).await?;
        let stage = p.stage("StageName")?;
        for api in p.list("ApiIds")? {
            c.attach_plugin(&plugin.plugin_id, &api, stage).await?;
        }
        Ok(Default::default())
    }

    /// `Remove<Policy>Apis`: unbinds it from `ApiIds`, or from every API of `GroupId`, in
    /// `StageName`.
    pub async fn remove_apis(&self, c: &Control, p: &Params) -> Out {
        let plugin = self.named(c, p).await?;
        let stage = p.stage("StageName")?;
        let apis = match p.opt("ApiIds") {
            Some(_) => p.list("ApiIds")?,
            None => {
                let group = p.required("GroupId")?;
                c.plugin_bindings()
                    .await?
                    .into_iter()
                    .filter(|b| {
                        b.plugin_id == plugin.plugin_id
                            && b.group_id == group
                            && b.stage_name == stage
                    })
                    .map(|b| b.api_id)
                    .collect()
            }
        };
        for api in apis {
            c.detach_plugin(&plugin.plugin_id, &api, stage)
                .await
                .map_err(|e| self.renamed(e))?;
        }
        Ok(Default::default())
    }

    /// `Describe<Policy>sByApi`: the policies of this family bound to an API in a stage, as
    /// `{list: {item: [{id_key, name_key, BoundTime}]}}`.
    pub async fn on_api(
        &self,
        c: &Control,
        p: &Params,
        (list, item): (&str, &str),
        (id_key, name_key): (&str, &str),
    ) -> Out {
        let api = p.required("ApiId")?;
        let stage = p.stage("StageName")?;
        let plugins = c.plugins().await?;
        let mut items = Vec::new();
        for b in c.plugin_bindings().await? {
            if b.api_id != api || b.stage_name != stage {
                continue;
            }
            let Some(x) = plugins
                .iter()
                .find(|x| x.plugin_id == b.plugin_id && x.plugin_type == self.plugin_type)
            else {
                continue;
            };
            let mut v = json!({"BoundTime": b.created_time});
            v[id_key] = json!(x.plugin_id);
            v[name_key] = json!(x.plugin_name);
            items.push(v);
        }
        let mut out = serde_json::Map::new();
        out.insert(list.into(), wrap(item, items));
        Ok(out)
    }
}

/// `DescribeApisBy<Policy>`: the APIs (and stages) the policy `<Noun>Id` is set on.
pub async fn apis_by(c: &Control, p: &Params, f: &Family) -> Out {
    let plugin = f.named(c, p).await?;
    let mut items = Vec::new();
    for b in c.plugin_bindings().await? {
        if b.plugin_id != plugin.plugin_id {
            continue;
        }
        let (Ok(api), Ok(group)) = (c.api(&b.api_id).await, c.group(&b.group_id).await) else {
            continue;
        };
        items.push(json!({
            "ApiId": api.api_id, "ApiName": api.api_name, "GroupId": group.group_id,
            "GroupName": group.group_name, "StageName": b.stage_name.as_str(),
            "Visibility": api.visibility, "Description": api.description, "RegionId": "local",
            "BoundTime": b.created_time,
        }));
    }
    let (page, mut out) = paged(&items, p.page()?);
    out["ApiInfos"] = wrap("ApiInfo", page);
    Ok(obj(out))
}

/// `DescribeApi<Policy>s`: the policies of this family set on the group's APIs in a stage
/// (optionally only `ApiIds`).
pub async fn api_items(c: &Control, p: &Params, f: &Family) -> Out {
    let group = p.required("GroupId")?;
    let stage = p.stage("StageName")?;
    let only = match p.opt("ApiIds") {
        Some(_) => Some(p.list("ApiIds")?),
        None => None,
    };
    c.group(group).await?;
    let plugins = c.plugins().await?;
    let apis = c.apis(group).await?;
    let mut items = Vec::new();
    for b in c.plugin_bindings().await? {
        if b.group_id != group
            || b.stage_name != stage
            || only.as_ref().is_some_and(|o| !o.contains(&b.api_id))
        {
            continue;
        }
        let Some(plugin) = plugins
            .iter()
            .find(|x| x.plugin_id == b.plugin_id && x.plugin_type == f.plugin_type)
        else {
            continue;
        };
        let api_name = apis
            .iter()
            .find(|a| a.api_id == b.api_id)
            .map_or("", |a| a.api_name.as_str());
        let mut item = json!({"ApiId": b.api_id, "ApiName": api_name, "BoundTime": b.created_time});
        item[format!("{}Id", f.noun)] = json!(plugin.plugin_id);
        item[format!("{}Name", f.noun)] = json!(plugin.plugin_name);
        items.push(item);
    }
    let (page, mut out) = paged(&items, p.page()?);
    out[f.list] = wrap(f.item, page);
    Ok(obj(out))
}
