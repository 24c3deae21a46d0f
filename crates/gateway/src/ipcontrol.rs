//! The `ipControl` plugin (plugins.md §2): allow or refuse lists of IPs and CIDR blocks, and
//! where the client IP comes from. Pure, so it lives in `apigw_plugin::ip_control`;
//! re-exported here for the handler and the snapshot.

pub use apigw_plugin::ip_control::*;
