//! Apps, their credentials, and authorizations.

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::{AppSpec, Control};
use apigw_model::App;
use serde_json::{json, Value};

fn app_id(p: &Params) -> Result<i64, ApiError> {
    p.required_i64("AppId")
}

pub async fn create(c: &Control, p: &Params) -> Out {
    let app = c
        .create_app(AppSpec {
            app_name: p.required("AppName")?.to_string(),
            description: p.get("Description").unwrap_or("").to_string(),
            extend: p.get("Extend").unwrap_or("").to_string(),
            app_key: p.opt("AppKey").map(str::to_string),
            app_secret: p.opt("AppSecret").map(str::to_string),
            app_code: p.opt("AppCode").map(str::to_string),
        })
        .await?;
    Ok(obj(json!({"AppId": app.app_id, "TagStatus": false})))
}

fn attributes(a: &App) -> Value {
    json!({
        "AppId": a.app_id, "AppName": a.app_name, "Description": a.description,
        "Extend": a.extend, "Disabled": a.disabled, "CreatedTime": a.created_time,
        "ModifiedTime": a.modified_time,
    })
}

pub async fn describe(c: &Control, p: &Params) -> Out {
    Ok(obj(attributes(&c.app(app_id(p)?).await?)))
}

pub async fn list(c: &Control, p: &Params) -> Out {
    let mut apps = c.apps().await?;
    if let Some(id) = p.i64("AppId")? {
        apps.retain(|a| a.app_id == id);
    }
    let (page, mut out) = paged(&apps, p.page()?);
    let items = page
        .iter()
        .map(|a| json!({"AppId": a.app_id, "AppName": a.app_name, "Description": a.description}))
        .collect();
    out["Apps"] = wrap("AppItem", items);
    Ok(obj(out))
}

/// DescribeAppAttributes: the account's apps with their attributes, filtered by `AppId`,
/// `AppName` (substring), `AppKey`, `AppCode`, `Extend` (exact) and `Tag.N.*`, sorted by
/// modification time (`Sort` `desc`, the default, or `asc`).
pub async fn attributes_list(c: &Control, p: &Params) -> Out {
    let mut apps = c.apps().await?;
    let app_id = p.i64("AppId")?;
    apps.retain(|a| {
        app_id.is_none_or(|id| a.app_id == id)
            && p.opt("AppName").is_none_or(|n| a.app_name.contains(n))
            && p.opt("AppKey")
                .is_none_or(|k| a.keys.iter().any(|pair| pair.app_key == k))
            && p.opt("AppCode")
                .is_none_or(|code| a.app_codes.iter().any(|x| x == code))
            && p.opt("Extend").is_none_or(|e| a.extend == e)
    });
    // Apps carry no tags here, so a tag filter matches none.
    if p.opt("Tag.1.Key").is_some() {
        apps.clear();
    }
    let ascending = match p.opt("Sort").map(str::trim) {
        None => false,
        Some(s) if s.eq_ignore_ascii_case("desc") => false,
        Some(s) if s.eq_ignore_ascii_case("asc") => true,
        Some(s) => {
            return Err(ApiError::invalid(
                "Sort",
                format!("`{s}` is not asc or desc"),
            ))
        }
    };
    apps.sort_by(|a, b| (&a.modified_time, a.app_id).cmp(&(&b.modified_time, b.app_id)));
    if !ascending {
        apps.reverse();
    }
    let (page, mut out) = paged(&apps, p.page()?);
    let items = page
        .iter()
        .map(|a| {
            let mut v = attributes(a);
            v["Tags"] = wrap("TagInfo", Vec::new());
            v
        })
        .collect();
    out["Apps"] = wrap("AppAttribute", items);
    Ok(obj(out))
}

pub async fn modify(c: &Control, p: &Params) -> Out {
    let id = app_id(p)?;
    let app = c.app(id).await?;
    let name = p.opt("AppName").unwrap_or(&app.app_name).to_string();
    let description = p.get("Description").unwrap_or(&app.description).to_string();
    c.modify_app(
        id,
        &name,
        &description,
        p.get("Extend"),
        p.bool("Disabled")?,
    )
    .await?;
    Ok(Default::default())
}

pub async fn delete(c: &Control, p: &Params) -> Out {
    c.delete_app(app_id(p)?).await?;
    Ok(Default::default())
}

pub async fn security(c: &Control, p: &Params) -> Out {
    let app = c.app(app_id(p)?).await?;
    let key = app.keys.first();
    Ok(obj(json!({
        "AppKey": key.map(|k| k.app_key.clone()).unwrap_or_default(),
        "AppSecret": key.map(|k| k.app_secret.clone()).unwrap_or_default(),
        "AppCode": app.app_codes.first().cloned().unwrap_or_default(),
        "CreatedTime": app.created_time, "ModifiedTime": app.modified_time,
    })))
}

pub async fn reset_secret(c: &Control, p: &Params) -> Out {
    if p.opt("NewAppKey").is_some() {
        return Err(ApiError::invalid(
            "NewAppKey",
            "changing the AppKey is not supported yet; add a key with a new app instead",
        ));
    }
    c.reset_app_secret(
        p.required("AppKey")?,
        p.opt("NewAppSecret").map(str::to_string),
    )
    .await?;
    Ok(Default::default())
}

pub async fn create_code(c: &Control, p: &Params) -> Out {
    c.create_app_code(app_id(p)?, p.opt("AppCode").map(str::to_string))
        .await?;
    Ok(Default::default())
}

fn app_ids(p: &Params) -> Result<Vec<i64>, ApiError> {
    p.list("AppIds")?
        .iter()
        .map(|s| {
            s.parse()
                .map_err(|_| ApiError::invalid("AppIds", format!("`{s}` is not an AppId")))
        })
        .collect()
}

pub async fn set_apps_authorities(c: &Control, p: &Params) -> Out {
    let (api, stage) = (p.required("ApiId")?, p.stage("StageName")?);
    for id in app_ids(p)? {
        c.authorize(
            id,
            api,
            stage,
            p.opt("AuthValidTime"),
            p.get("Description").unwrap_or(""),
        )
        .await?;
    }
    Ok(Default::default())
}

pub async fn set_apis_authorities(c: &Control, p: &Params) -> Out {
    let (id, stage) = (app_id(p)?, p.stage("StageName")?);
    for api in p.list("ApiIds")? {
        c.authorize(
            id,
            &api,
            stage,
            p.opt("AuthValidTime"),
            p.get("Description").unwrap_or(""),
        )
        .await?;
    }
    Ok(Default::default())
}

pub async fn remove_apps_authorities(c: &Control, p: &Params) -> Out {
    let (api, stage) = (p.required("ApiId")?, p.stage("StageName")?);
    for id in app_ids(p)? {
        c.revoke(id, api, stage).await?;
    }
    Ok(Default::default())
}

pub async fn remove_apis_authorities(c: &Control, p: &Params) -> Out {
    let (id, stage) = (app_id(p)?, p.stage("StageName")?);
    for api in p.list("ApiIds")? {
        c.revoke(id, &api, stage).await?;
    }
    Ok(Default::default())
}

pub async fn authorized_apis(c: &Control, p: &Params) -> Out {
    let id = app_id(p)?;
    c.app(id).await?;
    let mut rows = Vec::new();
    for g in c
        .authorizations()
        .await?
        .into_iter()
        .filter(|g| g.app_id == id)
    {
        // The API may belong to another account: read its names from the store.
        let store = c.store();
        let Ok(Some(api)) = store.get_api(&g.api_id).await else {
            continue;
        };
        let group_name = match store.get_group(&api.group_id).await {
            Ok(Some(group)) => group.group_name,
            _ => String::new(),
        };
        let api_name = api.api_name;
        rows.push(json!({
            "ApiId": g.api_id, "ApiName": api_name, "GroupId": g.group_id, "GroupName": group_name,
            "StageName": g.stage_name.as_str(), "AuthVaildTime": g.auth_valid_time,
            "AuthorizedTime": g.authorized_time, "Description": g.description,
            "AuthorizationSource": "PROVIDER", "Operator": "PROVIDER", "RegionId": "local",
        }));
    }
    let (page, mut out) = paged(&rows, p.page()?);
    out["AuthorizedApis"] = wrap("AuthorizedApi", page);
    Ok(obj(out))
}

pub async fn authorized_apps(c: &Control, p: &Params) -> Out {
    let api = c.api(p.required("ApiId")?).await?;
    let stage = p.opt_stage("StageName")?;
    // Apps of any account may hold grants on this account's API.
    let apps = c
        .store()
        .list_apps()
        .await
        .map_err(|e| ApiError::from(apigw_control::ControlError::Store(e)))?;
    let mut rows = Vec::new();
    for g in c
        .authorizations()
        .await?
        .into_iter()
        .filter(|g| g.api_id == api.api_id && stage.is_none_or(|s| s == g.stage_name))
    {
        let Some(app) = apps.iter().find(|a| a.app_id == g.app_id) else {
            continue;
        };
        if p.i64("AppId")?.is_some_and(|id| id != app.app_id)
            || p.opt("AppName").is_some_and(|n| !app.app_name.contains(n))
        {
            continue;
        }
        rows.push(json!({
            "AppId": app.app_id, "AppName": app.app_name, "AppDescription": app.description,
            "StageName": g.stage_name.as_str(), "AuthVaildTime": g.auth_valid_time,
            "AuthorizedTime": g.authorized_time, "Description": g.description,
            "AuthorizationSource": "PROVIDER", "Operator": "PROVIDER",
        }));
    }
    let (page, mut out) = paged(&rows, p.page()?);
    out["AuthorizedApps"] = wrap("AuthorizedApp", page);
    Ok(obj(out))
}
