//! APIs: drafts, deployments, history.

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::Control;
use apigw_model::{ApiDefinition, Deployment, RequestConfig, ServiceConfig};
use serde_json::{json, Map, Value};

/// Members sent as JSON text (`RequestConfig={"...":...}`), stored as JSON.
const JSON_MEMBERS: [&str; 10] = [
    "RequestConfig",
    "ServiceConfig",
    "RequestParameters",
    "ServiceParameters",
    "ServiceParametersMap",
    "ConstantParameters",
    "SystemParameters",
    "ErrorCodeSamples",
    "ResultDescriptions",
    "OpenIdConnectConfig",
];

/// Plain members of CreateApi/ModifyApi kept with the definition.
const TEXT_MEMBERS: [&str; 16] = [
    "ApiName",
    "Description",
    "Visibility",
    "AuthType",
    "AllowSignatureMethod",
    "AppCodeAuthType",
    "ForceNonceCheck",
    "DisableInternet",
    "ResultType",
    "ResultSample",
    "FailResultSample",
    "ResultBodyModel",
    "WebSocketApiType",
    "BackendEnable",
    "BackendId",
    "GroupId",
];

/// The definition a CreateApi/ModifyApi call describes.
fn definition(p: &Params) -> Result<ApiDefinition, ApiError> {
    let mut doc = Map::new();
    for name in TEXT_MEMBERS {
        if let Some(v) = p.get(name) {
            doc.insert(name.into(), Value::String(v.to_string()));
        }
    }
    for name in JSON_MEMBERS {
        if let Some(text) = p.opt(name) {
            let v: Value =
                serde_json::from_str(text).map_err(|e| ApiError::invalid_format(name, e))?;
            doc.insert(name.into(), v);
        }
    }
    let rc = doc
        .get("RequestConfig")
        .cloned()
        .ok_or_else(|| ApiError::missing("RequestConfig"))?;
    serde_json::from_value::<RequestConfig>(rc)
        .map_err(|e| ApiError::invalid("RequestConfig", e))?;
    let sc = doc
        .get("ServiceConfig")
        .cloned()
        .ok_or_else(|| ApiError::missing("ServiceConfig"))?;
    serde_json::from_value::<ServiceConfig>(sc)
        .map_err(|e| ApiError::invalid("ServiceConfig", e))?;
    serde_json::from_value(Value::Object(doc)).map_err(|e| ApiError::invalid("Parameters", e))
}

pub async fn create(c: &Control, p: &Params) -> Out {
    p.required("GroupId")?;
    p.required("ApiName")?;
    let api = c.create_api(definition(p)?).await?;
    Ok(obj(json!({"ApiId": api.api_id})))
}

pub async fn modify(c: &Control, p: &Params) -> Out {
    let api_id = p.required("ApiId")?;
    p.required("ApiName")?;
    let mut def = definition(p)?;
    def.api_id = api_id.to_string();
    c.modify_api(def).await?;
    Ok(Default::default())
}

/// An API as DescribeApi/DescribeDeployedApi answer it: list members wrapped, `Mock`
/// `OPEN`/`CLOSED` at the top.
fn describe_doc(api: &ApiDefinition, group_name: &str) -> Map<String, Value> {
    let mut m = match serde_json::to_value(api) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    };
    for (plural, singular) in [
        ("RequestParameters", "RequestParameter"),
        ("ServiceParameters", "ServiceParameter"),
        ("ServiceParametersMap", "ServiceParameterMap"),
        ("ConstantParameters", "ConstantParameter"),
        ("SystemParameters", "SystemParameter"),
        ("ErrorCodeSamples", "ErrorCodeSample"),
        ("ResultDescriptions", "ResultDescription"),
    ] {
        let items = match m.remove(plural) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        m.insert(plural.into(), wrap(singular, items));
    }
    if let Some(Value::Object(sc)) = m.get_mut("ServiceConfig") {
        let headers = match sc.remove("MockHeaders") {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        sc.insert("MockHeaders".into(), wrap("MockHeader", headers));
    }
    let mock = api.service_config.mock;
    m.insert("Mock".into(), json!(if mock { "OPEN" } else { "CLOSED" }));
    if let Some(r) = &api.service_config.mock_result {
        m.insert("MockResult".into(), json!(r));
    }
    m.insert("GroupName".into(), json!(group_name));
    m.insert("RegionId".into(), json!("local"));
    for b in ["ForceNonceCheck", "DisableInternet"] {
        if let Some(v) = m.get(b).cloned() {
            m.insert(
                b.into(),
                json!(v == json!(true) || v == json!("true") || v == json!("TRUE")),
            );
        }
    }
    m
}

async fn group_name(c: &Control, group_id: &str) -> String {
    c.group(group_id)
        .await
        .map(|g| g.group_name)
        .unwrap_or_default()
}

pub async fn describe(c: &Control, p: &Params) -> Out {
    let api = c.api(p.required("ApiId")?).await?;
    let history = c.history(&api.api_id, None).await?;
    let mut m = describe_doc(&api, &group_name(c, &api.group_id).await);
    let infos = apigw_model::Stage::ALL
        .iter()
        .map(|s| {
            let online = history.iter().find(|d| d.online && d.stage_name == *s);
            json!({
                "StageName": s.as_str(),
                "DeployedStatus": if online.is_some() { "DEPLOYED" } else { "NONDEPLOYED" },
                "EffectiveVersion": online.map(|d| d.history_version.clone()).unwrap_or_default(),
            })
        })
        .collect();
    m.insert("DeployedInfos".into(), wrap("DeployedInfo", infos));
    Ok(m)
}

pub async fn list(c: &Control, p: &Params) -> Out {
    let groups = match p.opt("GroupId") {
        Some(id) => vec![c.group(id).await?],
        None => c.groups().await?,
    };
    let stage = p.opt_stage("StageName")?;
    let undeployed = p.bool("UnDeployed")?.unwrap_or(false);
    let mut rows = Vec::new();
    for g in &groups {
        for api in c.apis(&g.group_id).await? {
            if p.opt("ApiId").is_some_and(|id| id != api.api_id)
                || p.opt("ApiName").is_some_and(|n| !api.api_name.contains(n))
                || p.opt("ApiPath")
                    .is_some_and(|x| x != api.request_config.request_path)
                || p.opt("ApiMethod")
                    .is_some_and(|x| !x.eq_ignore_ascii_case(&api.method()))
                || p.opt("Visibility").is_some_and(|x| x != api.visibility)
            {
                continue;
            }
            let history = c.history(&api.api_id, None).await?;
            let live: Vec<&Deployment> = history.iter().filter(|d| d.online).collect();
            if undeployed && live.iter().any(|d| stage.is_none_or(|s| d.stage_name == s)) {
                continue;
            }
            let infos = live
                .iter()
                .map(|d| json!({"StageName": d.stage_name.as_str(), "DeployedStatus": "DEPLOYED", "EffectiveVersion": d.history_version}))
                .collect();
            rows.push(json!({
                "ApiId": api.api_id, "ApiName": api.api_name, "GroupId": g.group_id,
                "GroupName": g.group_name, "Description": api.description,
                "ApiMethod": api.method(), "ApiPath": api.request_config.request_path,
                "Visibility": api.visibility, "CreatedTime": api.created_time,
                "ModifiedTime": api.modified_time, "RegionId": "local",
                "DeployedInfos": wrap("DeployedInfo", infos),
            }));
        }
    }
    let (page, mut out) = paged(&rows, p.page()?);
    out["ApiSummarys"] = wrap("ApiSummary", page);
    Ok(obj(out))
}

pub async fn delete(c: &Control, p: &Params) -> Out {
    c.delete_api(p.required("ApiId")?).await?;
    Ok(Default::default())
}

pub async fn deploy(c: &Control, p: &Params) -> Out {
    let stage = p.stage("StageName")?;
    c.deploy(
        p.required("ApiId")?,
        stage,
        p.get("Description").unwrap_or(""),
    )
    .await?;
    Ok(Default::default())
}

pub async fn abolish(c: &Control, p: &Params) -> Out {
    let stage = p.stage("StageName")?;
    c.abolish(p.required("ApiId")?, stage).await?;
    Ok(Default::default())
}

pub async fn deployed(c: &Control, p: &Params) -> Out {
    let stage = p.opt_stage("StageName")?;
    let live = c.store().load_live().await.map_err(store)?;
    let mine: Vec<String> = c.groups().await?.into_iter().map(|g| g.group_id).collect();
    let mut rows = Vec::new();
    for d in live
        .deployments
        .iter()
        .filter(|d| mine.contains(&d.group_id))
    {
        let api = &d.definition;
        if stage.is_some_and(|s| s != d.stage_name)
            || p.opt("GroupId").is_some_and(|g| g != d.group_id)
            || p.opt("ApiId").is_some_and(|id| id != d.api_id)
            || p.opt("ApiName").is_some_and(|n| !api.api_name.contains(n))
        {
            continue;
        }
        let gname = live
            .groups
            .iter()
            .find(|g| g.group_id == d.group_id)
            .map(|g| g.group_name.clone())
            .unwrap_or_default();
        rows.push(json!({
            "ApiId": d.api_id, "ApiName": api.api_name, "GroupId": d.group_id, "GroupName": gname,
            "StageName": d.stage_name.as_str(), "ApiMethod": api.method(),
            "ApiPath": api.request_config.request_path, "DeployedTime": d.deployed_time,
            "Description": api.description, "Visibility": api.visibility, "RegionId": "local",
        }));
    }
    let (page, mut out) = paged(&rows, p.page()?);
    out["DeployedApis"] = wrap("DeployedApiItem", page);
    Ok(obj(out))
}

pub async fn history(c: &Control, p: &Params) -> Out {
    let group = c.group(p.required("GroupId")?).await?;
    let stage = p.opt_stage("StageName")?;
    let mut rows = Vec::new();
    for api in c.apis(&group.group_id).await? {
        if p.opt("ApiId").is_some_and(|id| id != api.api_id)
            || p.opt("ApiName").is_some_and(|n| !api.api_name.contains(n))
        {
            continue;
        }
        for d in c.history(&api.api_id, stage).await? {
            rows.push(json!({
                "ApiId": d.api_id, "ApiName": d.definition.api_name, "GroupId": d.group_id,
                "GroupName": group.group_name, "StageName": d.stage_name.as_str(),
                "HistoryVersion": d.history_version, "Status": if d.online { "ONLINE" } else { "OFFLINE" },
                "DeployedTime": d.deployed_time, "Description": d.description, "RegionId": "local",
            }));
        }
    }
    let (page, mut out) = paged(&rows, p.page()?);
    out["ApiHisItems"] = wrap("ApiHisItem", page);
    Ok(obj(out))
}

pub async fn switch(c: &Control, p: &Params) -> Out {
    let stage = p.stage("StageName")?;
    c.switch_version(p.required("ApiId")?, stage, p.required("HistoryVersion")?)
        .await?;
    Ok(Default::default())
}

fn store(e: apigw_store::StoreError) -> ApiError {
    apigw_control::ControlError::Store(e).into()
}

/// The API of `ApiId`, checked against `GroupId` when one is given (`NotFoundApi`).
async fn api_in_group(c: &Control, p: &Params) -> Result<ApiDefinition, ApiError> {
    let api = c.api(p.required("ApiId")?).await?;
    if p.opt("GroupId").is_some_and(|g| g != api.group_id) {
        return Err(ApiError::new(
            400,
            "NotFoundApi",
            format!(
                "API `{}` is not in group `{}`",
                api.api_id,
                p.opt("GroupId").unwrap_or_default()
            ),
        ));
    }
    Ok(api)
}

/// DescribeDeployedApi: the definition live in `StageName` (`NotFoundStage` when the API is
/// not deployed there).
pub async fn deployed_one(c: &Control, p: &Params) -> Out {
    let stage = p.stage("StageName")?;
    let api = api_in_group(c, p).await?;
    let d = c.deployed(&api.api_id, stage).await?;
    let mut m = describe_doc(&d.definition, &group_name(c, &d.group_id).await);
    m.insert("StageName".into(), json!(d.stage_name.as_str()));
    m.insert("DeployedTime".into(), json!(d.deployed_time));
    Ok(m)
}

/// DescribeApiHistory: one history version of an API in a stage, with its definition.
pub async fn history_one(c: &Control, p: &Params) -> Out {
    let stage = p.stage("StageName")?;
    let version = p.required("HistoryVersion")?;
    let api = api_in_group(c, p).await?;
    let d = c.history_version(&api.api_id, stage, version).await?;
    let mut m = describe_doc(&d.definition, &group_name(c, &d.group_id).await);
    m.insert("StageName".into(), json!(d.stage_name.as_str()));
    m.insert("HistoryVersion".into(), json!(d.history_version));
    m.insert(
        "Status".into(),
        json!(if d.online { "ONLINE" } else { "OFFLINE" }),
    );
    m.insert("DeployedTime".into(), json!(d.deployed_time));
    Ok(m)
}
