//! The declarative file (`apigw apply -f`): `GatewayFile::parse` then `validate`, everything
//! that is checked before the store is read.
//!
//! Invariants checked:
//! - nothing panics (YAML and JSON of any shape, any field values);
//! - every API of a file `validate` accepts compiles for the data plane (route pattern,
//!   method, parameters) and every plugin document parses with `apigw_plugin::parse`;
//! - a file that parses serialises (`to_yaml`, what `apigw export` writes), and what it
//!   writes parses again to a file that validates exactly when the original does and
//!   serialises to the same text.
#![no_main]

use apigw_control::apply::GatewayFile;
use apigw_gateway::params::ParamPlan;
use apigw_model::params::Parameters;
use apigw_model::PathPattern;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(file) = GatewayFile::parse(text) else {
        return;
    };
    let valid = file.validate();
    if valid.is_ok() {
        for g in &file.groups {
            for a in &g.apis {
                let def = &a.definition;
                let rc = &def.request_config;
                let pattern = PathPattern::parse(&rc.request_path, rc.escape_path_param)
                    .expect("a validated RequestPath parses");
                let method = def.method();
                if method != "ANY" {
                    http::Method::from_bytes(method.as_bytes()).expect("a validated method");
                }
                let params = Parameters::of(def, &pattern).expect("validated parameters");
                if let Err(e) = ParamPlan::compile(&params, &pattern) {
                    panic!(
                        "{}/{}: validated parameters do not compile: {e}",
                        g.group_name, def.api_name
                    );
                }
            }
        }
        for p in &file.plugins {
            apigw_plugin::parse(&p.plugin_type, &p.plugin_data)
                .expect("a validated plugin document parses");
        }
    }
    let yaml = file.to_yaml();
    let again = GatewayFile::parse(&yaml)
        .unwrap_or_else(|e| panic!("to_yaml output does not parse: {e}\n{yaml}"));
    assert_eq!(
        again.validate().is_ok(),
        valid.is_ok(),
        "validation changed through to_yaml: {valid:?}\n{yaml}"
    );
    assert_eq!(again.to_yaml(), yaml, "to_yaml is not stable");
});
