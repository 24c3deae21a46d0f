//! `apigw serve --config apigw.yaml` (or `APIGW_CONFIG`): a node's settings in one reviewed
//! file. The file is a YAML mapping of `serve`'s options by their long names (`listen:
//! 0.0.0.0:8080`, `max-body-bytes: 1048576`; `snake_case` names are taken too). A setting given
//! on the command line or in its environment variable wins over the file; the file wins over
//! the built-in default. A name `serve` does not know, or a value that is not a scalar, is
//! refused before anything starts.

use clap::parser::ValueSource;
use clap::CommandFactory;
use std::ffi::OsString;

/// The command line with the file's settings added as options, for the settings the command
/// line and the environment leave at their defaults. Unchanged when the command is not
/// `serve` or has no `--config`, and when it does not parse (the real parse reports that).
pub fn expand(args: Vec<OsString>) -> Result<Vec<OsString>, String> {
    let command = crate::Cli::command();
    let Ok(matches) = command.clone().try_get_matches_from(&args) else {
        return Ok(args);
    };
    let Some(("serve", serve)) = matches.subcommand() else {
        return Ok(args);
    };
    let Some(path) = serve.get_one::<std::path::PathBuf>("config") else {
        return Ok(args);
    };
    let shown = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("--config {shown}: {e}"))?;
    let settings: std::collections::BTreeMap<String, serde_norway::Value> =
        serde_norway::from_str(&text).map_err(|e| format!("--config {shown}: {e}"))?;
    let serve_command = command
        .find_subcommand("serve")
        .expect("the serve command")
        .clone();
    let mut out = args;
    for (name, value) in settings {
        let long = name.replace('_', "-");
        let arg = serve_command
            .get_arguments()
            .find(|a| a.get_long() == Some(long.as_str()) && long != "config")
            .ok_or_else(|| {
                format!("--config {shown}: unknown setting `{name}` (the settings are the long options of `apigw serve --help`)")
            })?;
        let value = scalar(&value)
            .ok_or_else(|| format!("--config {shown}: `{name}` must be a single value"))?;
        if matches!(
            serve.value_source(arg.get_id().as_str()),
            Some(ValueSource::CommandLine | ValueSource::EnvVariable)
        ) {
            continue;
        }
        out.push(format!("--{long}={value}").into());
    }
    Ok(out)
}

fn scalar(value: &serde_norway::Value) -> Option<String> {
    match value {
        serde_norway::Value::String(s) => Some(s.clone()),
        serde_norway::Value::Number(n) => Some(n.to_string()),
        serde_norway::Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}
