//! The client's IP address: the socket peer, or, only when that peer is a configured trusted proxy, the
//! right-most address in `X-Forwarded-For` that is not itself a trusted proxy.

use std::borrow::Cow;
use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
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

/// Every `X-Forwarded-For` line as one list, in order. A proxy may add a line of its own instead of
/// appending to the client's, so reading only the first line would trust what the client wrote. A line
/// that is not text becomes an empty hop, which [`resolve`] stops at like any unreadable address.
pub fn forwarded_for(headers: &HeaderMap) -> Option<Cow<'_, str>> {
    let mut lines = headers.get_all("x-forwarded-for").iter();
    let first = lines.next()?.to_str().unwrap_or("");
    let Some(second) = lines.next() else {
        return Some(Cow::Borrowed(first));
    };
    let mut chain = first.to_owned();
    for line in std::iter::once(second).chain(lines) {
        chain.push(',');
        chain.push_str(line.to_str().unwrap_or(""));
    }
    Some(Cow::Owned(chain))
}

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::from([127, 0, 0, 1]));
        let xff = forwarded_for(&parts.headers);
        Ok(ClientIp(resolve(
            peer,
            xff.as_deref(),
            &state.settings().http.trusted_proxies,
        )))
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
    use super::{forwarded_for, resolve};
    use axum::http::{HeaderMap, HeaderValue};
    use proptest::prelude::*;
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

    fn headers(lines: &[&[u8]]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for line in lines {
            map.append("x-forwarded-for", HeaderValue::from_bytes(line).unwrap());
        }
        map
    }

    #[test]
    fn a_second_forwarded_for_line_added_by_the_proxy_is_not_shadowed_by_the_clients() {
        // The client sends its own line; the proxy adds the address it saw as another line.
        let map = headers(&[b"6.6.6.6", b"1.2.3.4"]);
        let chain = forwarded_for(&map);
        assert_eq!(chain.as_deref(), Some("6.6.6.6,1.2.3.4"));
        assert_eq!(
            resolve(ip("10.0.0.1"), chain.as_deref(), &[ip("10.0.0.1")]),
            ip("1.2.3.4")
        );
    }

    #[test]
    fn a_forwarded_for_line_that_is_not_text_stops_the_walk_where_it_stands() {
        let map = headers(&[b"6.6.6.6", b"\xff", b"1.2.3.4, 10.0.0.2"]);
        let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
        assert_eq!(
            resolve(ip("10.0.0.1"), forwarded_for(&map).as_deref(), &trusted),
            ip("1.2.3.4")
        );
        let map = headers(&[b"6.6.6.6", b"\xff", b"10.0.0.2"]);
        assert_eq!(
            resolve(ip("10.0.0.1"), forwarded_for(&map).as_deref(), &trusted),
            ip("10.0.0.2")
        );
        assert_eq!(forwarded_for(&HeaderMap::new()), None);
    }

    /// Addresses from a small pool, so trusted ones, repeats and IPv4-mapped spellings are common.
    fn address() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("10.0.0.1".to_owned()),
            Just("10.0.0.2".to_owned()),
            Just("::ffff:10.0.0.2".to_owned()),
            Just("2001:db8::1".to_owned()),
            (0u8..4, 0u8..4).prop_map(|(a, b)| format!("203.0.{a}.{b}")),
            Just("garbage".to_owned()),
            Just("1.2.3.4:80".to_owned()),
            Just(String::new()),
        ]
    }

    proptest! {
        #[test]
        fn the_client_is_the_rightmost_untrusted_hop_and_never_an_address_left_of_it(
            peer in address().prop_filter("a peer is an address", |a| a.parse::<IpAddr>().is_ok()),
            hops in proptest::collection::vec((address(), "[ ]{0,2}"), 0..8),
            header in proptest::bool::ANY,
        ) {
            let trusted = [ip("10.0.0.1"), ip("10.0.0.2")];
            let peer = ip(&peer);
            let chain = hops.iter().map(|(a, pad)| format!("{pad}{a}{pad}")).collect::<Vec<_>>().join(",");
            let client = resolve(peer, header.then_some(chain.as_str()), &trusted);

            prop_assert_eq!(client, client.to_canonical(), "compared and reported in one spelling");
            if !trusted.contains(&peer.to_canonical()) || !header {
                prop_assert_eq!(client, peer.to_canonical());
                return Ok(());
            }
            // Walking right to left, the hops a trusted proxy vouches for: up to the first untrusted
            // address, or up to the first hop that is not an address at all.
            let mut vouched = Vec::new();
            for hop in chain.rsplit(',') {
                let Ok(hop) = hop.trim().parse::<IpAddr>() else { break };
                vouched.push(hop.to_canonical());
                if !trusted.contains(&hop.to_canonical()) {
                    break;
                }
            }
            match vouched.iter().position(|hop| !trusted.contains(hop)) {
                Some(i) => prop_assert_eq!(client, vouched[i]),
                // Nothing but proxies: the nearest-to-the-client proxy is all that is known.
                None => prop_assert_eq!(client, vouched.last().copied().unwrap_or(peer.to_canonical())),
            }
        }
    }
}
