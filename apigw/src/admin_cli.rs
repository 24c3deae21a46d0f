//! `apigw admin <Action> --Name value ...`: calls a management action on a running gateway,
//! signed with the V3 signature like the Tea SDK, and prints the JSON answer (like the
//! `aliyun` CLI).

use apigw_signature::mgmt::{format_timestamp, sign_v3_form};
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct AdminArgs {
    /// The action, e.g. `DescribeApiGroups` (docs/management-api.md lists them).
    pub action: String,
    /// Parameters as `--Name value` pairs (or `--Name=value`), e.g. `--GroupName shop`.
    #[arg(allow_hyphen_values = true)]
    pub params: Vec<String>,
    /// The admin listener.
    #[arg(long, env = "APIGW_ADMIN_ENDPOINT", default_value = "127.0.0.1:9080")]
    pub endpoint: String,
    /// AccessKey id (default: the root key's environment variable).
    #[arg(long, env = "APIGW_ROOT_ACCESS_KEY_ID")]
    pub access_key_id: Option<String>,
    #[arg(long, env = "APIGW_ROOT_ACCESS_KEY_SECRET", hide_env_values = true)]
    pub access_key_secret: Option<String>,
}

/// `--Name value` / `--Name=value` pairs.
fn pairs(args: &[String]) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let name = a
            .strip_prefix("--")
            .ok_or_else(|| format!("expected `--Name value`, got `{a}`"))?;
        match name.split_once('=') {
            Some((n, v)) => out.push((n.to_string(), v.to_string())),
            None => {
                let v = it
                    .next()
                    .ok_or_else(|| format!("`--{name}` needs a value"))?;
                out.push((name.to_string(), v.clone()));
            }
        }
    }
    Ok(out)
}

pub fn run(a: AdminArgs) -> Result<bool, String> {
    let (Some(id), Some(secret)) = (&a.access_key_id, &a.access_key_secret) else {
        return Err(
            "set --access-key-id/--access-key-secret (or APIGW_ROOT_ACCESS_KEY_ID/APIGW_ROOT_ACCESS_KEY_SECRET)"
                .into(),
        );
    };
    let params = pairs(&a.params)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let nonce = uuid::Uuid::new_v4().simple().to_string();
    // Large JSON members go in the form body, as the Tea SDK sends them.
    let (form, query): (Vec<_>, Vec<_>) = params.into_iter().partition(|(k, _)| {
        matches!(
            k.as_str(),
            "RequestParameters"
                | "ServiceParameters"
                | "ServiceParametersMap"
                | "ConstantParameters"
                | "SystemParameters"
                | "ResultSample"
                | "FailResultSample"
                | "ErrorCodeSamples"
                | "ResultDescriptions"
        )
    });
    let call = sign_v3_form(
        id,
        secret,
        &a.endpoint,
        &a.action,
        "2016-07-14",
        &query,
        &form,
        &format_timestamp(now),
        &nonce,
    );
    let uri: Uri = format!("http://{}{}", a.endpoint, call.path_and_query)
        .parse()
        .map_err(|e| format!("--endpoint: {e}"))?;
    let mut req = Request::new(Full::new(Bytes::from(call.body.clone())));
    *req.method_mut() = http::Method::POST;
    *req.uri_mut() = uri;
    for (k, v) in &call.headers {
        let name = http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| e.to_string())?;
        let value = http::HeaderValue::from_str(v).map_err(|e| e.to_string())?;
        req.headers_mut().insert(name, value);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (status, body) = rt.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let resp = tokio::time::timeout(Duration::from_secs(60), client.request(req))
            .await
            .map_err(|_| "no answer within 60 s".to_string())?
            .map_err(|e| format!("cannot reach {}: {e}", a.endpoint))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok::<_, String>((status, body))
    })?;
    let text = match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&body).into_owned(),
    };
    println!("{text}");
    if text.contains("SignatureDoesNotMatch") {
        eprintln!(
            "client string to sign: {}",
            call.string_to_sign.replace('\n', "\\n")
        );
    }
    Ok(status.is_success())
}
