//! The `cors` plugin: which origins may call an API from a browser, and the
//! `Access-Control-*` headers answering preflights and decorating actual responses. Pure, so
//! it lives in `apigw_plugin::cors`; re-exported here for the handler.

pub use apigw_plugin::cors::*;
