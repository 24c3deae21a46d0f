//! Which backend addresses an API may name (issue: no tenant reaches what it must not).
//!
//! Always refused, for every account: unspecified (`0.0.0.0`, `::`), link-local and cloud
//! metadata (`169.254.0.0/16`, `fe80::/10`), multicast and broadcast addresses, the operator's
//! deny list, and the gateway's own listeners. Loopback and private ranges (RFC 1918,
//! `100.64.0.0/10`, `fc00::/7`, `localhost`) are allowed for the root account and refused for
//! other accounts unless the operator's allow list names them. Checked when a definition is
//! written (and again when the data plane compiles an API), for addresses that are IP literals
//! or `localhost`; host names are checked by the data plane after they resolve, when it
//! connects (`D504IL`).

use crate::ModelError;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// An IPv4 or IPv6 block: address and prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// `10.0.0.0/8`, `fd00::/8`, or a single address.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: bad prefix length"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// A comma-separated list of CIDR blocks (empty: none).
pub fn parse_cidrs(list: &str) -> Result<Vec<Cidr>, String> {
    list.split(',')
        .filter(|s| !s.trim().is_empty())
        .map(Cidr::parse)
        .collect()
}

/// The operator's settings for backend addresses.
#[derive(Debug, Clone, Default)]
pub struct BackendPolicy {
    /// Loopback or private blocks other accounts may use too (`APIGW_BACKEND_ALLOW`).
    pub allow: Vec<Cidr>,
    /// Blocks nobody may use (`APIGW_BACKEND_DENY`).
    pub deny: Vec<Cidr>,
    /// The gateway's own listeners (data plane, HTTPS, admin).
    pub own: Vec<SocketAddr>,
}

/// What kind of address an IP is, for the policy.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    /// Never a backend.
    Forbidden(&'static str),
    /// Loopback or private: the root account's, or allowed by the operator.
    Internal,
    Public,
}

fn kind(ip: IpAddr) -> Kind {
    match ip {
        IpAddr::V4(v4) => kind_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => kind_v4(v4),
            None => kind_v6(v6),
        },
    }
}

fn kind_v4(ip: Ipv4Addr) -> Kind {
    let o = ip.octets();
    if ip.is_unspecified() || o[0] == 0 {
        Kind::Forbidden("an unspecified address")
    } else if ip.is_link_local() {
        Kind::Forbidden("a link-local (cloud metadata) address")
    } else if ip.is_multicast() || ip.is_broadcast() {
        Kind::Forbidden("a multicast or broadcast address")
    } else if ip.is_loopback() || ip.is_private() || (o[0] == 100 && (o[1] & 0xc0) == 64) {
        Kind::Internal
    } else {
        Kind::Public
    }
}

fn kind_v6(ip: Ipv6Addr) -> Kind {
    let first = ip.segments()[0];
    if ip.is_unspecified() {
        Kind::Forbidden("an unspecified address")
    } else if (first & 0xffc0) == 0xfe80 {
        Kind::Forbidden("a link-local address")
    } else if ip.is_multicast() {
        Kind::Forbidden("a multicast address")
    } else if ip.is_loopback() || (first & 0xfe00) == 0xfc00 {
        Kind::Internal
    } else {
        Kind::Public
    }
}

/// The host (without `[]`) and port of `scheme://host[:port][/...]`.
fn host_and_port(address: &str) -> Option<(&str, u16)> {
    let (scheme, rest) = address.trim().split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let default = if scheme.eq_ignore_ascii_case("https") {
        443
    } else {
        80
    };
    if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default,
        };
        return Some((host, port));
    }
    match authority.rsplit_once(':') {
        Some((host, p)) => Some((host, p.parse().ok()?)),
        None => Some((authority, default)),
    }
}

/// Why a backend address may not be used: the host it names, the refused IP and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub host: String,
    pub ip: IpAddr,
    pub why: String,
}

impl BackendPolicy {
    /// Why an address a backend host name resolved to may not be used by an API of the root
    /// account (`root`) or another one; `None` when it may. The gateway's own listeners are
    /// not known here (a resolved address has no port yet).
    pub fn refuses_resolved(&self, ip: IpAddr, root: bool) -> Option<String> {
        if let Some(block) = self.deny.iter().find(|b| b.contains(ip)) {
            return Some(format!("{ip} is in the operator's deny list ({block:?})"));
        }
        match kind(ip) {
            Kind::Forbidden(what) => Some(format!("{ip} is {what}")),
            Kind::Internal if !root && !self.allow.iter().any(|b| b.contains(ip)) => Some(format!(
                "{ip} is a loopback or private address (allowed for the root account, or through APIGW_BACKEND_ALLOW)"
            )),
            _ => None,
        }
    }

    /// Checks one backend address (`http://host[:port]`) for an API of the root account
    /// (`root`) or another one. Host names other than `localhost` pass (checked on resolving).
    pub fn check(&self, address: &str, root: bool) -> Result<(), ModelError> {
        match self.refusal(address, root) {
            None => Ok(()),
            Some(r) => Err(ModelError::new(
                "InvalidBackendAddress",
                format!("backend address `{address}` is not allowed: {}", r.why),
            )),
        }
    }

    /// Why `address` may not be used (see [`BackendPolicy::check`]); `None` when it may.
    pub fn refusal(&self, address: &str, root: bool) -> Option<Refusal> {
        let (host, port) = host_and_port(address)?;
        // `localhost.` is `localhost`.
        let host = host.strip_suffix('.').unwrap_or(host);
        let ips: Vec<IpAddr> = if host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost")
        {
            vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
        } else {
            vec![host.parse::<IpAddr>().ok()?]
        };
        for ip in ips {
            let ip = match ip {
                IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
                v4 => v4,
            };
            let own = self.own.iter().any(|l| {
                l.port() == port
                    && (l.ip() == ip
                        || (l.ip().is_unspecified()
                            && (ip.is_loopback() || kind(ip) == Kind::Internal)))
            });
            let why = if own && !self.deny.iter().any(|b| b.contains(ip)) {
                Some(format!("{ip}:{port} is one of the gateway's own listeners"))
            } else {
                self.refuses_resolved(ip, root)
            };
            if let Some(why) = why {
                return Some(Refusal {
                    host: host.to_string(),
                    ip,
                    why,
                });
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> BackendPolicy {
        BackendPolicy {
            allow: parse_cidrs("10.1.0.0/16").unwrap(),
            deny: parse_cidrs("203.0.113.0/24").unwrap(),
            own: vec![
                "127.0.0.1:9080".parse().unwrap(),
                "0.0.0.0:8080".parse().unwrap(),
            ],
        }
    }

    #[test]
    fn addresses_by_kind_and_account() {
        let p = policy();
        for bad in [
            "http://169.254.169.254",
            "http://0.0.0.0:80",
            "http://[::]:80",
            "http://224.0.0.1",
            "http://[fe80::1]:80",
            "http://203.0.113.9",
            "http://127.0.0.1:9080",
            "http://localhost:8080",
            "http://[::ffff:169.254.169.254]",
            "http://[::ffff:127.0.0.1]:9080",
        ] {
            assert!(p.check(bad, true).is_err(), "{bad} for root");
        }
        for internal in [
            "http://127.0.0.1:7000",
            "http://10.0.0.5",
            "http://[::1]:7000",
            "http://localhost:7000",
            "http://192.168.1.1",
        ] {
            assert!(p.check(internal, true).is_ok(), "{internal} for root");
            assert!(p.check(internal, false).is_err(), "{internal} for a tenant");
        }
        assert!(p.check("http://10.1.2.3", false).is_ok(), "allow list");
        assert!(
            p.check("https://api.example.com", false).is_ok(),
            "names resolve later"
        );
        assert!(p.check("http://8.8.8.8", false).is_ok());
    }

    #[test]
    fn resolved_addresses_by_account() {
        let p = policy();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(p.refuses_resolved(ip("169.254.169.254"), true).is_some());
        assert!(p.refuses_resolved(ip("203.0.113.1"), true).is_some());
        assert!(p.refuses_resolved(ip("127.0.0.1"), true).is_none());
        assert!(p.refuses_resolved(ip("127.0.0.1"), false).is_some());
        assert!(p.refuses_resolved(ip("10.1.0.9"), false).is_none());
        assert!(p.refuses_resolved(ip("93.184.216.34"), false).is_none());
        let r = p.refusal("http://[::1]:9", false).unwrap();
        assert_eq!((r.host.as_str(), r.ip), ("::1", ip("::1")));
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.255.0.1".parse().unwrap()));
        assert!(!c.contains("11.0.0.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
        assert!(Cidr::parse("::/0")
            .unwrap()
            .contains("2001:db8::1".parse().unwrap()));
    }
}
