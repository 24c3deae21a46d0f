//! The gateway's error table: every `X-Ca-Error-Code` the data plane can send, defined once.
//!
//! Nothing else in the code base spells an error code: the data plane names these constants.
//! Templates use `${Name}` placeholders, filled in order by [`ErrorCode::message`]. Codes that
//! only exist in the cloud (billing, marketplace, Function Compute, OAuth2) and codes of
//! features apigw does not have (each with a comment saying which) are listed so the table is
//! complete, and marked `emitted: false`. `crates/model/tests/honest_table.rs` checks that
//! every row marked `emitted: true` is produced by some source and asserted by some test, and
//! that no other row is produced; `docs/error-codes.md` says where each one comes from.

/// One row of the error table.
#[derive(Debug, PartialEq, Eq)]
pub struct ErrorCode {
    pub code: &'static str,
    pub status: u16,
    pub template: &'static str,
    /// False for codes apigw never sends: cloud-only ones, and those of features it lacks.
    pub emitted: bool,
}

impl ErrorCode {
    /// The message with each `${...}` placeholder replaced by the next value, in order.
    /// Missing values leave the placeholder empty; extra values are ignored.
    pub fn message(&self, values: &[&str]) -> String {
        let mut out = String::with_capacity(self.template.len() + 32);
        let mut rest = self.template;
        let mut values = values.iter();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            match rest[start..].find('}') {
                Some(end) => {
                    out.push_str(values.next().copied().unwrap_or(""));
                    rest = &rest[start + end + 1..];
                }
                None => {
                    rest = &rest[start..];
                    break;
                }
            }
        }
        out.push_str(rest);
        out
    }

    /// True when the template has no placeholder, so the message is the template itself.
    pub fn is_fixed(&self) -> bool {
        !self.template.contains("${")
    }
}

macro_rules! table {
    ($($name:ident $status:literal $emitted:literal $template:literal;)*) => {
        $(pub const $name: ErrorCode = ErrorCode {
            code: stringify!($name), status: $status, template: $template, emitted: $emitted,
        };)*
        /// Every code, in table order.
        pub const ALL: &[&ErrorCode] = &[$(&$name),*];
    };
}

table! {
    I400HD 400 true "Invalid Header `${HeaderName}` ${Reason}";
    I400MH 400 true "Header `${HeaderName}` is Required";
    I400BD 400 true "Invalid Body: ${Reason}";
    I400PA 400 true "Invalid Request Path `${Reason}`";
    I405UM 405 true "Unsupported Method `${Reason}`";
    I400RU 400 true "Invalid Request Uri `${Reason}`";
    I403PT 403 true "Invalid protocol ${Protocol} unsupported";
    I413RL 413 true "Request body too Large";
    I413UL 413 true "Request URL too Large";
    I400CT 400 true "Invalid Content-Type: `${Reason}`";
    I404DO 404 true "Invalid Domain `${DomainName}`";
    // apigw's own: over TLS, a `Host` the certificate chosen by the connection's SNI does not
    // cover (RFC 9110 §15.5.20); the client should ask again on a connection for that host.
    I421MR 421 true "Misdirected Request: `${Host}` is not served by this connection's certificate";
    // Not emitted: apigw is one instance; a group is never moved to another one.
    I410GG 410 false "Group's instance invalid";
    I400SG 400 true "Invalid Stage";
    I404NF 404 true "API not found ${Reason}";
    X400PM 400 true "Invalid plugin meta ${PluginName} ${Reason}";
    X500ED 500 false "Expired api definition";
    X500AM 500 true "Invalid Api Meta, try deploy again or contact us via ticket";
    // Not emitted: the snapshot is compiled from one consistent store (a domain goes with its
    // group), so no request meets inconsistent group/domain data.
    X403DG 403 false "Bad Domain or Group: ${Reason}";
    // Not emitted: no operator block of a domain yet (needs a flag on the domain and a check
    // in routing).
    B451DO 451 false "Unavailable Domain for Legal Reasons";
    // Not emitted: no operator block of a group yet (needs a flag on the group and a check in
    // routing).
    B451GO 451 false "Unavailable Group for Legal Reasons";
    B403OD 403 false "Provider Account Overdue";
    A400AC 400 true "Invalid AppCode ${Reason}";
    A400IK 400 true "Invalid AppKey";
    A403IS 403 true "Invalid Signature, Server StringToSign:`${StringToSign}`";
    A403EP 403 true "App authorization expired";
    // Not emitted: an APPOPENID API verifies the id token of its own OpenIdConnectConfig, so no
    // plugin is ever needed (a stored one without a config fails closed with X500AM).
    A403PR 403 false "Plugin Authorization Needed";
    A400MA 400 true "Need authorization, `X-Ca-Key` or `Authorization: APPCODE ...` is required";
    A403UA 403 true "Unauthorized, APP not authorized to call the API in stage ${Stage}";
    I400I5 400 true "Invalid Content-MD5 ${Reason}";
    I400NC 400 true "X-Ca-Nonce is required";
    S403NU 403 true "Nonce Used";
    S403TE 403 true "X-Ca-Timestamp is expired";
    I400MP 400 true "Parameter `${ParameterName}` is required";
    I400IP 400 true "Invalid parameter `${ParameterName}` ${Reason}";
    I400JR 400 true "JWT required";
    S403JI 403 true "Claim `jti` is required when `preventJtiReplay:true`";
    A403SV 403 true "Claim `jti` in JWT is used";
    I400JD 400 true "JWT Deserialize Failed: `${Token}`";
    A403JT 403 true "Invalid JWT: ${Reason}";
    A403JK 403 true "No matching JWK, `${kid}` not found";
    A403JE 403 true "JWT is expired at `${Date}`";
    I400JP 400 true "Invalid JWT plugin config: ${JWT}";
    A403OL 403 false "OAuth2 Login failed: ${Reason}";
    A403OU 403 false "OAuth2 Get User Info failed: ${Reason}";
    A401OT 401 false "Invalid OAuth2 Access Token";
    A401OM 401 false "OAuth2 Access Token is required";
    T429ID 429 true "Throttled by INNER DOMAIN Flow Control, ${Domain} is a test domain, only ${Quota} requests per day";
    T429IN 429 true "Throttled by INSTANCE Flow Control";
    T429GR 429 true "Throttled by GROUP Flow Control";
    T429PA 429 true "Throttled by API Flow Control";
    T429PR 429 true "Throttled by PLUGIN Flow Control";
    // Not emitted: no usage plans.
    T429UP 429 false "Throttled by Usage Plan Flow Control";
    // Not emitted: no gateway self-protection limiter yet (needs a data-plane change).
    T429SR 429 false "Throttled by SERVER Flow Control";
    // Not emitted: no free-form throttling; T429ID/IN/GR/PA/PR cover every limit apigw has.
    T429MR 429 false "Too Many Requests, throttle by `${Description}`";
    A403IP 403 true "Access denied by IP Control Policy";
    // Not emitted: nothing tells internet callers from VPC callers; `DisableInternet` is stored
    // but not enforced.
    A403IN 403 false "Access from internet is disabled ${Reason}";
    A403VN 403 false "Access from invalid VPC is disabled";
    A403AC 403 true "Access Control Forbidden by ${RuleName}";
    A403CO 403 true "Cross origin resource forbidden ${Domain}";
    I404CO 404 true "Cross origin resource not found ${Method} - ${Path}";
    I404CH 404 true "Content not cached, with `Cache-Control:only-if-cached`";
    // Not emitted: no generic lookup answers it; I404DO, I404NF, I404CO and I404CH cover
    // apigw's 404s.
    I404NR 404 false "${Resource} not found";
    // Not emitted: per-stage backends (`UN_SPECIFIED` / `BackendId`) are not modelled.
    I404SR 404 true "Stage route missing: ${Reason}";
    B403MO 403 false "Api Market Subscription overdue";
    B403MQ 403 false "Api Market Subscription quota exhausted";
    B403ME 403 false "Api Market Subscription expired";
    B403MI 403 false "Api Market Subscription invalid";
    D504RE 504 true "Backend domain `${Domain}` resolve failed";
    D504IL 504 true "Backend domain `${Domain}` resolve to illegal address `${Address}`";
    D504CO 504 true "Backend service connect failed `${Reason}`";
    D504CS 504 true "Backend http ssl connect failed `${Reason}`";
    D504TO 504 true "Backend service request timeout";
    // Not emitted: no VPC access mappings.
    X504VE 504 true "Backend service vpc mapped failed";
    D503BB 503 true "Backend circuit breaker busy";
    D503CB 503 true "Backend circuit breaker open, ${Reason}";
    I508LD 508 true "Loop Detected";
    // Not emitted: no WebSocket two-way (device) APIs.
    I404DD 404 false "Device id ${DeviceId} not found";
    A403FC 403 false "Function Compute AssumeRole failed ${RequestId}:${Reason}";
    D502FC 502 false "Function Compute response invalid: ${Reason}";
    // Not emitted: never an answer (the client is gone), and the failed write is not logged
    // with it yet.
    N502RE 502 false "Send Response IO Exception: ${Reason}";
    X500ER 500 true "Service Internal Error";
    X503BZ 503 true "Service Busy";
    X503NS 503 true "Replay protection unavailable, try again later";
    // apigw's own: a request still in flight when the shutdown deadline passes.
    X503SD 503 true "Service is shutting down";
    X504TO 504 true "Service timeout";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fills_placeholders_in_order() {
        assert_eq!(
            I404DO.message(&["example.com"]),
            "Invalid Domain `example.com`"
        );
        assert_eq!(
            I403PT.message(&["HTTP"]),
            "Invalid protocol HTTP unsupported"
        );
        assert_eq!(
            I404CO.message(&["GET", "/x"]),
            "Cross origin resource not found GET - /x"
        );
        assert_eq!(D504TO.message(&[]), "Backend service request timeout");
        assert_eq!(I404NF.message(&[]), "API not found ");
    }

    #[test]
    fn codes_are_unique_and_shaped_like_the_spec() {
        let mut seen = std::collections::HashSet::new();
        for c in ALL {
            assert!(seen.insert(c.code), "{} twice", c.code);
            assert_eq!(c.code.len(), 6, "{}", c.code);
            // The status is spelled in the code: I404DO is a 404.
            assert_eq!(&c.code[1..4], c.status.to_string(), "{}", c.code);
        }
        assert_eq!(ALL.len(), 86);
    }
}
