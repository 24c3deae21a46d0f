//! Validation of API definitions, shared by the declarative file and the management API.

use crate::api::{normalize_method, ApiDefinition, MAX_SERVICE_TIMEOUT_MS, METHODS};
use crate::error::ModelError;
use crate::params::{check_service_path, Parameters};
use crate::path::{parse_field, PathPattern};

/// Checks one definition on its own. Returns the parsed request path.
pub fn validate_api(api: &ApiDefinition) -> Result<PathPattern, ModelError> {
    crate::group::validate_name("ApiName", &api.api_name)?;
    let rc = &api.request_config;
    let (http, https) = api.protocols();
    let (ws, wss) = api.web_socket();
    let known = rc.request_protocol.split(',').all(|p| {
        matches!(
            p.trim().to_ascii_uppercase().as_str(),
            "HTTP" | "HTTPS" | "WS" | "WSS" | "WEBSOCKET"
        )
    });
    if !(http || https || ws || wss) || !known {
        return Err(ModelError::invalid(
            "RequestProtocol",
            "a comma list of HTTP, HTTPS and WebSocket (or WS, WSS)",
        ));
    }
    check_web_socket_type(api)?;
    check_method("RequestHttpMethod", &rc.request_http_method)?;
    let path = parse_field("RequestPath", &rc.request_path, rc.escape_path_param)?;
    let params = Parameters::of(api, &path)?;
    validate_service(api, &path, &params)?;
    crate::openid::validate(api)?;
    Ok(path)
}

/// Only `COMMON` WebSocket APIs are run; the device channel's roles are refused rather than
/// stored and served as something else.
fn check_web_socket_type(api: &ApiDefinition) -> Result<(), ModelError> {
    match api.extra.get("WebSocketApiType").and_then(|v| v.as_str()) {
        None => Ok(()),
        Some(t) if t.is_empty() || t.eq_ignore_ascii_case("COMMON") => Ok(()),
        Some(t) => Err(ModelError::invalid(
            "WebSocketApiType",
            format!("`{t}` is not run by this gateway: only COMMON (device channels with REGISTER, UNREGISTER and NOTIFY are not supported)"),
        )),
    }
}

fn check_method(field: &str, m: &str) -> Result<(), ModelError> {
    if METHODS.contains(&normalize_method(m).as_str()) {
        Ok(())
    } else {
        Err(ModelError::invalid(
            field,
            format!("`{m}` is not one of {}", METHODS.join(", ")),
        ))
    }
}

fn validate_service(
    api: &ApiDefinition,
    request_path: &PathPattern,
    params: &Parameters,
) -> Result<(), ModelError> {
    let sc = &api.service_config;
    if sc.service_timeout == 0 || sc.service_timeout > MAX_SERVICE_TIMEOUT_MS {
        return Err(ModelError::invalid(
            "ServiceTimeout",
            format!("1 to {MAX_SERVICE_TIMEOUT_MS} milliseconds"),
        ));
    }
    if sc.mock {
        if let Some(code) = sc.mock_status_code {
            if !(100..=599).contains(&code) {
                return Err(ModelError::invalid(
                    "MockStatusCode",
                    "an HTTP status, 100 to 599",
                ));
            }
        }
        for h in &sc.mock_headers {
            let name_ok = !h.header_name.is_empty() && h.header_name.bytes().all(is_token_byte);
            let value_ok = h
                .header_value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80);
            if !name_ok || !value_ok {
                return Err(ModelError::invalid(
                    "MockHeaders",
                    format!("header `{}` is not valid HTTP", h.header_name),
                ));
            }
        }
        return Ok(());
    }
    let protocol = sc.service_protocol.to_ascii_uppercase();
    let shared = api.backend_enable && protocol == "UN_SPECIFIED";
    if !shared && protocol != "HTTP" && protocol != "HTTPS" {
        return Err(ModelError::invalid(
            "ServiceProtocol",
            format!(
                "`{}` backends are not supported; use HTTP, a mock, or UN_SPECIFIED with BackendEnable",
                sc.service_protocol
            ),
        ));
    }
    validate_target(api)?;
    if let Some(m) = &sc.service_http_method {
        check_method("ServiceHttpMethod", m)?;
        if normalize_method(m) == "ANY" {
            return Err(ModelError::invalid(
                "ServiceHttpMethod",
                "`ANY` is not a backend method",
            ));
        }
    }
    if let Some(sp) = &sc.service_path {
        let backend = parse_field("ServicePath", &crate::service::unmarked(sp), false)?;
        check_service_path(&backend, request_path, params)?;
    }
    Ok(())
}

/// The backend's target: a backend service (`BackendEnable`, `BackendId`), a VPC access
/// (`ServiceVpcEnable`, `VpcConfig`), or `ServiceAddress` (which may hold stage variables).
fn validate_target(api: &ApiDefinition) -> Result<(), ModelError> {
    let sc = &api.service_config;
    if api.backend_enable {
        return match api.backend_id.as_deref() {
            Some(id) if !id.is_empty() => Ok(()),
            _ => Err(ModelError::missing("BackendId")),
        };
    }
    if sc.service_vpc_enable {
        let Some(v) = &sc.vpc_config else {
            return Err(ModelError::missing("VpcConfig"));
        };
        let by_target = v.vpc_id.is_some() && v.instance_id.is_some() && v.port.is_some();
        if v.name.is_empty() && !by_target {
            return Err(ModelError::invalid(
                "VpcConfig",
                "name a VPC access (`Name`), or give its `VpcId`, `InstanceId` and `Port`",
            ));
        }
        return crate::service::check_scheme(Some(v));
    }
    let address = sc
        .service_address
        .as_deref()
        .ok_or_else(|| ModelError::missing("ServiceAddress"))?;
    crate::service::check_template_address(address)
}

/// `http(s)://host[:port]` (or `h2c://` for HTTP/2 without TLS, as gRPC backends speak),
/// no path, query or credentials.
pub fn validate_service_address(address: &str) -> Result<(), ModelError> {
    let bad = |why: &str| ModelError::invalid("ServiceAddress", format!("`{address}`: {why}"));
    let rest = address
        .strip_prefix("http://")
        .or_else(|| address.strip_prefix("https://"))
        .or_else(|| address.strip_prefix("h2c://"))
        .ok_or_else(|| bad("must start with http://, https:// or h2c://"))?;
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.is_empty() {
        return Err(bad("has no host"));
    }
    if authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(bad(
            "must be scheme://host[:port] without path, query or credentials",
        ));
    }
    let host = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| bad("unclosed IPv6 bracket"))?;
        if !after.is_empty() && !after.strip_prefix(':').is_some_and(valid_port) {
            return Err(bad("bad port"));
        }
        h
    } else {
        match authority.rsplit_once(':') {
            Some((h, port)) if valid_port(port) => h,
            Some(_) => return Err(bad("bad port")),
            None => authority,
        }
    };
    if host.is_empty()
        || !host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._:".contains(&b))
    {
        return Err(bad("bad host"));
    }
    Ok(())
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.len() <= 5 && p.parse::<u16>().is_ok_and(|n| n > 0)
}

fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Refuses `api` when another API of the same group (`others`; the API itself is skipped by
/// id) has the same name, or a method and path that a request could match both of.
pub fn check_conflicts<'a>(
    api: &ApiDefinition,
    path: &PathPattern,
    others: impl IntoIterator<Item = &'a ApiDefinition>,
) -> Result<(), ModelError> {
    let method = api.method();
    for other in others {
        if other.api_id == api.api_id {
            continue;
        }
        if other.api_name == api.api_name {
            return Err(ModelError::new(
                "RepeatedApiName",
                format!(
                    "an API named `{}` already exists in this group",
                    api.api_name
                ),
            ));
        }
        let other_method = other.method();
        let methods_meet = method == other_method || method == "ANY" || other_method == "ANY";
        if !methods_meet {
            continue;
        }
        let other_rc = &other.request_config;
        let Ok(other_path) = PathPattern::parse(&other_rc.request_path, other_rc.escape_path_param)
        else {
            continue;
        };
        if path.conflicts_with(&other_path) {
            return Err(ModelError::new(
                "RepeatedPath",
                format!(
                    "Path conflict: {} {} collides with {} {} of API `{}`",
                    method,
                    api.request_config.request_path,
                    other_method,
                    other_rc.request_path,
                    other.api_name
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(id: &str, name: &str, method: &str, path: &str) -> ApiDefinition {
        serde_json::from_value(json!({
            "ApiId": id, "ApiName": name, "AuthType": "ANONYMOUS",
            "RequestConfig": {"RequestHttpMethod": method, "RequestPath": path},
            "ServiceConfig": {"ServiceAddress": "http://127.0.0.1:9000", "ServicePath": "/b", "ServiceTimeout": 1000}
        }))
        .unwrap()
    }

    #[test]
    fn accepts_a_plain_api() {
        assert!(validate_api(&api("1", "get_user", "GET", "/users/[id]")).is_ok());
    }

    #[test]
    fn refuses_bad_fields_with_named_codes() {
        let mut a = api("1", "get_user", "FETCH", "/x");
        assert_eq!(
            validate_api(&a).unwrap_err().code,
            "InvalidRequestHttpMethod"
        );
        a = api("1", "get_user", "GET", "x");
        assert_eq!(validate_api(&a).unwrap_err().code, "InvalidRequestPath");
        a = api("1", "get_user", "GET", "/x");
        a.service_config.service_timeout = 30_001;
        assert_eq!(validate_api(&a).unwrap_err().code, "InvalidServiceTimeout");
        a.service_config.service_timeout = 30_000;
        a.service_config.service_address = Some("ftp://x".into());
        assert_eq!(validate_api(&a).unwrap_err().code, "InvalidServiceAddress");
        a.service_config.service_address = None;
        assert_eq!(validate_api(&a).unwrap_err().code, "MissingServiceAddress");
        a = api("1", "get_user", "GET", "/x");
        a.service_config.service_path = Some("/y/[id]".into());
        assert_eq!(validate_api(&a).unwrap_err().code, "InvalidParamMapping");
        a = api("1", "", "GET", "/x");
        assert_eq!(validate_api(&a).unwrap_err().code, "MissingApiName");
    }

    #[test]
    fn service_addresses() {
        for ok in [
            "http://a",
            "https://a.b:8443",
            "http://127.0.0.1:80/",
            "http://[::1]:8080",
        ] {
            assert!(validate_service_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "a.b",
            "http://",
            "http://a/b",
            "http://a:0",
            "http://a:x",
            "http://u@a",
            "http://[::1",
        ] {
            assert!(validate_service_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn conflicts_by_method_and_path() {
        let existing = [
            api("1", "disk_one", "GET", "/instance/disk/abcd123"),
            api("2", "any_x", "ANY", "/x"),
        ];
        let new = api("3", "disk_any", "GET", "/instance/disk/[disk]");
        let path = validate_api(&new).unwrap();
        assert_eq!(
            check_conflicts(&new, &path, &existing).unwrap_err().code,
            "RepeatedPath"
        );
        let post = api("3", "disk_post", "POST", "/instance/disk/[disk]");
        assert!(check_conflicts(&post, &validate_api(&post).unwrap(), &existing).is_ok());
        let x = api("3", "x_post", "POST", "/x");
        assert_eq!(
            check_conflicts(&x, &validate_api(&x).unwrap(), &existing)
                .unwrap_err()
                .code,
            "RepeatedPath"
        );
        let same_name = api("3", "any_x", "GET", "/y");
        assert_eq!(
            check_conflicts(&same_name, &validate_api(&same_name).unwrap(), &existing)
                .unwrap_err()
                .code,
            "RepeatedApiName"
        );
        // Modifying an API does not conflict with itself.
        let itself = api("1", "disk_one", "GET", "/instance/disk/abcd123");
        assert!(check_conflicts(&itself, &validate_api(&itself).unwrap(), &existing).is_ok());
    }
}
