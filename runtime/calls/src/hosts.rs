//! Which hosts a workflow's calls may reach: the app manifest's
//! `allowed-outbound-hosts`, checked before every request, each redirect
//! hop and each OpenAPI document fetch.
//!
//! A pattern is `[scheme://]host[:port]`:
//! - scheme `http`, `https` or `*`; without one, either;
//! - host a name, an IP address (`[::1]` for IPv6), `*.example.com` (any
//!   name under it, not `example.com` itself) or `*` (any host);
//! - port a number or `*`; without one, the scheme's default (80, 443).
//!
//! `*` alone allows everything, as no list does.

use std::fmt;

use ureq::http::Uri;

/// The hosts a workflow may call: every host, or those the patterns allow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedHosts(Option<Vec<HostPattern>>);

/// One entry of an allow-list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPattern {
    /// `None`: http or https.
    scheme: Option<String>,
    host: Host,
    /// `None`: any port; else the port, the scheme's default when unwritten.
    port: Port,
    written: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Host {
    Any,
    Exactly(String),
    /// A name under this suffix (kept with its leading dot).
    Under(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    Any,
    Default,
    Exactly(u16),
}

impl AllowedHosts {
    /// Every host: what an app that lists none gets.
    pub fn any() -> Self {
        AllowedHosts(None)
    }

    /// Only what `patterns` allow (none: no host at all).
    pub fn only(patterns: Vec<HostPattern>) -> Self {
        if patterns.iter().any(HostPattern::allows_everything) {
            return AllowedHosts(None);
        }
        AllowedHosts(Some(patterns))
    }

    /// Whether a request to `uri` may be sent; the error says why not, and
    /// where to allow it.
    pub fn check(&self, uri: &str) -> Result<(), String> {
        let Some(patterns) = &self.0 else {
            return Ok(());
        };
        let parsed: Uri = uri
            .parse()
            .map_err(|e| format!("'{uri}' is not a URI: {e}"))?;
        let (Some(scheme), Some(host)) = (parsed.scheme_str(), parsed.host()) else {
            return Err(format!("'{uri}' names no scheme and host"));
        };
        let scheme = scheme.to_ascii_lowercase();
        let host = host.to_ascii_lowercase();
        let port = parsed.port_u16().or_else(|| default_port(&scheme));
        if patterns.iter().any(|p| p.allows(&scheme, &host, port)) {
            return Ok(());
        }
        let origin = match parsed.port_u16() {
            Some(port) => format!("{scheme}://{host}:{port}"),
            None => format!("{scheme}://{host}"),
        };
        Err(format!(
            "{origin} is not among the hosts this app's workflows may call; add it to allowed-outbound-hosts in the manifest's [app]"
        ))
    }
}

impl HostPattern {
    /// Reads one pattern; the error says what is wrong with it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let trimmed = text.trim();
        let (scheme, rest) = match trimmed.split_once("://") {
            Some((scheme, rest)) => (Some(scheme.to_ascii_lowercase()), rest),
            None => (None, trimmed),
        };
        let scheme = match scheme.as_deref() {
            None | Some("*") => None,
            Some("http") | Some("https") => scheme,
            Some(other) => {
                return Err(format!(
                    "'{text}': scheme '{other}' is none of http, https or *"
                ));
            }
        };
        if rest.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "'{text}': a host pattern is [scheme://]host[:port], without a path, query or user"
            ));
        }
        let (host, port) = split_port(rest).map_err(|why| format!("'{text}': {why}"))?;
        let host = host.to_ascii_lowercase();
        let host = if host == "*" {
            Host::Any
        } else if let Some(suffix) = host.strip_prefix("*.") {
            if suffix.is_empty() || suffix.contains('*') {
                return Err(format!("'{text}': write a wildcard as *.example.com"));
            }
            Host::Under(format!(".{suffix}"))
        } else if host.is_empty() || host.contains('*') {
            return Err(format!(
                "'{text}': name a host, *.example.com or * (any host)"
            ));
        } else {
            Host::Exactly(host)
        };
        Ok(HostPattern {
            scheme,
            host,
            port,
            written: text.to_string(),
        })
    }

    fn allows_everything(&self) -> bool {
        self.scheme.is_none() && self.host == Host::Any && self.port == Port::Any
    }

    fn allows(&self, scheme: &str, host: &str, port: Option<u16>) -> bool {
        let scheme_ok = self.scheme.as_deref().is_none_or(|s| s == scheme);
        let host_ok = match &self.host {
            Host::Any => true,
            Host::Exactly(name) => name == host,
            Host::Under(suffix) => host.ends_with(suffix.as_str()),
        };
        let port_ok = match self.port {
            Port::Any => true,
            Port::Default => port.is_some() && port == default_port(scheme),
            Port::Exactly(wanted) => port == Some(wanted),
        };
        scheme_ok && host_ok && port_ok
    }
}

impl fmt::Display for HostPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.written)
    }
}

/// `*` alone means any port too; a host without one, the default port.
fn split_port(rest: &str) -> Result<(&str, Port), String> {
    if rest == "*" {
        return Ok((rest, Port::Any));
    }
    // An IPv6 address is bracketed: its colons are not the port's.
    let after_host = if rest.starts_with('[') {
        rest.find(']')
            .map(|end| end + 1)
            .ok_or("an IPv6 address ends with ']'")?
    } else {
        rest.find(':').unwrap_or(rest.len())
    };
    let (host, port) = rest.split_at(after_host);
    let port = match port.strip_prefix(':') {
        None if port.is_empty() => Port::Default,
        None => return Err("after an IPv6 address comes ':' and a port".into()),
        Some("*") => Port::Any,
        Some(number) => Port::Exactly(
            number
                .parse()
                .map_err(|_| format!("port '{number}' is not a number from 0 to 65535 or *"))?,
        ),
    };
    Ok((host, port))
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(patterns: &[&str]) -> AllowedHosts {
        AllowedHosts::only(
            patterns
                .iter()
                .map(|p| HostPattern::parse(p).unwrap())
                .collect(),
        )
    }

    #[test]
    fn a_pattern_allows_its_scheme_host_and_port() {
        let allowed = hosts(&["https://api.example.com", "*.example.org", "127.0.0.1:*"]);
        for uri in [
            "https://api.example.com/pets",
            "https://API.example.com:443/",
            "http://a.example.org/x",
            "https://b.c.example.org/",
            "http://127.0.0.1:8080/",
            "http://127.0.0.1/",
        ] {
            assert_eq!(allowed.check(uri), Ok(()), "{uri}");
        }
        for uri in [
            "http://api.example.com/",
            "https://api.example.com:8443/",
            "https://example.org/",
            "https://evil-example.org/",
            "http://a.example.org:8080/",
            "http://localhost/",
        ] {
            let error = allowed.check(uri).unwrap_err();
            assert!(error.contains("allowed-outbound-hosts"), "{uri}: {error}");
        }
    }

    #[test]
    fn ipv6_hosts_and_any() {
        let allowed = hosts(&["http://[::1]:8080"]);
        assert_eq!(allowed.check("http://[::1]:8080/a"), Ok(()));
        assert!(allowed.check("http://[::1]:8081/a").is_err());
        assert_eq!(hosts(&["*"]), AllowedHosts::any());
        assert!(hosts(&[]).check("http://x/").is_err());
        assert_eq!(AllowedHosts::any().check("http://x/"), Ok(()));
    }

    #[test]
    fn a_bad_pattern_says_what_is_wrong() {
        for (pattern, says) in [
            ("ftp://x", "scheme 'ftp'"),
            ("https://x/path", "without a path"),
            ("x:http", "port 'http'"),
            ("a.*.com", "name a host"),
            ("*.", "wildcard"),
            ("[::1", "ends with ']'"),
        ] {
            let error = HostPattern::parse(pattern).unwrap_err();
            assert!(error.contains(says), "{pattern}: {error}");
        }
    }
}
