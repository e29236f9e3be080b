//! The client's IP address: the socket peer, or, only when that peer is a configured trusted proxy, the
//! right-most address in `X-Forwarded-For` that is not itself a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use crate::state::AppState;

/// The client address as far as this server can trust it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// Pure resolution, separated from the extractor so it can be tested without a socket.
pub fn resolve(peer: IpAddr, forwarded_for: Option<&str>, trusted: &[IpAddr]) -> IpAddr {
    // On a dual-stack listener an IPv4 peer arrives as ::ffff:a.b.c.d; compare it as IPv4.
    let peer = peer.to_canonical();
    if !trusted.contains(&peer) {
        return peer;
    }
    let Some(chain) = forwarded_for else {
        return peer;
    };
    let mut last = peer;
    for hop in chain.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted.contains(&ip.to_canonical()) => last = ip.to_canonical(),
            Ok(ip) => return ip.to_canonical(),
            Err(_) => return last,
        }
    }
    last
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let xff = parts.headers.get("x-forwarded-for").and_then(|v| v.to_str().ok());
        Ok(ClientIp(resolve(peer, xff, &state.settings.http.trusted_proxies)))
    }
}

/// Who sent the request, for the audit trail.
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub ip: String,
    pub user_agent: Option<String>,
}

impl FromRequestParts<AppState> for RequestMeta {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect());
        Ok(RequestMeta {
            ip: ip.to_string(),
            user_agent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::resolve;
    use std::net::IpAddr;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        assert_eq!(
            resolve(ip("203.0.113.9"), Some("1.2.3.4"), &[ip("10.0.0.1")]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn an_ipv4_mapped_peer_matches_its_ipv4_proxy_entry() {
        assert_eq!(
            resolve(ip("::ffff:10.0.0.1"), Some("1.2.3.4"), &[ip("10.0.0.1")]),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn the_rightmost_untrusted_hop_is_the_client_behind_a_trusted_proxy() {
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            resolve(ip("10.0.0.1"), Some("6.6.6.6, 1.2.3.4, 10.0.0.2"), &trusted),
            ip("1.2.3.4")
        );
        assert_eq!(resolve(ip("10.0.0.1"), None, &trusted), ip("10.0.0.1"));
        assert_eq!(resolve(ip("10.0.0.1"), Some("garbage"), &trusted), ip("10.0.0.1"));
    }
}
