//! `apigw call`: sends a request signed the way the official SDKs sign it (APP digest
//! signature, or an AppCode), prints the response with its `X-Ca-*` headers, and on a
//! signature mismatch prints its own StringToSign beside the server's.

use apigw_signature::{Algorithm, ClientSigner};
use bytes::Bytes;
use http::header::{HeaderName, HeaderValue};
use http::{HeaderMap, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use std::time::Duration;

#[derive(clap::Args)]
pub struct CallArgs {
    /// The API path (with an optional query), or a full `http://host:port/path` URL.
    pub target: String,
    /// Gateway address used when TARGET is a path.
    #[arg(long, env = "APIGW_URL", default_value = "http://localhost:8080")]
    pub url: String,
    /// HTTP method (default: GET, or POST when a body is given).
    #[arg(short = 'X', long)]
    pub method: Option<String>,
    /// Query parameter `name=value` (repeatable; added to any query in TARGET).
    #[arg(short = 'q', long = "query")]
    pub query: Vec<String>,
    /// Request header `Name: value` (repeatable).
    #[arg(short = 'H', long = "header")]
    pub headers: Vec<String>,
    /// Form field `name=value` (repeatable): sends an `application/x-www-form-urlencoded`
    /// body, whose fields are signed.
    #[arg(long = "form", conflicts_with_all = ["json", "data"])]
    pub form: Vec<String>,
    /// A JSON body (sent with `Content-MD5`, so the signature covers it).
    #[arg(long, conflicts_with = "data")]
    pub json: Option<String>,
    /// A raw body, or `@file` (sent with `Content-MD5`).
    #[arg(long)]
    pub data: Option<String>,
    /// Content-Type of a `--data` body.
    #[arg(long, default_value = "application/octet-stream")]
    pub content_type: String,
    /// Stage to call (`X-Ca-Stage`): RELEASE, PRE or TEST.
    #[arg(long)]
    pub stage: Option<String>,
    /// AppKey to sign with.
    #[arg(long, env = "APIGW_APP_KEY")]
    pub app_key: Option<String>,
    /// AppSecret to sign with (prefer the environment variable: command lines are visible).
    #[arg(long, env = "APIGW_APP_SECRET", hide_env_values = true)]
    pub app_secret: Option<String>,
    /// Use AppCode authentication (`Authorization: APPCODE <code>`) instead of a signature.
    #[arg(
        long,
        env = "APIGW_APP_CODE",
        hide_env_values = true,
        conflicts_with = "app_key"
    )]
    pub app_code: Option<String>,
    /// Sign with HmacSHA1 instead of HmacSHA256.
    #[arg(long)]
    pub sha1: bool,
    /// Also sign this header (repeatable); `X-Ca-*` headers are always signed.
    #[arg(long = "sign-header")]
    pub sign_headers: Vec<String>,
    /// Send no `X-Ca-Nonce`.
    #[arg(long)]
    pub no_nonce: bool,
    /// Print the StringToSign even when the call succeeds.
    #[arg(short = 'v', long)]
    pub verbose: bool,
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis())
}

fn header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), String> {
    let n = HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("`{name}` is not a header name"))?;
    let v = HeaderValue::from_str(value.trim())
        .map_err(|_| format!("the value of `{name}` cannot be sent in a header"))?;
    Ok((n, v))
}

fn pair(s: &str) -> (&str, &str) {
    s.split_once('=').unwrap_or((s, ""))
}

/// What to send, before signing.
struct Prepared {
    uri: Uri,
    method: Method,
    headers: HeaderMap,
    body: Bytes,
    form: bool,
}

fn prepare(a: &CallArgs) -> Result<Prepared, String> {
    let full = if a.target.starts_with("http://") || a.target.starts_with("https://") {
        a.target.clone()
    } else {
        let path = if a.target.starts_with('/') {
            a.target.clone()
        } else {
            format!("/{}", a.target)
        };
        format!("{}{}", a.url.trim_end_matches('/'), path)
    };
    let mut uri: Uri = full.parse().map_err(|e| format!("`{full}`: {e}"))?;
    if uri.scheme_str() != Some("http") {
        return Err("only http:// is supported by `apigw call` for now".into());
    }
    if !a.query.is_empty() {
        let mut q = form_urlencoded::Serializer::new(uri.query().unwrap_or("").to_string());
        for p in &a.query {
            let (k, v) = pair(p);
            q.append_pair(k, v);
        }
        let pq = format!("{}?{}", uri.path(), q.finish());
        let mut parts = uri.into_parts();
        parts.path_and_query = Some(pq.parse().map_err(|e| format!("query: {e}"))?);
        uri = Uri::from_parts(parts).map_err(|e| e.to_string())?;
    }
    let mut headers = HeaderMap::new();
    headers.insert(
        http::header::ACCEPT,
        HeaderValue::from_static("application/json"),
    );
    let (body, form) = if !a.form.is_empty() {
        let mut f = form_urlencoded::Serializer::new(String::new());
        for p in &a.form {
            let (k, v) = pair(p);
            f.append_pair(k, v);
        }
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-www-form-urlencoded; charset=UTF-8"),
        );
        (Bytes::from(f.finish()), true)
    } else if let Some(j) = &a.json {
        serde_json::from_str::<serde_json::Value>(j).map_err(|e| format!("--json: {e}"))?;
        headers.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json; charset=UTF-8"),
        );
        (Bytes::from(j.clone()), false)
    } else if let Some(d) = &a.data {
        let bytes = match d.strip_prefix('@') {
            Some(file) => std::fs::read(file).map_err(|e| format!("cannot read {file}: {e}"))?,
            None => d.as_bytes().to_vec(),
        };
        let (n, v) = header("Content-Type", &a.content_type)?;
        headers.insert(n, v);
        (Bytes::from(bytes), false)
    } else {
        (Bytes::new(), false)
    };
    if !body.is_empty() && !form {
        let md5 = apigw_signature::content_md5(&body);
        headers.insert("content-md5", HeaderValue::from_str(&md5).expect("base64"));
    }
    for h in &a.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("header `{h}` is not `Name: value`"))?;
        let (n, v) = header(name, value)?;
        headers.insert(n, v);
    }
    let method = match &a.method {
        Some(m) => Method::from_bytes(m.to_ascii_uppercase().as_bytes())
            .map_err(|_| format!("`{m}` is not a method"))?,
        None if !body.is_empty() => Method::POST,
        None => Method::GET,
    };
    Ok(Prepared {
        uri,
        method,
        headers,
        body,
        form,
    })
}

/// Adds the credentials; returns the client StringToSign when a signature was made.
fn authenticate(a: &CallArgs, p: &mut Prepared) -> Result<Option<Vec<u8>>, String> {
    if let Some(stage) = &a.stage {
        let (n, v) = header("X-Ca-Stage", &stage.to_ascii_uppercase())?;
        p.headers.insert(n, v);
    }
    if let Some(code) = &a.app_code {
        let (n, v) = header("Authorization", &format!("APPCODE {code}"))?;
        p.headers.insert(n, v);
        return Ok(None);
    }
    let (Some(key), Some(secret)) = (&a.app_key, &a.app_secret) else {
        if a.app_key.is_some() {
            return Err("--app-key needs --app-secret (or APIGW_APP_SECRET)".into());
        }
        return Ok(None);
    };
    p.headers.insert(
        "x-ca-timestamp",
        HeaderValue::from_str(&now_ms().to_string()).expect("digits"),
    );
    if !a.no_nonce {
        p.headers.insert(
            "x-ca-nonce",
            HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()).expect("uuid"),
        );
    }
    let signer = ClientSigner {
        app_key: key,
        app_secret: secret,
        algorithm: if a.sha1 {
            Algorithm::HmacSha1
        } else {
            Algorithm::HmacSha256
        },
    };
    let extra: Vec<&str> = a.sign_headers.iter().map(String::as_str).collect();
    let form = p.form.then_some(&p.body[..]);
    let sts = signer.sign(
        p.method.as_str(),
        p.uri.path(),
        p.uri.query(),
        &mut p.headers,
        form,
        &extra,
    );
    Ok(Some(sts))
}

pub fn run(a: CallArgs) -> Result<bool, String> {
    let mut p = prepare(&a)?;
    let sts = authenticate(&a, &mut p)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = Request::new(Full::new(p.body.clone()));
    *req.method_mut() = p.method.clone();
    *req.uri_mut() = p.uri.clone();
    *req.headers_mut() = p.headers.clone();
    let resp = rt.block_on(async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let resp = tokio::time::timeout(Duration::from_secs(60), client.request(req))
            .await
            .map_err(|_| "no response within 60 s".to_string())?
            .map_err(|e| format!("cannot reach {}: {e}", p.uri))?;
        let (parts, body) = resp.into_parts();
        let body = body
            .collect()
            .await
            .map_err(|e| format!("reading the response: {e}"))?
            .to_bytes();
        Ok::<_, String>((parts, body))
    })?;
    let (parts, body) = resp;
    println!("{:?} {}", parts.version, parts.status);
    for (name, value) in &parts.headers {
        println!("{}: {}", name, String::from_utf8_lossy(value.as_bytes()));
    }
    println!();
    println!("{}", String::from_utf8_lossy(&body));
    let code = parts
        .headers
        .get("x-ca-error-code")
        .map(|v| v.as_bytes().to_vec());
    if let Some(sts) = sts {
        let client = String::from_utf8_lossy(&sts).replace('\n', "#");
        if code.as_deref() == Some(b"A403IS".as_slice()) {
            let server = parts
                .headers
                .get("x-ca-error-message")
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let server = server
                .split_once('`')
                .map(|(_, rest)| rest.trim_end_matches('`').to_string())
                .unwrap_or(server);
            eprintln!("signature mismatch (newlines shown as #):");
            eprintln!("  server StringToSign: {server}");
            eprintln!("  client StringToSign: {client}");
        } else if a.verbose {
            eprintln!("client StringToSign (newlines shown as #): {client}");
        }
    }
    Ok(parts.status.as_u16() < 400)
}
