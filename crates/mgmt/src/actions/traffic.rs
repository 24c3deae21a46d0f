//! Throttling policies, the legacy way (`CreateTrafficControl` ...): each is a `trafficControl`
//! plugin whose id is the `TrafficControlId`.

use super::{obj, Out};
use crate::error::ApiError;
use crate::params::Params;
use apigw_control::Control;
use serde_json::json;

/// `NotFoundPlugin` → `NotFoundTrafficControl`, and so on, in this action family's words.
fn renamed(e: apigw_control::ControlError) -> ApiError {
    let mut e = ApiError::from(e);
    e.code = e.code.replace("Plugin", "TrafficControl");
    e
}

pub async fn create(c: &Control, p: &Params) -> Out {
    let name = p.required("TrafficControlName")?;
    let unit = p.required("TrafficControlUnit")?.to_ascii_uppercase();
    let api = p.required_i64("ApiDefault")?;
    let (user, app) = (p.i64("UserDefault")?, p.i64("AppDefault")?);
    apigw_control::traffic::check_limits(&unit, api, user, app, &[])?;
    let mut doc = json!({"unit": unit, "apiDefault": api});
    if let Some(u) = user {
        doc["userDefault"] = json!(u);
    }
    if let Some(a) = app {
        doc["appDefault"] = json!(a);
    }
    let plugin = c
        .create_plugin(
            name,
            "trafficControl",
            &doc.to_string(),
            p.get("Description").unwrap_or(""),
        )
        .await
        .map_err(renamed)?;
    Ok(obj(json!({"TrafficControlId": plugin.plugin_id})))
}

pub async fn set_apis(c: &Control, p: &Params) -> Out {
    let (id, stage) = (p.required("TrafficControlId")?, p.stage("StageName")?);
    let plugin = c.plugin(id).await.map_err(renamed)?;
    if plugin.plugin_type != "trafficControl" {
        return Err(ApiError::not_found("TrafficControl", id));
    }
    for api in p.list("ApiIds")? {
        c.attach_plugin(id, &api, stage).await?;
    }
    Ok(Default::default())
}

pub async fn remove_apis(c: &Control, p: &Params) -> Out {
    let (id, stage) = (p.required("TrafficControlId")?, p.stage("StageName")?);
    c.plugin(id).await.map_err(renamed)?;
    let apis = match p.opt("ApiIds") {
        Some(_) => p.list("ApiIds")?,
        None => {
            let group = p.required("GroupId")?;
            c.plugin_bindings()
                .await?
                .into_iter()
                .filter(|b| b.plugin_id == id && b.group_id == group && b.stage_name == stage)
                .map(|b| b.api_id)
                .collect()
        }
    };
    for api in apis {
        c.detach_plugin(id, &api, stage).await.map_err(renamed)?;
    }
    Ok(Default::default())
}

pub async fn delete(c: &Control, p: &Params) -> Out {
    c.delete_plugin(p.required("TrafficControlId")?)
        .await
        .map_err(renamed)?;
    Ok(Default::default())
}
