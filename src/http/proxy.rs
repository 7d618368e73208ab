//! What a request says about where it came from, believed only from configured reverse
//! proxies (`PZP_TRUSTED_PROXIES`): any client can write `X-Forwarded-For` or `Host`, and
//! neither may decide the address in the audit trail or the host in the links we hand out.

use std::net::IpAddr;

use actix_web::HttpRequest;

/// The peer's address, unless the peer is a trusted proxy: then the client address that
/// proxy forwarded (`Forwarded: for=` or `X-Forwarded-For`).
pub fn client_address(req: &HttpRequest, trusted: &[IpAddr]) -> Option<String> {
    let peer = req.peer_addr().map(|a| a.ip());
    if peer.is_some_and(|p| trusted.contains(&p)) {
        if let Some(forwarded) = req.connection_info().realip_remote_addr() {
            return Some(forwarded.to_string());
        }
    }
    peer.map(|p| p.to_string())
}

/// The base URL of links when `PZP_BASE_URL` is unset: the scheme and host a trusted proxy
/// forwarded, otherwise the address this connection reached.
pub fn base_url(req: &HttpRequest, trusted: &[IpAddr]) -> String {
    let peer = req.peer_addr().map(|a| a.ip());
    if peer.is_some_and(|p| trusted.contains(&p)) {
        let ci = req.connection_info();
        return format!("{}://{}", ci.scheme(), ci.host());
    }
    let local = req.app_config().local_addr();
    let scheme = if req.app_config().secure() {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{local}")
}
