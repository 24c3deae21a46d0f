//! apigw's domain model: the vocabulary every other crate speaks.
//!
//! Field names follow CloudAPI 2016-07-14 (`RequestConfig`, `ServiceConfig`, ...) so that the
//! management API, the declarative file and the store all read and write the same JSON.
//! Architecture invariant: this crate performs no I/O and knows nothing about HTTP servers,
//! stores or clocks; everything here is a pure function of its inputs.
#![forbid(unsafe_code)]

pub mod account;
pub mod api;
pub mod app;
pub mod backend_address;
pub mod codes;
pub mod error;
pub mod group;
pub mod monitor;
pub mod openid;
pub mod params;
pub mod path;
pub mod plugin;
pub mod service;
pub mod stage;
pub mod validate;

pub use account::AccessKey;
pub use api::{
    ApiDefinition, AuthType, Deployment, MockHeader, RequestConfig, ServiceConfig, VpcConfig,
};
pub use app::{App, AppKeyPair, Authorization};
pub use error::ModelError;
pub use group::{Domain, DomainCertificate, Group, WebSocketStatus};
pub use path::{PathPattern, Segment};
pub use plugin::{Plugin, PluginBinding};
pub use service::{BackendConfig, BackendModel, BackendService, StageVariable, VpcAccess};
pub use stage::Stage;
