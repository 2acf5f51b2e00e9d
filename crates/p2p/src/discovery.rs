//! Which addresses we dial and announce: the address policy applied to everything learned from
//! peers, the dial gate in front of the TCP transport, and the check of announce addresses.
//!
//! Addresses learned from peers (identify's listen addresses, Kademlia's FIND_NODE answers) are
//! untrusted: a peer could point us at our own local network, at addresses we cannot dial, or
//! at a flood of entries. Kademlia dials the peers named in an answer by itself, so the policy
//! is enforced where every dial passes: [`DialGate`] in front of the TCP transport refuses an
//! address outside the allowed ranges unless the operator gave it (bootstrap list, explicit
//! dial).
//!
//! The same gate makes every dial leave from a fresh ephemeral port. libp2p's TCP transport
//! otherwise binds an outgoing socket to the listen port ("port reuse", for NAT traversal we do
//! not use: peers learn our address from the listen or announce addresses) and, when that bind
//! fails with `EADDRINUSE`, fails the dial instead of falling back. In full test-suite runs
//! (thousands of loopback connections before) that bind failed for every dial of a node for
//! 15 s and more, so it never joined the mesh; which earlier socket held the port was not
//! pinned down, and a fresh port has no such failure.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
};

use libp2p::{
    Multiaddr, PeerId,
    core::transport::{DialOpts, ListenerId, PortUse, Transport, TransportError, TransportEvent},
    multiaddr::Protocol,
};

use crate::{P2pError, metrics::Counters};

/// Why an address is not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Loopback, private, link-local, shared, documentation or reserved range while private
    /// addresses are not allowed. An honest peer behind NAT lists such addresses too, so this
    /// is refused without penalty.
    NotGlobal,
    /// A transport we do not speak (not `/ip4|ip6/…/tcp/…`, e.g. QUIC, DNS, websocket): refused
    /// without penalty (an honest peer may listen on more transports than we dial).
    Unsupported,
    /// Cannot name a reachable peer: unspecified or multicast IP, TCP port 0, or a `/p2p/`
    /// suffix naming another peer than the one that announced it. Penalised.
    Malformed,
}

/// Classifies an address learned from `from` (if known) under the policy.
pub(crate) fn classify(
    addr: &Multiaddr,
    allow_private: bool,
    from: Option<PeerId>,
) -> Result<(), Refusal> {
    let mut parts = addr.iter();
    let ip: IpAddr = match parts.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        None => return Err(Refusal::Malformed),
        Some(_) => return Err(Refusal::Unsupported),
    };
    match parts.next() {
        Some(Protocol::Tcp(0)) => return Err(Refusal::Malformed),
        Some(Protocol::Tcp(_)) => {}
        _ => return Err(Refusal::Unsupported),
    }
    match parts.next() {
        None => {}
        Some(Protocol::P2p(peer)) => {
            if parts.next().is_some() {
                return Err(Refusal::Unsupported); // relayed (/p2p-circuit) and the like
            }
            if from.is_some_and(|from| from != peer) {
                return Err(Refusal::Malformed);
            }
        }
        Some(_) => return Err(Refusal::Unsupported),
    }
    if ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        return Err(Refusal::Malformed);
    }
    if !allow_private && !is_global(ip) {
        return Err(Refusal::NotGlobal);
    }
    Ok(())
}

/// Whether `ip` is publicly routable (the ranges of `std`'s unstable `IpAddr::is_global`).
pub(crate) fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_global_v4(v4),
            None => is_global_v6(v6),
        },
    }
}

fn is_global_v4(a: Ipv4Addr) -> bool {
    let [o0, o1, o2, _] = a.octets();
    !(o0 == 0                                   // "this network"
        || a.is_private()                        // 10/8, 172.16/12, 192.168/16
        || a.is_loopback()
        || a.is_link_local()
        || (o0 == 100 && (o1 & 0xc0) == 64)      // shared (CGNAT) 100.64/10
        || (o0 == 192 && o1 == 0 && o2 == 0)     // IETF protocol assignments 192.0.0/24
        || a.is_documentation()
        || (o0 == 198 && (o1 & 0xfe) == 18)      // benchmarking 198.18/15
        || (o0 & 0xf0) == 0xf0                   // reserved 240/4 and broadcast
        || a.is_multicast())
}

fn is_global_v6(a: Ipv6Addr) -> bool {
    let s = a.segments();
    !(a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00            // unique local fc00::/7
        || (s[0] & 0xffc0) == 0xfe80            // link-local fe80::/10
        || (s[0] == 0x2001 && s[1] == 0x0db8)   // documentation 2001:db8::/32
        || (s[0] == 0x0064 && s[1] == 0xff9b)   // NAT64 64:ff9b::/96 (maps IPv4)
        || (s[0] == 0x0100 && s[1] == 0 && s[2] == 0 && s[3] == 0)) // discard 100::/64
}

/// `addr` without a trailing `/p2p/<peer id>`.
pub fn without_peer_id(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

/// Checks one announce address; `own` is our peer id when known. The reason names what to fix.
pub(crate) fn check_announce(addr: &Multiaddr, own: Option<PeerId>) -> Result<(), String> {
    let mut parts = addr.iter();
    let ip: IpAddr = match parts.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        Some(Protocol::Dns(_) | Protocol::Dns4(_) | Protocol::Dns6(_) | Protocol::Dnsaddr(_)) => {
            return Err(
                "DNS names cannot be dialled by peers (the transport has no resolver): give the \
                 public IP, e.g. /ip4/203.0.113.7/tcp/40400"
                    .to_string(),
            );
        }
        _ => {
            return Err(
                "must start with /ip4/<address> or /ip6/<address>, e.g. /ip4/203.0.113.7/tcp/40400"
                    .to_string(),
            );
        }
    };
    if ip.is_unspecified() || ip.is_multicast() {
        return Err(format!(
            "{ip} cannot be dialled: announce the address peers reach this node at"
        ));
    }
    match parts.next() {
        Some(Protocol::Tcp(0)) => {
            return Err("TCP port 0 cannot be dialled: announce the real port".to_string());
        }
        Some(Protocol::Tcp(_)) => {}
        _ => return Err("must continue with /tcp/<port> (only TCP is spoken)".to_string()),
    }
    match parts.next() {
        None => Ok(()),
        Some(Protocol::P2p(peer)) if parts.next().is_none() => match own {
            Some(own) if own != peer => Err(format!(
                "ends in /p2p/{peer}, but this node's peer id is {own}: drop the suffix or fix it"
            )),
            _ => Ok(()),
        },
        Some(other) => Err(format!(
            "unexpected /{} after /tcp/<port>: only /ip4|ip6/<address>/tcp/<port>[/p2p/<peer id>]",
            other.tag()
        )),
    }
}

/// Parses `P2P_ANNOUNCE_ADDRESSES`: multiaddrs separated by commas and/or whitespace, each
/// `/ip4|ip6/<address>/tcp/<port>`, optionally ending in this node's `/p2p/<peer id>`. Empty
/// entries are skipped; the error names the first bad entry and what to fix. Non-public
/// addresses are accepted here (a private network may announce them) and the suffix peer id is
/// checked against the node key when the service starts.
pub fn parse_announce_addresses(input: &str) -> Result<Vec<Multiaddr>, P2pError> {
    let mut out = Vec::new();
    for entry in input.split(|c: char| c == ',' || c.is_whitespace()) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let bad = |reason: String| P2pError::InvalidAnnounce {
            entry: entry.to_string(),
            reason,
        };
        let addr: Multiaddr = entry
            .parse()
            .map_err(|e| bad(format!("not a multiaddr: {e}")))?;
        check_announce(&addr, None).map_err(bad)?;
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

/// Decides every outgoing dial: an address outside the allowed ranges is refused unless the
/// operator gave it. Shared by the transport and the service (which adds trusted addresses).
#[derive(Debug)]
pub(crate) struct DialGate {
    allow_private: bool,
    /// Operator-given addresses (bootstrap, explicit dials), without `/p2p/`.
    trusted: Mutex<HashSet<Multiaddr>>,
    counters: Arc<Counters>,
}

/// At most this many explicitly dialled addresses are remembered as trusted (bounded memory).
const MAX_TRUSTED: usize = 1024;

impl DialGate {
    pub(crate) fn new(allow_private: bool, counters: Arc<Counters>) -> Self {
        Self {
            allow_private,
            trusted: Mutex::new(HashSet::new()),
            counters,
        }
    }

    pub(crate) fn trust(&self, addr: &Multiaddr) {
        let mut trusted = self.trusted.lock().unwrap_or_else(|e| e.into_inner());
        if trusted.len() < MAX_TRUSTED {
            trusted.insert(without_peer_id(addr));
        }
    }

    fn permits(&self, addr: &Multiaddr) -> bool {
        if self.allow_private
            || self
                .trusted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains(&without_peer_id(addr))
        {
            return true;
        }
        match classify(addr, false, None) {
            Ok(()) => true,
            // Let the transport refuse what it cannot dial (unsupported) as before.
            Err(Refusal::Unsupported) => true,
            Err(_) => {
                self.counters.dials_refused.inc();
                tracing::debug!(%addr, "refusing to dial a non-public address learned from a peer");
                false
            }
        }
    }
}

/// A transport that asks the [`DialGate`] before each dial.
pub(crate) struct GatedTransport<T> {
    pub(crate) inner: T,
    pub(crate) gate: Arc<DialGate>,
}

impl<T: Transport + Unpin> Transport for GatedTransport<T> {
    type Output = T::Output;
    type Error = T::Error;
    type ListenerUpgrade = T::ListenerUpgrade;
    type Dial = T::Dial;

    fn listen_on(
        &mut self,
        id: ListenerId,
        addr: Multiaddr,
    ) -> Result<(), TransportError<Self::Error>> {
        self.inner.listen_on(id, addr)
    }

    fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.inner.remove_listener(id)
    }

    fn dial(
        &mut self,
        addr: Multiaddr,
        mut opts: DialOpts,
    ) -> Result<Self::Dial, TransportError<Self::Error>> {
        if !self.gate.permits(&addr) {
            return Err(TransportError::MultiaddrNotSupported(addr));
        }
        // A fresh port, never the listen port (see the module docs).
        opts.port_use = PortUse::New;
        self.inner.dial(addr, opts)
    }

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<TransportEvent<Self::ListenerUpgrade, Self::Error>> {
        Pin::new(&mut self.inner).poll(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("test multiaddr")
    }

    #[test]
    fn policy_ranges() {
        for public in ["/ip4/8.8.8.8/tcp/1", "/ip6/2a00:1450::1/tcp/1"] {
            assert_eq!(classify(&addr(public), false, None), Ok(()), "{public}");
        }
        for private in [
            "/ip4/127.0.0.1/tcp/1",
            "/ip4/10.1.2.3/tcp/1",
            "/ip4/172.17.0.2/tcp/1",
            "/ip4/192.168.1.1/tcp/1",
            "/ip4/169.254.0.1/tcp/1",
            "/ip4/100.64.0.1/tcp/1",
            "/ip4/192.0.2.1/tcp/1",
            "/ip6/::1/tcp/1",
            "/ip6/fd00::1/tcp/1",
            "/ip6/fe80::1/tcp/1",
            "/ip6/::ffff:10.0.0.1/tcp/1",
        ] {
            assert_eq!(
                classify(&addr(private), false, None),
                Err(Refusal::NotGlobal),
                "{private}"
            );
            assert_eq!(classify(&addr(private), true, None), Ok(()), "{private}");
        }
        for malformed in [
            "/ip4/0.0.0.0/tcp/1",
            "/ip4/8.8.8.8/tcp/0",
            "/ip4/224.0.0.1/tcp/1",
        ] {
            assert_eq!(
                classify(&addr(malformed), true, None),
                Err(Refusal::Malformed),
                "{malformed}"
            );
        }
        for unsupported in [
            "/ip4/8.8.8.8/udp/1/quic-v1",
            "/dns4/example.com/tcp/1",
            "/ip4/8.8.8.8/tcp/1/ws",
        ] {
            assert_eq!(
                classify(&addr(unsupported), true, None),
                Err(Refusal::Unsupported),
                "{unsupported}"
            );
        }
        let a = PeerId::random();
        let b = PeerId::random();
        let claimed = addr(&format!("/ip4/8.8.8.8/tcp/1/p2p/{b}"));
        assert_eq!(classify(&claimed, false, Some(b)), Ok(()));
        assert_eq!(
            classify(&claimed, false, Some(a)),
            Err(Refusal::Malformed),
            "an address claimed for another peer"
        );
    }

    #[test]
    fn announce_parsing_names_the_bad_entry() {
        let ok = parse_announce_addresses(" /ip4/203.0.113.7/tcp/40400, /ip6/2001:db8::1/tcp/1 ,")
            .expect("valid list");
        assert_eq!(ok.len(), 2);
        assert!(
            parse_announce_addresses("")
                .expect("empty is fine")
                .is_empty()
        );
        for (bad, hint) in [
            ("/ip4/1.2.3.4/tcp/x", "not a multiaddr"),
            ("nonsense", "not a multiaddr"),
            ("/dns4/node.example/tcp/40400", "DNS"),
            ("/ip4/0.0.0.0/tcp/40400", "cannot be dialled"),
            ("/ip4/1.2.3.4/tcp/0", "port 0"),
            ("/ip4/1.2.3.4/udp/40400", "/tcp/<port>"),
            ("/ip4/1.2.3.4/tcp/1/ws", "unexpected /ws"),
        ] {
            let err = parse_announce_addresses(&format!("/ip4/1.1.1.1/tcp/1,{bad}"))
                .expect_err(bad)
                .to_string();
            assert!(err.contains(bad), "{err} names {bad}");
            assert!(err.contains(hint), "{err} says {hint}");
            assert!(err.contains("P2P_ANNOUNCE_ADDRESSES"), "{err}");
        }
        let own = PeerId::random();
        let other = PeerId::random();
        assert!(check_announce(&addr(&format!("/ip4/1.2.3.4/tcp/1/p2p/{own}")), Some(own)).is_ok());
        let err = check_announce(&addr(&format!("/ip4/1.2.3.4/tcp/1/p2p/{other}")), Some(own))
            .expect_err("another peer's id");
        assert!(err.contains(&own.to_string()), "{err}");
    }
}
