//! The `ipControl` plugin (plugins.md §2): allow or refuse lists of IPs and CIDR blocks (IPv4
//! and IPv6), optionally per app, and where the client IP comes from.

use std::net::IpAddr;

/// An address block: an IP and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Block {
    addr: IpAddr,
    prefix: u8,
}

impl Block {
    pub fn parse(s: &str) -> Result<Block, String> {
        let s = s.trim();
        let (ip, prefix) = match s.split_once('/') {
            Some((ip, p)) => (ip, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = ip
            .parse()
            .map_err(|_| format!("`{s}` is not an IP or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("`{s}`: prefix must be 0..{max}"))?,
        };
        Ok(Block { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            (_, ip) => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(a) & mask == u32::from(b) & mask
            }
            (IpAddr::V6(a), IpAddr::V6(b)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(a) & mask == u128::from(b) & mask
            }
            _ => false,
        }
    }
}

/// Where the client IP is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The TCP peer.
    Peer,
    /// An entry of `X-Forwarded-For` (0 = first, -1 = last), used only when the peer is a
    /// trusted proxy.
    Xff(i32),
}

#[derive(Debug)]
pub struct IpControl {
    pub allow: bool,
    pub source: Source,
    /// Items without an app: apply to every caller.
    pub everyone: Vec<Block>,
    /// ALLOW items with an app: that app may call only from these blocks.
    pub per_app: Vec<(i64, Vec<Block>)>,
}

impl IpControl {
    /// Parses a plugin document (JSON or YAML).
    pub fn parse(doc: &str) -> Result<IpControl, String> {
        let v: serde_json::Value =
            serde_norway::from_str(doc).map_err(|e| format!("not JSON or YAML: {e}"))?;
        let allow = match v["type"].as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("ALLOW") => true,
            Some("REFUSE") => false,
            _ => return Err("`type` must be ALLOW or REFUSE".into()),
        };
        let source = match v["resource"].as_str() {
            None => Source::Peer,
            Some(r) => {
                let idx = r
                    .strip_prefix("XFF:")
                    .and_then(|i| i.trim().parse().ok())
                    .ok_or_else(|| format!("`resource: {r}`: expected `XFF:<index>`"))?;
                Source::Xff(idx)
            }
        };
        let mut c = IpControl {
            allow,
            source,
            everyone: Vec::new(),
            per_app: Vec::new(),
        };
        let items = v["items"]
            .as_array()
            .ok_or("`items` (a list) is required")?;
        for item in items {
            let blocks = item["blocks"]
                .as_array()
                .ok_or("each item needs `blocks`")?
                .iter()
                .map(|b| match b {
                    serde_json::Value::String(s) => Block::parse(s),
                    other => Err(format!("`{other}` is not an IP or CIDR block")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let app = match &item["appId"] {
                serde_json::Value::Null => None,
                serde_json::Value::Number(n) => n.as_i64(),
                serde_json::Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            match app {
                Some(_) if !allow => return Err("`appId` is only allowed in ALLOW mode".into()),
                Some(id) => c.per_app.push((id, blocks)),
                None => c.everyone.extend(blocks),
            }
        }
        Ok(c)
    }

    /// The app-less check (before authentication): true when `ip` may call.
    pub fn admits(&self, ip: IpAddr) -> bool {
        let listed = self.everyone.iter().any(|b| b.contains(ip));
        if self.allow {
            self.everyone.is_empty() || listed
        } else {
            !listed
        }
    }

    /// The app-bound check (after authentication): true when `app` may call from `ip`.
    pub fn admits_app(&self, app: i64, ip: IpAddr) -> bool {
        let mut rules = self.per_app.iter().filter(|(id, _)| *id == app).peekable();
        rules.peek().is_none() || rules.any(|(_, blocks)| blocks.iter().any(|b| b.contains(ip)))
    }
}

/// The client IP for this plugin: the peer, or an `X-Forwarded-For` entry when the peer is a
/// trusted proxy (never trust the header from anyone else).
pub fn client_ip(
    source: Source,
    peer: IpAddr,
    xff: Option<&http::HeaderValue>,
    trusted: &[Block],
) -> IpAddr {
    let Source::Xff(index) = source else {
        return peer;
    };
    if !trusted.iter().any(|b| b.contains(peer)) {
        return peer;
    }
    let Some(list) = xff.and_then(|v| v.to_str().ok()) else {
        return peer;
    };
    let entries: Vec<&str> = list.split(',').map(str::trim).collect();
    let i = if index < 0 {
        entries.len() as i64 + i64::from(index)
    } else {
        i64::from(index)
    };
    usize::try_from(i)
        .ok()
        .and_then(|i| entries.get(i))
        .and_then(|e| e.parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_match_v4_v6_and_mapped() {
        let b = Block::parse("10.1.0.0/16").unwrap();
        assert!(b.contains(ip("10.1.200.3")));
        assert!(!b.contains(ip("10.2.0.1")));
        assert!(b.contains(ip("::ffff:10.1.0.9")));
        let b6 = Block::parse("2001:db8::/32").unwrap();
        assert!(b6.contains(ip("2001:db8::1")));
        assert!(!b6.contains(ip("2001:db9::1")));
        assert!(Block::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Block::parse("1.2.3.4/33").is_err());
        assert!(Block::parse("nope").is_err());
    }

    #[test]
    fn allow_refuse_and_per_app() {
        let c = IpControl::parse("type: ALLOW\nitems:\n  - blocks: [10.0.0.0/8]\n  - blocks: [192.168.1.1]\n    appId: 42\n").unwrap();
        assert!(c.admits(ip("10.9.9.9")));
        assert!(!c.admits(ip("11.0.0.1")));
        assert!(c.admits_app(42, ip("192.168.1.1")));
        assert!(!c.admits_app(42, ip("10.0.0.1")));
        assert!(
            c.admits_app(7, ip("10.0.0.1")),
            "other apps are not restricted by the item"
        );
        let r =
            IpControl::parse(r#"{"type":"REFUSE","items":[{"blocks":["127.0.0.1"]}]}"#).unwrap();
        assert!(!r.admits(ip("127.0.0.1")));
        assert!(r.admits(ip("127.0.0.2")));
        assert!(IpControl::parse("type: REFUSE\nitems: [{blocks: [1.2.3.4], appId: 1}]").is_err());
        assert!(IpControl::parse("type: MAYBE\nitems: []").is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let trusted = [Block::parse("127.0.0.1").unwrap()];
        let xff = http::HeaderValue::from_static("203.0.113.7, 10.0.0.2");
        assert_eq!(
            client_ip(Source::Xff(0), ip("127.0.0.1"), Some(&xff), &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            client_ip(Source::Xff(-1), ip("127.0.0.1"), Some(&xff), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_ip(Source::Xff(0), ip("192.0.2.1"), Some(&xff), &trusted),
            ip("192.0.2.1")
        );
        assert_eq!(
            client_ip(Source::Peer, ip("127.0.0.1"), Some(&xff), &trusted),
            ip("127.0.0.1")
        );
    }
}
