//! VPC accesses, backend services and their per-stage models, stage variables.

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::{Control, VpcAccessSpec};
use apigw_model::{BackendModel, BackendService, Stage, StageVariable, VpcAccess};
use serde_json::{json, Value};

fn port(p: &Params) -> Result<u16, ApiError> {
    let n = p.required_i64("Port")?;
    u16::try_from(n)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::invalid("Port", "1 to 65535"))
}

fn vpc_spec(p: &Params) -> Result<VpcAccessSpec, ApiError> {
    Ok(VpcAccessSpec {
        name: p.required("Name")?.to_string(),
        vpc_id: p.required("VpcId")?.to_string(),
        instance_id: p.required("InstanceId")?.to_string(),
        port: port(p)?,
        vpc_target_host_name: p.opt("VpcTargetHostName").map(str::to_string),
        description: p.get("Description").unwrap_or("").to_string(),
    })
}

fn vpc_json(a: &VpcAccess) -> Value {
    json!({
        "VpcAccessId": a.vpc_access_id, "Name": a.name, "VpcId": a.vpc_id,
        "InstanceId": a.instance_id, "Port": a.port, "RegionId": "local",
        "Description": a.description, "CreatedTime": a.created_time,
        "VpcTargetHostName": a.vpc_target_host_name.clone().unwrap_or_default(),
    })
}

pub async fn set_vpc_access(c: &Control, p: &Params) -> Out {
    let a = c.set_vpc_access(vpc_spec(p)?).await?;
    Ok(obj(json!({"VpcAccessId": a.vpc_access_id})))
}

/// Filters: `Name` (exact with `AccurateQuery=true`, else a substring), `VpcAccessId`,
/// `VpcId`, `InstanceId`, `Port`.
pub async fn describe_vpc_accesses(c: &Control, p: &Params) -> Out {
    let exact = p.bool("AccurateQuery")?.unwrap_or(false);
    let port = p.i64("Port")?;
    let items: Vec<Value> = c
        .vpc_accesses()
        .await?
        .iter()
        .filter(|a| {
            p.opt("Name").is_none_or(|n| {
                if exact {
                    a.name == n
                } else {
                    a.name.contains(n)
                }
            }) && p.opt("VpcAccessId").is_none_or(|v| a.vpc_access_id == v)
                && p.opt("VpcId").is_none_or(|v| a.vpc_id == v)
                && p.opt("InstanceId").is_none_or(|v| a.instance_id == v)
                && port.is_none_or(|v| i64::from(a.port) == v)
        })
        .map(vpc_json)
        .collect();
    let (page, mut out) = paged(&items, p.page()?);
    out["VpcAccessAttributes"] = wrap("VpcAccessAttribute", page);
    Ok(obj(out))
}

pub async fn remove_vpc_access(c: &Control, p: &Params) -> Out {
    c.remove_vpc_access(p.required("VpcId")?, p.required("InstanceId")?, port(p)?)
        .await?;
    Ok(Default::default())
}

/// Re-points the access `Name`; the APIs that use it follow without a redeploy, so the
/// "update" is done when the call returns (`OperationId` names nothing to wait for).
pub async fn modify_vpc_access(c: &Control, p: &Params) -> Out {
    let a = c.modify_vpc_access(vpc_spec(p)?).await?;
    Ok(obj(json!({"OperationId": a.vpc_access_id})))
}

pub async fn create_backend(c: &Control, p: &Params) -> Out {
    let b = c
        .create_backend(
            p.required("BackendName")?,
            p.required("BackendType")?,
            p.get("Description").unwrap_or(""),
        )
        .await?;
    Ok(obj(json!({"BackendId": b.backend_id})))
}

fn model_json(m: &BackendModel) -> Value {
    let config = serde_json::to_value(&m.backend_config).unwrap_or_default();
    json!({
        "BackendModelId": m.backend_model_id, "StageName": m.stage_name,
        "StageModeId": m.stage_name.as_str().to_ascii_lowercase(),
        "Description": m.description, "GmtCreate": m.gmt_create, "GmtModified": m.gmt_modified,
        "BackendConfig": config,
    })
}

fn backend_json(b: &BackendService, models: bool) -> Value {
    let mut v = json!({
        "BackendId": b.backend_id, "BackendName": b.backend_name,
        "BackendType": b.backend_type, "Description": b.description,
        "CreatedTime": b.created_time, "ModifiedTime": b.modified_time,
    });
    if models {
        v["BackendModels"] = Value::Array(b.models.iter().map(model_json).collect());
    }
    v
}

pub async fn describe_backend_info(c: &Control, p: &Params) -> Out {
    let b = c.backend(p.required("BackendId")?).await?;
    Ok(obj(json!({"BackendInfo": backend_json(&b, true)})))
}

pub async fn describe_backend_list(c: &Control, p: &Params) -> Out {
    let items: Vec<Value> = c
        .backends()
        .await?
        .iter()
        .filter(|b| {
            p.opt("BackendName")
                .is_none_or(|n| b.backend_name.contains(n))
                && p.opt("BackendType")
                    .is_none_or(|t| b.backend_type.eq_ignore_ascii_case(t))
        })
        .map(|b| backend_json(b, false))
        .collect();
    let (page, mut out) = paged(&items, p.page()?);
    out["BackendInfoList"] = Value::Array(page);
    Ok(obj(out))
}

pub async fn delete_backend(c: &Control, p: &Params) -> Out {
    c.delete_backend(p.required("BackendId")?).await?;
    Ok(Default::default())
}

pub async fn create_backend_model(c: &Control, p: &Params) -> Out {
    let m = c
        .create_backend_model(
            p.required("BackendId")?,
            p.stage("StageName")?,
            p.required("BackendType")?,
            p.required("BackendModelData")?,
            p.get("Description").unwrap_or(""),
        )
        .await?;
    Ok(obj(json!({"BackendModelId": m.backend_model_id})))
}

pub async fn delete_backend_model(c: &Control, p: &Params) -> Out {
    let id = p.required("BackendModelId")?;
    c.delete_backend_model(p.required("BackendId")?, id, p.opt_stage("StageName")?)
        .await?;
    Ok(obj(json!({"OperationId": id})))
}

/// The stage of a stage-variable call: `StageId` (the SDK's parameter; a stage's id is its
/// name in lower case here) or `StageName`.
fn stage(p: &Params) -> Result<Stage, ApiError> {
    match (p.opt("StageId"), p.opt("StageName")) {
        (Some(_), _) => p.stage("StageId"),
        (None, Some(_)) => p.stage("StageName"),
        (None, None) => Err(ApiError::missing("StageId")),
    }
}

pub async fn create_stage_variable(c: &Control, p: &Params) -> Out {
    let route_model = match p.opt("StageRouteModel") {
        Some(text) => Some(
            serde_json::from_str(text)
                .map_err(|e| ApiError::invalid_format("StageRouteModel", e))?,
        ),
        None => None,
    };
    c.set_stage_variable(StageVariable {
        group_id: p.required("GroupId")?.to_string(),
        stage_name: stage(p)?,
        variable_name: p.required("VariableName")?.to_string(),
        variable_value: p.required("VariableValue")?.to_string(),
        support_route: p.bool("SupportRoute")?.unwrap_or(false),
        stage_route_model: route_model,
    })
    .await?;
    Ok(Default::default())
}

pub async fn delete_stage_variable(c: &Control, p: &Params) -> Out {
    c.delete_stage_variable(
        p.required("GroupId")?,
        stage(p)?,
        p.required("VariableName")?,
    )
    .await?;
    Ok(Default::default())
}

/// `DescribeApiStage` (legacy SDK): one stage of a group with its variables.
pub async fn describe_api_stage(c: &Control, p: &Params) -> Out {
    let group_id = p.required("GroupId")?;
    let stage = stage(p)?;
    let group = c.group(group_id).await?;
    let items: Vec<Value> = c
        .stage_variables(group_id, Some(stage))
        .await?
        .iter()
        .map(|v| {
            json!({
                "VariableName": v.variable_name, "VariableValue": v.variable_value,
                "SupportRoute": v.support_route,
                "StageRouteModel": v.stage_route_model.clone().unwrap_or(Value::Null),
            })
        })
        .collect();
    Ok(obj(json!({
        "GroupId": group_id, "StageId": stage.as_str().to_ascii_lowercase(),
        "StageName": stage, "Description": "", "CreatedTime": group.created_time,
        "ModifiedTime": group.modified_time, "Variables": wrap("VariableItem", items),
    })))
}
