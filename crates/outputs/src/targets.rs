//! Where a webhook may be delivered. A webhook is a request the server makes on a client's
//! behalf, so without a rule a reader could point one at the cloud's metadata service, a
//! database on the private network or the server's own admin port (server-side request
//! forgery). The rule: loopback, private, shared (CGNAT), link-local, unique-local, multicast,
//! unspecified, reserved and documentation addresses are refused, including an IPv4 address
//! hidden inside an IPv6 one, unless the operator allows a range (`--webhook-allow`).
//!
//! It is checked twice: on the addresses a URL's host resolves to when the webhook is
//! registered (a clear refusal for the client), and again on every delivery, through the
//! resolver the delivering HTTP client connects with, so that a name which later resolves
//! somewhere else (DNS rebinding) reaches only addresses that passed. Host spellings such as
//! `127.1`, `2130706433` or `0x7f000001` are normalised by the URL parser before any of this.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

/// How long registration waits for a name to resolve.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// The operator's rule for webhook targets: forbidden ranges are refused unless allowed.
#[derive(Debug, Clone, Default)]
pub struct TargetPolicy {
    allowed: Arc<Vec<IpNet>>,
}

/// Why a target was refused; the message is meant for the client who registered it.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error("{0} is not an http or https URL with a host")]
    NotHttp(String),
    #[error("the host {host} does not resolve: {reason}")]
    Unresolved { host: String, reason: String },
    #[error(
        "the host {host} is {addr}, {why}: webhooks are not delivered to loopback, private, \
         link-local, multicast or reserved addresses unless the operator allows the range"
    )]
    Forbidden {
        host: String,
        addr: IpAddr,
        why: &'static str,
    },
}

impl TargetPolicy {
    /// A policy that also permits these ranges (an operator's local receivers).
    pub fn allowing(allowed: Vec<IpNet>) -> TargetPolicy {
        TargetPolicy {
            allowed: Arc::new(allowed),
        }
    }

    pub fn allowed(&self) -> &[IpNet] {
        &self.allowed
    }

    /// `Err(why)` when `addr` may not be connected to.
    pub fn permits(&self, addr: IpAddr) -> Result<(), &'static str> {
        if self.allowed.iter().any(|net| net.contains(&addr)) {
            return Ok(());
        }
        match forbidden(addr) {
            Some(why) => Err(why),
            None => Ok(()),
        }
    }

    /// Resolves `netloc` (`host:port`) and returns its addresses if every one is permitted;
    /// one forbidden address refuses the lot, as a name may answer with several and the
    /// client picks.
    pub fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, TargetError> {
        let addrs: Vec<SocketAddr> = (host_for_lookup(host), port)
            .to_socket_addrs()
            .map_err(|e| TargetError::Unresolved {
                host: host.to_string(),
                reason: e.to_string(),
            })?
            .collect();
        if addrs.is_empty() {
            return Err(TargetError::Unresolved {
                host: host.to_string(),
                reason: "no addresses".into(),
            });
        }
        for a in &addrs {
            self.permits(a.ip()).map_err(|why| TargetError::Forbidden {
                host: host.to_string(),
                addr: a.ip(),
                why,
            })?;
        }
        Ok(addrs)
    }

    /// The check at registration: `url` parsed, its host resolved and every address
    /// permitted. Returns the URL as the parser normalised it, the form that is stored.
    pub async fn check_url(&self, url: &url::Url) -> Result<String, TargetError> {
        let host = match url.host_str() {
            Some(h) if !h.is_empty() && matches!(url.scheme(), "http" | "https") => h.to_string(),
            _ => return Err(TargetError::NotHttp(url.to_string())),
        };
        let port = url.port_or_known_default().unwrap_or(80);
        let policy = self.clone();
        let lookup = {
            let host = host.clone();
            tokio::task::spawn_blocking(move || policy.resolve(&host, port))
        };
        match tokio::time::timeout(RESOLVE_TIMEOUT, lookup).await {
            Ok(Ok(result)) => result.map(|_| url.to_string()),
            Ok(Err(e)) => Err(TargetError::Unresolved {
                host,
                reason: e.to_string(),
            }),
            Err(_) => Err(TargetError::Unresolved {
                host,
                reason: format!("no answer within {} s", RESOLVE_TIMEOUT.as_secs()),
            }),
        }
    }
}

/// The resolver the delivering client connects through: the same rule, at connect time.
impl ureq::Resolver for TargetPolicy {
    fn resolve(&self, netloc: &str) -> io::Result<Vec<SocketAddr>> {
        let (host, port) = split_netloc(netloc).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("bad address {netloc}"))
        })?;
        TargetPolicy::resolve(self, host, port)
            .map_err(|e| io::Error::new(io::ErrorKind::PermissionDenied, e.to_string()))
    }
}

/// `host:port` with an IPv6 literal in brackets, as ureq hands it over.
fn split_netloc(netloc: &str) -> Option<(&str, u16)> {
    let (host, port) = netloc.rsplit_once(':')?;
    Some((host, port.parse().ok()?))
}

/// The URL parser keeps an IPv6 literal in brackets; the system resolver wants it bare.
fn host_for_lookup(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

/// Why an address is no place for a webhook, if it is not.
pub fn forbidden(addr: IpAddr) -> Option<&'static str> {
    match addr {
        IpAddr::V4(v4) => forbidden_v4(v4),
        IpAddr::V6(v6) => forbidden_v6(v6),
    }
}

fn forbidden_v4(a: Ipv4Addr) -> Option<&'static str> {
    let [o0, o1, o2, _] = a.octets();
    Some(match () {
        () if a.is_unspecified() || o0 == 0 => "an unspecified address (0.0.0.0/8)",
        () if a.is_loopback() => "a loopback address",
        () if a.is_private() => "a private address (RFC 1918)",
        () if o0 == 100 && (o1 & 0xc0) == 64 => "a shared address (100.64.0.0/10, CGNAT)",
        () if a.is_link_local() => "a link-local address (169.254.0.0/16, cloud metadata)",
        () if o0 == 192 && o1 == 0 && o2 == 0 => "an IETF protocol address (192.0.0.0/24)",
        () if a.is_documentation() => "a documentation address",
        () if o0 == 198 && (o1 & 0xfe) == 18 => "a benchmarking address (198.18.0.0/15)",
        () if a.is_multicast() => "a multicast address",
        () if a.is_broadcast() => "the broadcast address",
        () if o0 >= 240 => "a reserved address (240.0.0.0/4)",
        () => return None,
    })
}

fn forbidden_v6(a: Ipv6Addr) -> Option<&'static str> {
    let s = a.segments();
    // An IPv4 address carried inside: mapped (::ffff:a.b.c.d), compatible (::a.b.c.d),
    // NAT64 (64:ff9b::a.b.c.d) and 6to4 (2002:AABB:CCDD::) are judged as that address.
    let embedded =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    if let Some(v4) = a.to_ipv4_mapped() {
        return forbidden_v4(v4);
    }
    if s[..6] == [0; 6] && !a.is_unspecified() && !a.is_loopback() {
        return forbidden_v4(embedded(s[6], s[7]));
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return forbidden_v4(embedded(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return forbidden_v4(embedded(s[1], s[2]));
    }
    Some(match () {
        () if a.is_unspecified() => "the unspecified address",
        () if a.is_loopback() => "the loopback address",
        () if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 => "a local-use NAT64 address",
        () if (s[0] & 0xfe00) == 0xfc00 => "a unique-local address (fc00::/7)",
        () if (s[0] & 0xffc0) == 0xfe80 => "a link-local address (fe80::/10)",
        () if (s[0] & 0xffc0) == 0xfec0 => "a site-local address (fec0::/10)",
        () if (s[0] & 0xff00) == 0xff00 => "a multicast address",
        () if s[0] == 0x2001 && s[1] == 0x0db8 => "a documentation address (2001:db8::/32)",
        () if s[0] == 0x2001 && s[1] == 0 => "a Teredo address (2001::/32)",
        () if s[..4] == [0x100, 0, 0, 0] => "a discard-only address (100::/64)",
        () => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(url: &str, policy: &TargetPolicy) -> Result<String, TargetError> {
        let url = url::Url::parse(url).expect("a URL");
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(policy.check_url(&url))
    }

    #[test]
    fn every_spelling_of_a_forbidden_host_is_refused() {
        let policy = TargetPolicy::default();
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/",
            "http://172.16.5.4/",
            "http://192.168.0.1/",
            "http://127.0.0.1:8080/",
            "http://localhost/",
            "http://[::1]/",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f000001/",
            "http://0177.0.0.1/",
            "http://0.0.0.0/",
            "http://[::]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:a9fe:a9fe]/",
            "http://[::127.0.0.1]/",
            "http://[64:ff9b::10.0.0.1]/",
            "http://[2002:7f00:1::]/",
            "http://[fd00::1]/",
            "http://[fe80::1]/",
            "http://100.64.0.1/",
            "http://224.0.0.1/",
            "http://[ff02::1]/",
            "http://255.255.255.255/",
            "http://240.0.0.1/",
        ] {
            match judged(url, &policy) {
                Err(TargetError::Forbidden { .. }) => {}
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn public_addresses_pass_and_the_allow_list_opens_a_range() {
        let policy = TargetPolicy::default();
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2a00:1450:4001:80b::200e",
            "100.128.0.1",
        ] {
            let ip: IpAddr = ip.parse().expect("an address");
            assert_eq!(policy.permits(ip), Ok(()), "{ip}");
        }
        let local = TargetPolicy::allowing(vec!["127.0.0.0/8".parse().expect("a range")]);
        assert!(judged("http://127.0.0.1:9/hook", &local).is_ok());
        assert!(judged("http://127.1:9/hook", &local).is_ok());
        assert!(matches!(
            judged("http://10.0.0.1/", &local),
            Err(TargetError::Forbidden { .. })
        ));
    }

    #[test]
    fn the_delivery_resolver_refuses_what_registration_would() {
        use ureq::Resolver;
        let policy = TargetPolicy::default();
        for netloc in [
            "127.0.0.1:80",
            "localhost:80",
            "[::1]:443",
            "169.254.169.254:80",
        ] {
            let e = Resolver::resolve(&policy, netloc).expect_err(netloc);
            assert_eq!(e.kind(), io::ErrorKind::PermissionDenied, "{netloc}");
        }
        let local = TargetPolicy::allowing(vec!["127.0.0.0/8".parse().expect("a range")]);
        let addrs = Resolver::resolve(&local, "127.0.0.1:8080").expect("allowed");
        assert_eq!(
            addrs,
            vec!["127.0.0.1:8080".parse::<SocketAddr>().expect("addr")]
        );
    }

    #[test]
    fn a_name_that_does_not_resolve_is_refused_with_its_name() {
        let e = judged("http://nothing.invalid/", &TargetPolicy::default()).expect_err("refused");
        assert!(e.to_string().contains("nothing.invalid"), "{e}");
        assert!(matches!(
            judged("ftp://example.com/", &TargetPolicy::default()),
            Err(TargetError::NotHttp(_))
        ));
    }
}
