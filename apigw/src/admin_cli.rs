//! `apigw admin <Action> --Name value ...`: calls a management action on a running gateway,
//! signed with the V3 signature like the Tea SDK, and prints the JSON answer (like the
//! `aliyun` CLI). The AccessKey options ([`KeyArgs`]) are shared with the commands that take
//! `--endpoint` (`remote.rs`).

use crate::remote::Remote;

#[derive(clap::Args)]
#[command(trailing_var_arg = true)]
pub struct AdminArgs {
    /// The action, e.g. `DescribeApiGroups` (docs/management-api.md lists them).
    pub action: String,
    /// Parameters as `--Name value` pairs (or `--Name=value`), e.g. `--GroupName shop`. The
    /// options below may come among them too (their names are lower case).
    #[arg(allow_hyphen_values = true)]
    pub params: Vec<String>,
    /// The admin listener: `host:port`, `http://host:port` or `https://host[:port]` (TLS in
    /// front of it, e.g. nginx).
    #[arg(long, env = "APIGW_ADMIN_ENDPOINT", default_value = "127.0.0.1:9080")]
    pub endpoint: String,
    #[command(flatten)]
    pub key: KeyArgs,
    /// With an `https://` endpoint: trust the certificates in this PEM file (a private CA)
    /// instead of the web PKI roots.
    #[arg(long, env = "APIGW_ADMIN_CA_FILE", value_name = "PEM")]
    pub ca_file: Option<std::path::PathBuf>,
}

/// Where the AccessKey comes from (see [`credentials`] for the order).
#[derive(clap::Args, Clone, Default)]
pub struct KeyArgs {
    /// AccessKey id; with `--access-key-secret`, wins over every other source (see
    /// docs/management-api.md, "apigw admin").
    #[arg(long)]
    pub access_key_id: Option<String>,
    #[arg(long)]
    pub access_key_secret: Option<String>,
    /// A profile of the aliyun CLI's configuration file (mode AK).
    #[arg(long, env = "ALIBABA_CLOUD_PROFILE")]
    pub profile: Option<String>,
    /// The aliyun CLI's configuration file (default `~/.aliyun/config.json`).
    #[arg(long, value_name = "FILE")]
    pub config_path: Option<std::path::PathBuf>,
}

/// The options of [`AdminArgs`] that may also come after the action, among the parameters.
const OPTIONS: [&str; 6] = [
    "endpoint",
    "access-key-id",
    "access-key-secret",
    "profile",
    "config-path",
    "ca-file",
];

impl AdminArgs {
    /// Takes the options written after the action out of the parameters (flags anywhere on
    /// the line): a lower-case `--name` among them is one of ours, an action parameter starts
    /// with a capital.
    fn take_trailing_options(&mut self) -> Result<(), String> {
        let mut rest = Vec::new();
        let mut it = std::mem::take(&mut self.params).into_iter();
        while let Some(arg) = it.next() {
            let Some(name) = arg.strip_prefix("--") else {
                rest.push(arg);
                continue;
            };
            let (name, inline) = match name.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (name.to_string(), None),
            };
            if !OPTIONS.contains(&name.as_str()) {
                if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                    return Err(format!(
                        "unknown option `--{name}` (options: --{}; action parameters start with a capital letter)",
                        OPTIONS.join(", --")
                    ));
                }
                rest.push(arg);
                if inline.is_none() {
                    rest.extend(it.next());
                }
                continue;
            }
            let value = match inline {
                Some(v) => v,
                None => it
                    .next()
                    .ok_or_else(|| format!("`--{name}` needs a value"))?,
            };
            match name.as_str() {
                "endpoint" => self.endpoint = value,
                "access-key-id" => self.key.access_key_id = Some(value),
                "access-key-secret" => self.key.access_key_secret = Some(value),
                "profile" => self.key.profile = Some(value),
                "ca-file" => self.ca_file = Some(value.into()),
                _ => self.key.config_path = Some(value.into()),
            }
        }
        self.params = rest;
        Ok(())
    }
}

/// An AccessKey and where it came from (for messages).
#[derive(Debug, PartialEq, Eq)]
pub struct Credentials {
    pub id: String,
    pub secret: String,
    pub source: String,
}

/// The AccessKey to sign with, from the first source that has one:
/// 1. `--access-key-id` and `--access-key-secret`;
/// 2. `--profile NAME` (or `ALIBABA_CLOUD_PROFILE`): that profile of the aliyun CLI's file;
/// 3. `ALIBABA_CLOUD_ACCESS_KEY_ID` / `ALIBABA_CLOUD_ACCESS_KEY_SECRET` (the SDKs' variables);
/// 4. `APIGW_ROOT_ACCESS_KEY_ID` / `APIGW_ROOT_ACCESS_KEY_SECRET`;
/// 5. the `current` profile of the aliyun CLI's file, if the file exists.
pub fn credentials(
    a: &KeyArgs,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Credentials, String> {
    let pair = |id: Option<String>, secret: Option<String>, source: &str| match (id, secret) {
        (Some(id), Some(secret)) if !id.is_empty() && !secret.is_empty() => Some(Credentials {
            id,
            secret,
            source: source.to_string(),
        }),
        _ => None,
    };
    match (&a.access_key_id, &a.access_key_secret) {
        (Some(_), None) | (None, Some(_)) => {
            return Err("give --access-key-id and --access-key-secret together".into())
        }
        _ => {}
    }
    if let Some(c) = pair(
        a.access_key_id.clone(),
        a.access_key_secret.clone(),
        "--access-key-id",
    ) {
        return Ok(c);
    }
    let file = match &a.config_path {
        Some(path) => Some(path.clone()),
        None => env("HOME").map(|h| std::path::Path::new(&h).join(".aliyun/config.json")),
    };
    if let Some(name) = a.profile.as_deref().filter(|n| !n.is_empty()) {
        let file =
            file.ok_or("--profile: no HOME to find ~/.aliyun/config.json in; give --config-path")?;
        return profile(&file, Some(name));
    }
    for (prefix, source) in [
        ("ALIBABA_CLOUD_ACCESS_KEY", "ALIBABA_CLOUD_ACCESS_KEY_ID"),
        ("APIGW_ROOT_ACCESS_KEY", "APIGW_ROOT_ACCESS_KEY_ID"),
    ] {
        if let Some(c) = pair(
            env(&format!("{prefix}_ID")),
            env(&format!("{prefix}_SECRET")),
            source,
        ) {
            return Ok(c);
        }
    }
    match file {
        Some(file) if file.exists() => profile(&file, None),
        _ => Err("no AccessKey: give --access-key-id/--access-key-secret, --profile (the aliyun CLI's ~/.aliyun/config.json), or set ALIBABA_CLOUD_ACCESS_KEY_ID/ALIBABA_CLOUD_ACCESS_KEY_SECRET (or APIGW_ROOT_ACCESS_KEY_ID/APIGW_ROOT_ACCESS_KEY_SECRET)".into()),
    }
}

/// The AccessKey of a profile (`name`, or the file's `current` one) of the aliyun CLI's
/// configuration file.
fn profile(file: &std::path::Path, name: Option<&str>) -> Result<Credentials, String> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(default)]
        current: String,
        #[serde(default)]
        profiles: Vec<Profile>,
    }
    #[derive(serde::Deserialize)]
    struct Profile {
        name: String,
        #[serde(default)]
        mode: String,
        #[serde(default)]
        access_key_id: String,
        #[serde(default)]
        access_key_secret: String,
    }
    let shown = file.display();
    let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let config: Config = serde_json::from_str(&text)
        .map_err(|e| format!("{shown} is not the aliyun CLI's configuration: {e}"))?;
    let wanted = name.unwrap_or(&config.current);
    let p = config
        .profiles
        .iter()
        .find(|p| p.name == wanted)
        .ok_or_else(|| format!("{shown} has no profile `{wanted}`"))?;
    if !(p.mode.is_empty() || p.mode == "AK") {
        return Err(format!(
            "profile `{wanted}` of {shown} is of mode {}; apigw admin signs with an AccessKey (mode AK)",
            p.mode
        ));
    }
    if p.access_key_id.is_empty() || p.access_key_secret.is_empty() {
        return Err(format!("profile `{wanted}` of {shown} has no AccessKey"));
    }
    Ok(Credentials {
        id: p.access_key_id.clone(),
        secret: p.access_key_secret.clone(),
        source: format!("profile `{wanted}` of {shown}"),
    })
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

/// Large JSON members go in the form body, as the Tea SDK sends them.
const FORM_MEMBERS: [&str; 11] = [
    "RequestParameters",
    "ServiceParameters",
    "ServiceParametersMap",
    "ConstantParameters",
    "SystemParameters",
    "ResultSample",
    "FailResultSample",
    "ErrorCodeSamples",
    "ResultDescriptions",
    "Configuration",
    "Data",
];

/// Calls the action and prints the answer. Exit status 0: a 2xx answer; 1: another answer,
/// or none (the reason on stderr); 2: a usage error.
pub fn run(mut a: AdminArgs) -> std::process::ExitCode {
    use std::process::ExitCode;
    let usage = a
        .take_trailing_options()
        .and_then(|()| pairs(&a.params).map(|_| ()));
    if let Err(message) = usage {
        eprintln!("error: {message}");
        return ExitCode::from(2);
    }
    match call(&a) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn call(a: &AdminArgs) -> Result<bool, String> {
    let remote = Remote::new(&a.endpoint, &a.key, a.ca_file.as_deref())?;
    let params = pairs(&a.params)?;
    let (form, query): (Vec<_>, Vec<_>) = params
        .into_iter()
        .partition(|(k, _)| FORM_MEMBERS.contains(&k.as_str()));
    let answer = remote.call(&a.action, &query, &form)?;
    let text = match serde_json::from_slice::<serde_json::Value>(&answer.body) {
        Ok(v) => serde_json::to_string_pretty(&v).unwrap_or_default(),
        Err(_) => String::from_utf8_lossy(&answer.body).into_owned(),
    };
    println!("{text}");
    Ok(answer.status.is_success())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        admin: AdminArgs,
    }

    fn args(line: &[&str]) -> AdminArgs {
        let mut all = vec!["apigw"];
        all.extend_from_slice(line);
        let mut a = Cli::try_parse_from(all).unwrap().admin;
        a.take_trailing_options().unwrap();
        a
    }

    const FILE: &str = r#"{"current":"cur","profiles":[
        {"name":"cur","mode":"AK","access_key_id":"cur-id","access_key_secret":"cur-secret"},
        {"name":"other","mode":"AK","access_key_id":"other-id","access_key_secret":"other-secret"},
        {"name":"sts","mode":"StsToken","access_key_id":"x","access_key_secret":"y"}]}"#;

    fn config() -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), FILE).unwrap();
        f
    }

    fn id(a: &AdminArgs, env: &[(&str, &str)]) -> Result<String, String> {
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        };
        credentials(&a.key, &lookup).map(|c| c.id)
    }

    #[test]
    fn options_may_come_after_the_action() {
        let a = args(&[
            "DescribeApis",
            "--GroupId",
            "g1",
            "--endpoint",
            "10.0.0.1:9080",
            "--PageSize=5",
            "--profile=other",
        ]);
        assert_eq!(a.endpoint, "10.0.0.1:9080");
        assert_eq!(a.key.profile.as_deref(), Some("other"));
        assert_eq!(a.params, ["--GroupId", "g1", "--PageSize=5"]);
        let mut bad = Cli::try_parse_from(["apigw", "DescribeApis", "--outptu", "json"])
            .unwrap()
            .admin;
        assert!(bad
            .take_trailing_options()
            .unwrap_err()
            .contains("--outptu"));
    }

    #[test]
    fn credentials_come_from_the_first_source_that_has_them() {
        let file = config();
        let path = file.path().to_str().unwrap();
        let env = [
            ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ali-id"),
            ("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "ali-secret"),
            ("APIGW_ROOT_ACCESS_KEY_ID", "root-id"),
            ("APIGW_ROOT_ACCESS_KEY_SECRET", "root-secret"),
        ];
        let base = ["DescribeApiGroups", "--config-path", path];
        let with = |extra: &[&str]| {
            let mut line = base.to_vec();
            line.extend_from_slice(extra);
            args(&line)
        };
        let flags = with(&[
            "--access-key-id",
            "flag-id",
            "--access-key-secret",
            "s",
            "--profile",
            "other",
        ]);
        assert_eq!(id(&flags, &env).unwrap(), "flag-id");
        assert_eq!(
            id(&with(&["--profile", "other"]), &env).unwrap(),
            "other-id"
        );
        assert_eq!(id(&with(&[]), &env).unwrap(), "ali-id");
        assert_eq!(id(&with(&[]), &env[2..]).unwrap(), "root-id");
        assert_eq!(id(&with(&[]), &[]).unwrap(), "cur-id");
        let sts = id(&with(&["--profile", "sts"]), &env).unwrap_err();
        assert!(sts.contains("StsToken"), "{sts}");
        let missing = id(&with(&["--profile", "nope"]), &env).unwrap_err();
        assert!(missing.contains("no profile `nope`"), "{missing}");
        let half = id(&with(&["--access-key-id", "only"]), &env).unwrap_err();
        assert!(half.contains("together"), "{half}");
        let none = args(&[
            "DescribeApiGroups",
            "--config-path",
            "/nonexistent/config.json",
        ]);
        assert!(id(&none, &[]).unwrap_err().starts_with("no AccessKey"));
    }
}
