//! API groups and their domains.

use super::{obj, wrap, Out};
use crate::error::ApiError;
use crate::params::{paged, Params};
use apigw_control::Control;
use apigw_model::{Domain, DomainCertificate, Group};
use serde_json::{json, Value};

/// The base domain of default sub-domains (the data plane uses the same default).
fn sub_domain(g: &Group) -> String {
    let base = std::env::var("APIGW_BASE_DOMAIN").unwrap_or_else(|_| "apigw.localhost".into());
    g.sub_domain(&base)
}

fn summary(g: &Group) -> Value {
    json!({
        "GroupId": g.group_id, "GroupName": g.group_name, "Description": g.description,
        "BasePath": g.base_path, "SubDomain": sub_domain(g), "CreatedTime": g.created_time,
        "ModifiedTime": g.modified_time, "RegionId": "local", "InstanceId": "apigw",
        "InstanceType": "VPC_DEDICATED", "TrafficLimit": g.traffic_limit.unwrap_or(0),
        "HttpsPolicy": "HTTPS2_TLS1_0", "IllegalStatus": "NORMAL", "BillingStatus": "NORMAL",
    })
}

pub async fn create(c: &Control, p: &Params) -> Out {
    let g = c
        .create_group(
            p.required("GroupName")?,
            p.get("Description").unwrap_or(""),
            p.opt("BasePath"),
        )
        .await?;
    Ok(obj(json!({
        "GroupId": g.group_id, "GroupName": g.group_name, "Description": g.description,
        "BasePath": g.base_path, "SubDomain": sub_domain(&g), "InstanceId": "apigw",
        "InstanceType": "VPC_DEDICATED", "TagStatus": false,
    })))
}

pub async fn describe(c: &Control, p: &Params) -> Out {
    let g = c.group(p.required("GroupId")?).await?;
    let domains: Vec<Value> = c
        .domains(&g.group_id)
        .await?
        .into_iter()
        .map(|d| {
            json!({
                "DomainName": d.domain_name,
                "BindStageName": d.bind_stage_name.map(|s| s.to_string()),
                "CertificateName": d.certificate.as_ref().map(|c| c.certificate_name.clone()),
                "DomainBindingStatus": "BINDING", "DomainCNAMEStatus": "RESOLVED",
                "DomainLegalStatus": "NORMAL", "CustomDomainType": if d.domain_name.starts_with("*.") { "WILDCARD" } else { "NORMAL" },
                "DomainWebSocketStatus": d.web_socket.describe(),
            })
        })
        .collect();
    let mut out = obj(summary(&g));
    out.insert("CustomDomains".into(), wrap("DomainItem", domains));
    out.insert(
        "StageItems".into(),
        wrap(
            "StageInfo",
            ["RELEASE", "PRE", "TEST"]
                .iter()
                .map(|s| json!({"StageName": s, "StageId": s.to_ascii_lowercase()}))
                .collect(),
        ),
    );
    out.insert("Status".into(), json!("NORMAL"));
    Ok(out)
}

pub async fn list(c: &Control, p: &Params) -> Out {
    let mut groups = c.groups().await?;
    if let Some(id) = p.opt("GroupId") {
        groups.retain(|g| g.group_id == id);
    }
    if let Some(name) = p.opt("GroupName") {
        groups.retain(|g| g.group_name.contains(name));
    }
    if let Some(bp) = p.opt("BasePath") {
        groups.retain(|g| g.base_path == bp);
    }
    groups.sort_by(|a, b| b.modified_time.cmp(&a.modified_time));
    if p.opt("Sort").is_some_and(|s| s.eq_ignore_ascii_case("asc")) {
        groups.reverse();
    }
    let (page, mut out) = paged(&groups, p.page()?);
    let items = page.iter().map(summary).collect();
    out["ApiGroupAttributes"] = wrap("ApiGroupAttribute", items);
    Ok(obj(out))
}

pub async fn modify(c: &Control, p: &Params) -> Out {
    let mut g = c.group(p.required("GroupId")?).await?;
    if let Some(n) = p.opt("GroupName") {
        g.group_name = n.to_string();
    }
    if let Some(d) = p.get("Description") {
        g.description = d.to_string();
    }
    if let Some(bp) = p.opt("BasePath") {
        g.base_path = bp.to_string();
    }
    if let Some(t) = p.opt("TrafficLimit") {
        let limit: u32 = t.trim().parse().map_err(|_| {
            ApiError::invalid(
                "TrafficLimit",
                "a whole number of requests per second, 0 = none",
            )
        })?;
        g.traffic_limit = (limit > 0).then_some(limit);
    }
    let g = c.modify_group(&g).await?;
    Ok(obj(json!({
        "GroupId": g.group_id, "GroupName": g.group_name, "Description": g.description,
        "BasePath": g.base_path, "SubDomain": sub_domain(&g),
    })))
}

pub async fn delete(c: &Control, p: &Params) -> Out {
    c.delete_group(p.required("GroupId")?).await?;
    Ok(Default::default())
}

pub async fn set_domain(c: &Control, p: &Params) -> Out {
    let group_id = p.required("GroupId")?;
    let name = p.required("DomainName")?.trim().to_ascii_lowercase();
    let existing = c
        .domains(group_id)
        .await?
        .into_iter()
        .find(|d| d.domain_name == name);
    let (certificate, web_socket) = match existing {
        Some(d) => (d.certificate, d.web_socket),
        None => (None, Default::default()),
    };
    let domain = Domain {
        domain_name: name,
        group_id: group_id.to_string(),
        bind_stage_name: p.opt_stage("BindStageName")?,
        certificate,
        web_socket,
    };
    let d = c.set_domain(domain).await?;
    Ok(obj(json!({
        "GroupId": d.group_id, "DomainName": d.domain_name, "SubDomain": "",
        "DomainBindingStatus": "BINDING", "DomainLegalStatus": "NORMAL",
        "DomainWebSocketStatus": d.web_socket.describe(), "DomainRemark": "",
    })))
}

pub async fn delete_domain(c: &Control, p: &Params) -> Out {
    c.delete_domain(p.required("GroupId")?, p.required("DomainName")?)
        .await?;
    Ok(Default::default())
}

/// `DomainName` as stored: trimmed, lower case.
fn domain_name(p: &Params) -> Result<String, ApiError> {
    Ok(p.required("DomainName")?.trim().to_ascii_lowercase())
}

/// DescribeDomain: one bound domain, with its certificate's name, id, PEM chain and validity
/// (the private key is never returned).
pub async fn describe_domain(c: &Control, p: &Params) -> Out {
    let g = c.group(p.required("GroupId")?).await?;
    let d = c.domain(&g.group_id, &domain_name(p)?).await?;
    let mut out = obj(json!({
        "GroupId": g.group_id, "DomainName": d.domain_name, "SubDomain": sub_domain(&g),
        "DomainBindingStatus": "BINDING", "DomainCNAMEStatus": "RESOLVED",
        "DomainLegalStatus": "NORMAL", "DomainWebSocketStatus": d.web_socket.describe(),
        "DomainRemark": "",
    }));
    if let Some(cert) = &d.certificate {
        out.insert("CertificateName".into(), json!(cert.certificate_name));
        out.insert("CertificateBody".into(), json!(cert.certificate_body));
        // A certificate stored before certificates were checked may not parse.
        if let Ok(info) = apigw_control::certificate_info(&cert.certificate_body) {
            out.insert("CertificateId".into(), json!(info.certificate_id));
            out.insert("CertificateValidStart".into(), json!(info.valid_start_ms));
            out.insert("CertificateValidEnd".into(), json!(info.valid_end_ms));
        }
    }
    Ok(out)
}

/// SetDomainWebSocketStatus: `ActionValue` `ON` opens the domain to WebSocket upgrades, `OFF`
/// closes it; `WSSEnable=false` keeps upgrades over TLS closed while plain ones are taken.
pub async fn set_domain_web_socket_status(c: &Control, p: &Params) -> Out {
    let group_id = p.required("GroupId")?;
    let name = domain_name(p)?;
    let action = p.required("ActionValue")?.trim().to_ascii_uppercase();
    let enabled = match action.as_str() {
        "ON" | "OPEN" => true,
        "OFF" | "CLOSE" => false,
        _ => return Err(ApiError::invalid("ActionValue", "ON or OFF")),
    };
    let wss = match p.opt("WSSEnable").map(|v| v.trim().to_ascii_lowercase()) {
        None => true,
        Some(v) if v == "true" => true,
        Some(v) if v == "false" => false,
        Some(_) => return Err(ApiError::invalid("WSSEnable", "true or false")),
    };
    let status = apigw_model::WebSocketStatus {
        enabled,
        wss: enabled && wss,
    };
    c.set_domain_web_socket(group_id, &name, status).await?;
    Ok(Default::default())
}

/// SetDomainCertificate: the certificate the HTTPS listener serves for the domain (by SNI).
pub async fn set_domain_certificate(c: &Control, p: &Params) -> Out {
    let group_id = p.required("GroupId")?;
    let name = domain_name(p)?;
    let certificate_name = p.required("CertificateName")?;
    if p.opt("CaCertificateBody").is_some() {
        return Err(ApiError::invalid(
            "CaCertificateBody",
            "client certificate verification (mutual TLS) is not supported",
        ));
    }
    c.set_domain_certificate(
        group_id,
        &name,
        DomainCertificate {
            certificate_name: certificate_name.trim().to_string(),
            certificate_body: p.get("CertificateBody").unwrap_or("").to_string(),
            certificate_private_key: p.get("CertificatePrivateKey").unwrap_or("").to_string(),
        },
    )
    .await?;
    Ok(Default::default())
}

/// DeleteDomainCertificate: `CertificateId` is the one DescribeDomain reports.
pub async fn delete_domain_certificate(c: &Control, p: &Params) -> Out {
    c.delete_domain_certificate(
        p.required("GroupId")?,
        &domain_name(p)?,
        p.required("CertificateId")?.trim(),
    )
    .await?;
    Ok(Default::default())
}
