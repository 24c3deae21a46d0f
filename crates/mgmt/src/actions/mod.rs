//! The actions, by name. Each takes the call's parameters and returns the response members
//! (without `RequestId`).

mod apis;
mod apps;
mod groups;
mod import;
mod ipcontrol;
mod legacy;
mod plugins;
mod signatures;
mod traffic;

use crate::error::ApiError;
use crate::params::Params;
use apigw_control::Control;
use serde_json::{Map, Value};

pub type Out = Result<Map<String, Value>, ApiError>;

/// Actions implemented, in the order of docs/management-api.md.
pub const ACTIONS: &[&str] = &[
    "CreateApiGroup",
    "DescribeApiGroup",
    "DescribeApiGroups",
    "ModifyApiGroup",
    "DeleteApiGroup",
    "SetDomain",
    "DeleteDomain",
    "CreateApi",
    "ModifyApi",
    "DescribeApi",
    "DescribeApis",
    "DeleteApi",
    "DeployApi",
    "AbolishApi",
    "DescribeDeployedApis",
    "DescribeHistoryApis",
    "SwitchApi",
    "CreateApp",
    "DescribeApp",
    "DescribeApps",
    "ModifyApp",
    "DeleteApp",
    "DescribeAppSecurity",
    "ResetAppSecret",
    "CreateAppCode",
    "SetAppsAuthorities",
    "SetApisAuthorities",
    "RemoveAppsAuthorities",
    "RemoveApisAuthorities",
    "DescribeAuthorizedApis",
    "DescribeAuthorizedApps",
    "CreatePlugin",
    "ModifyPlugin",
    "DeletePlugin",
    "DescribePlugins",
    "AttachPlugin",
    "DetachPlugin",
    "DescribePluginsByApi",
    "DescribePluginApis",
    "AttachGroupPlugin",
    "DetachGroupPlugin",
    "ImportSwagger",
    "CreateTrafficControl",
    "SetTrafficControlApis",
    "RemoveTrafficControlApis",
    "DeleteTrafficControl",
    "ModifyTrafficControl",
    "DescribeTrafficControls",
    "DescribeTrafficControlsByApi",
    "AddTrafficSpecialControl",
    "DeleteTrafficSpecialControl",
    "DeleteAllTrafficSpecialControl",
    "CreateIpControl",
    "ModifyIpControl",
    "DeleteIpControl",
    "DescribeIpControls",
    "AddIpControlPolicyItem",
    "RemoveIpControlPolicyItem",
    "DescribeIpControlPolicyItems",
    "SetIpControlApis",
    "RemoveIpControlApis",
    "ModifyIpControlPolicyItem",
    "DescribeApisByTrafficControl",
    "DescribeApiTrafficControls",
    "DescribeApisByIpControl",
    "DescribeApiIpControls",
    "DescribeApisBySignature",
    "DescribeApiSignatures",
    "CreateSignature",
    "ModifySignature",
    "DeleteSignature",
    "DescribeSignatures",
    "SetSignatureApis",
    "RemoveSignatureApis",
    "DescribeSignaturesByApi",
    "DescribeSystemParameters",
];

pub async fn dispatch(control: &Control, action: &str, p: &Params) -> Out {
    match action {
        "CreateApiGroup" => groups::create(control, p).await,
        "DescribeApiGroup" => groups::describe(control, p).await,
        "DescribeApiGroups" => groups::list(control, p).await,
        "ModifyApiGroup" => groups::modify(control, p).await,
        "DeleteApiGroup" => groups::delete(control, p).await,
        "SetDomain" => groups::set_domain(control, p).await,
        "DeleteDomain" => groups::delete_domain(control, p).await,
        "CreateApi" => apis::create(control, p).await,
        "ModifyApi" => apis::modify(control, p).await,
        "DescribeApi" => apis::describe(control, p).await,
        "DescribeApis" => apis::list(control, p).await,
        "DeleteApi" => apis::delete(control, p).await,
        "DeployApi" => apis::deploy(control, p).await,
        "AbolishApi" => apis::abolish(control, p).await,
        "DescribeDeployedApis" => apis::deployed(control, p).await,
        "DescribeHistoryApis" => apis::history(control, p).await,
        "SwitchApi" => apis::switch(control, p).await,
        "CreateApp" => apps::create(control, p).await,
        "DescribeApp" => apps::describe(control, p).await,
        "DescribeApps" => apps::list(control, p).await,
        "ModifyApp" => apps::modify(control, p).await,
        "DeleteApp" => apps::delete(control, p).await,
        "DescribeAppSecurity" => apps::security(control, p).await,
        "ResetAppSecret" => apps::reset_secret(control, p).await,
        "CreateAppCode" => apps::create_code(control, p).await,
        "SetAppsAuthorities" => apps::set_apps_authorities(control, p).await,
        "SetApisAuthorities" => apps::set_apis_authorities(control, p).await,
        "RemoveAppsAuthorities" => apps::remove_apps_authorities(control, p).await,
        "RemoveApisAuthorities" => apps::remove_apis_authorities(control, p).await,
        "DescribeAuthorizedApis" => apps::authorized_apis(control, p).await,
        "DescribeAuthorizedApps" => apps::authorized_apps(control, p).await,
        "CreatePlugin" => plugins::create(control, p).await,
        "ModifyPlugin" => plugins::modify(control, p).await,
        "DeletePlugin" => plugins::delete(control, p).await,
        "DescribePlugins" => plugins::list(control, p).await,
        "AttachPlugin" => plugins::attach(control, p).await,
        "DetachPlugin" => plugins::detach(control, p).await,
        "DescribePluginsByApi" => plugins::by_api(control, p).await,
        "DescribePluginApis" => plugins::apis(control, p).await,
        "AttachGroupPlugin" => plugins::attach_group(control, p).await,
        "DetachGroupPlugin" => plugins::detach_group(control, p).await,
        "ImportSwagger" => import::import(control, p).await,
        "CreateTrafficControl" => traffic::create(control, p).await,
        "SetTrafficControlApis" => traffic::set_apis(control, p).await,
        "RemoveTrafficControlApis" => traffic::remove_apis(control, p).await,
        "DeleteTrafficControl" => traffic::delete(control, p).await,
        "ModifyTrafficControl" => traffic::modify(control, p).await,
        "DescribeTrafficControls" => traffic::list(control, p).await,
        "DescribeTrafficControlsByApi" => traffic::by_api(control, p).await,
        "AddTrafficSpecialControl" => traffic::add_special(control, p).await,
        "DeleteTrafficSpecialControl" => traffic::delete_special(control, p).await,
        "DeleteAllTrafficSpecialControl" => traffic::delete_all_specials(control, p).await,
        "CreateIpControl" => ipcontrol::create(control, p).await,
        "ModifyIpControl" => ipcontrol::modify(control, p).await,
        "DeleteIpControl" => ipcontrol::delete(control, p).await,
        "DescribeIpControls" => ipcontrol::list(control, p).await,
        "AddIpControlPolicyItem" => ipcontrol::add_item(control, p).await,
        "RemoveIpControlPolicyItem" => ipcontrol::remove_items(control, p).await,
        "DescribeIpControlPolicyItems" => ipcontrol::items(control, p).await,
        "SetIpControlApis" => ipcontrol::set_apis(control, p).await,
        "RemoveIpControlApis" => ipcontrol::remove_apis(control, p).await,
        "ModifyIpControlPolicyItem" => ipcontrol::modify_item(control, p).await,
        "DescribeApisByTrafficControl" => legacy::apis_by(control, p, &legacy::TRAFFIC).await,
        "DescribeApiTrafficControls" => legacy::api_items(control, p, &legacy::TRAFFIC).await,
        "DescribeApisByIpControl" => legacy::apis_by(control, p, &legacy::IP).await,
        "DescribeApiIpControls" => legacy::api_items(control, p, &legacy::IP).await,
        "DescribeApisBySignature" => legacy::apis_by(control, p, &legacy::SIGNATURE).await,
        "DescribeApiSignatures" => legacy::api_items(control, p, &legacy::SIGNATURE).await,
        "CreateSignature" => signatures::create(control, p).await,
        "ModifySignature" => signatures::modify(control, p).await,
        "DeleteSignature" => signatures::delete(control, p).await,
        "DescribeSignatures" => signatures::list(control, p).await,
        "SetSignatureApis" => signatures::set_apis(control, p).await,
        "RemoveSignatureApis" => signatures::remove_apis(control, p).await,
        "DescribeSignaturesByApi" => signatures::by_api(control, p).await,
        "DescribeSystemParameters" => signatures::system_parameters(control, p).await,
        other => Err(ApiError::new(
            404,
            "InvalidAction.NotFound",
            format!("Specified api `{other}` is not found in this version; see docs/management-api.md for the actions implemented."),
        )),
    }
}

/// Builds the response members from `json!` object literals.
pub fn obj(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// `{"<Singular>": [items]}`, the list wrapper the SDK models expect.
pub fn wrap(singular: &str, items: Vec<Value>) -> Value {
    let mut m = Map::new();
    m.insert(singular.into(), Value::Array(items));
    Value::Object(m)
}
