//! Who is bound to what, for the legacy policy families (throttling, IP control, backend
//! signatures): `DescribeApisBy<Policy>` (the APIs a policy is set on) and
//! `DescribeApi<Policy>s` (the policies set on a group's APIs in a stage).

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::Control;
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

/// `DescribeApisBy<Policy>`: the APIs (and stages) the policy `<Noun>Id` is set on.
pub async fn apis_by(c: &Control, p: &Params, f: &Family) -> Out {
    let id_param = format!("{}Id", f.noun);
    let id = p.required(&id_param)?;
    let plugin = c.plugin(id).await.map_err(|e| {
        let mut e = ApiError::from(e);
        e.code = e.code.replace("Plugin", f.noun);
        e
    })?;
    if plugin.plugin_type != f.plugin_type {
        return Err(ApiError::not_found(f.noun, id));
    }
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
