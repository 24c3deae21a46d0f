//! BatchDeployApis / BatchAbolishApis and their task descriptions. The task runs before the
//! call returns (see `apigw_control::Control::batch_deploy`); its id is the `OperationId`.

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::Params;
use apigw_control::{BatchItem, BatchResult, Control, TaskKind, MAX_BATCH};
use apigw_model::Stage;
use serde_json::{json, Value};

/// `ErrorMsg` of an API that went through (the cloud's wording).
const SUCCESS: &str = "Success. Request Success.";

/// `Api.N.ApiUid` / `.GroupId` (and for abolish `.StageName` or `.StageId`), N = 1, 2, ...
fn items(p: &Params, stage: Option<Stage>) -> Result<Vec<BatchItem>, ApiError> {
    let mut out = Vec::new();
    for n in 1.. {
        let key = |field: &str| format!("Api.{n}.{field}");
        let present = ["ApiUid", "GroupId", "StageName", "StageId"]
            .iter()
            .any(|f| p.get(&key(f)).is_some());
        if !present {
            break;
        }
        if n > MAX_BATCH {
            return Err(ApiError::invalid(
                "Api",
                format!("at most {MAX_BATCH} APIs per batch"),
            ));
        }
        let api_id = p.opt(&key("ApiUid")).ok_or_else(|| {
            ApiError::new(
                400,
                "MissingApiUid",
                format!("`{}` must be provided", key("ApiUid")),
            )
        })?;
        let stage = match stage {
            Some(s) => s,
            None => item_stage(p, &key("StageName"), &key("StageId"))?,
        };
        out.push(BatchItem {
            api_id: api_id.trim().to_string(),
            group_id: p.opt(&key("GroupId")).map(|g| g.trim().to_string()),
            stage,
        });
    }
    if out.is_empty() {
        return Err(ApiError::new(
            400,
            "MissingApi",
            "`Api` must list at least one API (`Api.1.ApiUid`, ...)",
        ));
    }
    Ok(out)
}

/// A batch item's stage: its name, or its id as DescribeApiGroup lists it (`release`, ...).
fn item_stage(p: &Params, name_key: &str, id_key: &str) -> Result<Stage, ApiError> {
    let Some(v) = p.opt(name_key).or_else(|| p.opt(id_key)) else {
        return Err(ApiError::new(
            400,
            "MissingStageName",
            format!("`{name_key}` (or `{id_key}`) must be provided"),
        ));
    };
    Stage::parse(v.trim().to_ascii_uppercase().as_bytes())
        .ok_or_else(|| ApiError::invalid("StageName", format!("`{v}` is not RELEASE, PRE or TEST")))
}

pub async fn deploy(c: &Control, p: &Params) -> Out {
    let stage = p.stage("StageName")?;
    let items = items(p, Some(stage))?;
    let task = c
        .batch_deploy(&items, p.get("Description").unwrap_or(""))
        .await?;
    Ok(obj(json!({"OperationId": task.operation_id})))
}

pub async fn abolish(c: &Control, p: &Params) -> Out {
    let items = items(p, None)?;
    let task = c.batch_abolish(&items).await?;
    Ok(obj(json!({"OperationId": task.operation_id})))
}

fn status(r: &BatchResult) -> (&'static str, String) {
    match &r.error {
        None => ("OVER", SUCCESS.to_string()),
        Some(e) => ("FAILED", format!("{}: {}", e.code, e.message)),
    }
}

pub async fn deploy_task(c: &Control, p: &Params) -> Out {
    let task = c.task(TaskKind::Deploy, p.required("OperationUid")?)?;
    let rows: Vec<Value> = task
        .results
        .iter()
        .map(|r| {
            let (status, msg) = status(r);
            json!({
                "ApiUid": r.api_id, "GroupId": r.group_id, "StageName": r.stage.as_str(),
                "DeployedStatus": status, "ErrorMsg": msg,
            })
        })
        .collect();
    Ok(obj(
        json!({"DeployedResults": wrap("DeployedResult", rows)}),
    ))
}

pub async fn abolish_task(c: &Control, p: &Params) -> Out {
    let task = c.task(TaskKind::Abolish, p.required("OperationUid")?)?;
    let rows: Vec<Value> = task
        .results
        .iter()
        .map(|r| {
            let (status, msg) = status(r);
            json!({
                "ApiUid": r.api_id, "ApiName": r.api_name, "GroupId": r.group_id,
                "GroupName": r.group_name, "StageName": r.stage.as_str(),
                "StageId": r.stage.as_str().to_ascii_lowercase(),
                "AbolishStatus": status, "ErrorMsg": msg,
            })
        })
        .collect();
    Ok(obj(
        json!({"ApiAbolishResults": wrap("ApiAbolishResult", rows)}),
    ))
}
