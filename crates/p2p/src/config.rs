//! Configuration of the gossip service and of gossipsub peer scoring.

use std::{
    collections::HashSet,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
    time::Duration,
};

use libp2p::{
    Multiaddr,
    gossipsub::{PeerScoreParams, PeerScoreThresholds, TopicHash, TopicScoreParams},
    identity::Keypair,
    multiaddr::Protocol,
};

use crate::P2pError;

/// The gossip topic of epoch proof quotes (SPEC §5.2).
pub const DEFAULT_TOPIC: &str = "/aztec/epoch_proof_quote/1.0.0";
/// Default TCP port (`P2P_PORT`).
pub const DEFAULT_PORT: u16 = 40400;
/// Default peer limit (`P2P_MAX_PEERS`).
pub const DEFAULT_MAX_PEERS: u32 = 50;

/// Configuration of [`crate::P2pService`].
///
/// `Default` generates a fresh random ed25519 identity and listens on `0.0.0.0:40400`; a node
/// should set `keypair` from [`crate::load_or_create_keypair`] so its peer id is stable.
#[derive(Clone, Debug)]
pub struct P2pConfig {
    /// Addresses to listen on (`/ip4/0.0.0.0/tcp/40400`). Port 0 picks a free port; the bound
    /// addresses are reported by [`crate::P2pHandle::listen_addrs`].
    pub listen: Vec<Multiaddr>,
    /// Peers to dial at start and to re-dial (with backoff) whenever the connection drops. Each
    /// address must end in `/p2p/<peer id>` (see [`crate::parse_bootstrap_nodes`]).
    pub bootstrap: Vec<Multiaddr>,
    /// The node key: signs every published message (gossipsub `Strict` mode) and is the peer id.
    pub keypair: Keypair,
    /// The single gossip topic.
    pub topic: String,
    /// Largest gossipsub message accepted or sent on the topic, in bytes, as encoded on the wire
    /// (compressed payload + author, sequence number, signature, topic). A 302-byte quote
    /// compresses to ≤ 384 bytes and the envelope adds ~150, so 1 KiB leaves margin.
    pub max_message_bytes: usize,
    /// Largest payload after snappy decompression; larger messages are rejected (and the
    /// sender penalised) without ever being decompressed.
    pub max_payload_bytes: usize,
    /// Largest gossipsub RPC frame (control messages: IHAVE/IWANT/GRAFT/PRUNE/subscriptions and
    /// batched publishes). Data messages are limited separately by `max_message_bytes`.
    pub max_rpc_bytes: usize,
    /// Validations a [`crate::ValidationPool`] runs at once (`P2P_VALIDATION_WORKERS`); 0 = two
    /// per CPU core (validation is mostly signature recovery, sometimes an L1 read).
    pub validation_workers: usize,
    /// Capacity of the channel of incoming messages. When the application does not keep up,
    /// further messages are dropped with an `Ignore` report (counted as `dropped`).
    pub incoming_capacity: usize,
    /// Gossipsub heartbeat (mesh maintenance and IHAVE gossip).
    pub heartbeat_interval: Duration,
    /// Delay before the first heartbeat.
    pub heartbeat_initial_delay: Duration,
    /// Target mesh degree D and its bounds.
    pub mesh_n: usize,
    pub mesh_n_low: usize,
    pub mesh_n_high: usize,
    /// Minimum number of outbound peers kept in the mesh (must be ≤ `mesh_n_low` and ≤ D/2).
    pub mesh_outbound_min: usize,
    /// Heartbeats a received message stays in the message cache. The application must
    /// [`report`](crate::P2pHandle::report) an `Accept` within about
    /// `history_length × heartbeat_interval` (3.5 s by default) for the message to be forwarded.
    /// Must be ≥ 3 (the number of heartbeats advertised in IHAVE gossip).
    pub history_length: usize,
    /// Number of non-mesh peers that receive IHAVE gossip each heartbeat.
    pub gossip_lazy: usize,
    /// Publish our own messages to every subscribed peer above the publish threshold, not only
    /// to the mesh (lower latency for a low-volume topic).
    pub flood_publish: bool,
    /// How long message ids are remembered for de-duplication.
    pub duplicate_cache_time: Duration,
    /// Peer scoring parameters.
    pub scoring: ScoringConfig,
    /// How often the service checks peer scores and disconnects graylisted peers.
    pub score_check_interval: Duration,
    /// How long a peer disconnected for its score is refused.
    pub ban_duration: Duration,
    /// First re-dial delay after a bootstrap peer disconnects or a dial fails.
    pub redial_initial_backoff: Duration,
    /// Cap of the exponential re-dial backoff.
    pub redial_max_backoff: Duration,
    /// Limit on peers (`P2P_MAX_PEERS`), enforced on established connections (a peer has at
    /// least one, so the peer count never exceeds it). Of these slots, at most
    /// [`Self::max_inbound_peers`] may be taken by peers that dialled us, so that a quarter stays
    /// for peers we chose (eclipse resistance); discovery dials new peers while fewer than
    /// [`Self::outbound_target`] are connected.
    pub max_peers: u32,
    /// Addresses we tell other peers to reach us at (`P2P_ANNOUNCE_ADDRESSES`), for a node behind
    /// NAT or in a container: they become the swarm's external addresses and, when set, are the
    /// only addresses identify announces (the listen addresses are internal then). See
    /// [`crate::parse_announce_addresses`].
    pub announce: Vec<Multiaddr>,
    /// Find peers beyond the bootstrap list with Kademlia (on by default).
    pub discovery: bool,
    /// Accept loopback, private, link-local and other non-global addresses learned from peers
    /// (`P2P_ALLOW_PRIVATE_ADDRESSES`). Off by default: a peer could otherwise make us dial into
    /// our own local network. Needed for networks on one host or one LAN (tests, sandbox,
    /// private deployments). Operator-given addresses (bootstrap list, explicit dials) are always
    /// allowed.
    pub allow_private_addresses: bool,
    /// Period of the Kademlia random walk that refreshes the routing table (a first walk starts
    /// as soon as a peer is known).
    pub discovery_interval: Duration,
    /// Kademlia bucket size K: the routing table holds at most 256 × K peers.
    pub kbucket_size: usize,
    /// Connections without activity are closed after this long (gossipsub keeps connections to
    /// subscribed peers alive).
    pub idle_connection_timeout: Duration,
    /// Protocol version announced by identify.
    pub identify_protocol: String,
    /// Agent version announced by identify.
    pub agent_version: String,
}

impl P2pConfig {
    /// A configuration with the given key and every other field at its default.
    pub fn new(keypair: Keypair) -> Self {
        Self {
            listen: vec![
                Multiaddr::empty()
                    .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
                    .with(Protocol::Tcp(DEFAULT_PORT)),
            ],
            bootstrap: Vec::new(),
            keypair,
            topic: DEFAULT_TOPIC.to_string(),
            max_message_bytes: 1024,
            max_payload_bytes: 1024,
            max_rpc_bytes: 64 * 1024,
            incoming_capacity: 4096,
            validation_workers: 0,
            heartbeat_interval: Duration::from_millis(700),
            heartbeat_initial_delay: Duration::from_millis(100),
            mesh_n: 6,
            mesh_n_low: 4,
            mesh_n_high: 12,
            mesh_outbound_min: 2,
            history_length: 5,
            gossip_lazy: 6,
            flood_publish: true,
            duplicate_cache_time: Duration::from_secs(120),
            scoring: ScoringConfig::default(),
            score_check_interval: Duration::from_secs(1),
            ban_duration: Duration::from_secs(600),
            redial_initial_backoff: Duration::from_millis(500),
            redial_max_backoff: Duration::from_secs(60),
            max_peers: DEFAULT_MAX_PEERS,
            announce: Vec::new(),
            discovery: true,
            allow_private_addresses: false,
            discovery_interval: Duration::from_secs(60),
            kbucket_size: 20,
            idle_connection_timeout: Duration::from_secs(60),
            identify_protocol: "/epoch-rfq/1.0.0".to_string(),
            agent_version: concat!("epoch-rfq/", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    /// A configuration that listens on `127.0.0.1` with an OS-chosen port (tests, benches).
    pub fn local(keypair: Keypair) -> Self {
        Self {
            listen: vec![
                Multiaddr::empty()
                    .with(Protocol::Ip4(Ipv4Addr::LOCALHOST))
                    .with(Protocol::Tcp(0)),
            ],
            ..Self::new(keypair)
        }
    }

    /// Sets the listen address to `/ip4/0.0.0.0/tcp/<port>` (`P2P_PORT`).
    pub fn with_port(mut self, port: u16) -> Self {
        self.listen = vec![
            Multiaddr::empty()
                .with(Protocol::Ip4(Ipv4Addr::UNSPECIFIED))
                .with(Protocol::Tcp(port)),
        ];
        self
    }

    /// Most peers that may have dialled us: `max_peers − ⌊max_peers / 4⌋`.
    pub fn max_inbound_peers(&self) -> u32 {
        self.max_peers - self.max_peers / 4
    }

    /// Discovery dials peers it found while fewer than `max(1, ⌊max_peers / 2⌋)` are connected,
    /// leaving the other half of the slots to peers that dial us (so new nodes can join).
    pub fn outbound_target(&self) -> u32 {
        (self.max_peers / 2).max(1)
    }

    pub(crate) fn validate(&self) -> Result<(), P2pError> {
        let bad = |m: &str| Err(P2pError::Config(m.to_string()));
        if self.topic.is_empty() {
            return bad("topic must not be empty");
        }
        if self.max_message_bytes < 64 || self.max_message_bytes > self.max_rpc_bytes {
            return bad("max_message_bytes must be between 64 and max_rpc_bytes");
        }
        if self.max_payload_bytes == 0 {
            return bad("max_payload_bytes must be positive");
        }
        if self.history_length < 3 {
            return bad("history_length must be at least 3");
        }
        if self.incoming_capacity == 0 {
            return bad("incoming_capacity must be positive");
        }
        if self.score_check_interval.is_zero() || self.heartbeat_interval.is_zero() {
            return bad("intervals must be positive");
        }
        if self.redial_initial_backoff.is_zero()
            || self.redial_initial_backoff > self.redial_max_backoff
        {
            return bad("redial backoff must satisfy 0 < initial <= max");
        }
        if self.max_peers == 0 {
            return bad("max_peers (P2P_MAX_PEERS) must be at least 1");
        }
        if self.kbucket_size == 0 || self.discovery_interval.is_zero() {
            return bad("kbucket_size and discovery_interval must be positive");
        }
        let own = self.keypair.public().to_peer_id();
        for addr in &self.announce {
            crate::discovery::check_announce(addr, Some(own)).map_err(|reason| {
                P2pError::InvalidAnnounce {
                    entry: addr.to_string(),
                    reason,
                }
            })?;
        }
        for addr in &self.bootstrap {
            if crate::peer_id_of(addr).is_none() {
                return Err(P2pError::InvalidBootstrap {
                    entry: addr.to_string(),
                    reason: "missing the trailing /p2p/<peer id>".to_string(),
                });
            }
        }
        self.scoring
            .thresholds()
            .validate()
            .map_err(|e| P2pError::Config(e.to_string()))?;
        Ok(())
    }
}

impl Default for P2pConfig {
    fn default() -> Self {
        Self::new(Keypair::generate_ed25519())
    }
}

/// The knobs of gossipsub peer scoring. The defaults and the reasoning behind them are in the
/// crate README ("Peer scoring").
///
/// In short, with `topic_weight = 1`: a peer's score is
/// `min(P1 + P2, topic_score_cap) + invalid_message_weight · n² (+ P6, P7 penalties)`, where
/// `n` is the (slowly decaying) count of messages we rejected from it. The positive part is at
/// most 20, so with the defaults:
///
/// | rejects `n` | P4 term | score range | effect                                   |
/// |-------------|---------|-------------|------------------------------------------|
/// | 1           | −5      | −5 … 15     | none: one mistake is tolerated           |
/// | 2           | −20     | −20 … 0     | below gossip threshold (−10) unless it has earned ≥ 10 |
/// | 3           | −45     | −45 … −25   | below gossip; below publish (−30) unless it has earned ≥ 15 |
/// | 4           | −80     | −80 … −60   | below graylist (−55) for every peer: ignored, disconnected, banned |
#[derive(Clone, Debug)]
pub struct ScoringConfig {
    /// P4 weight (must be negative): penalty per rejected message, squared.
    pub invalid_message_weight: f64,
    /// Time for the invalid-message counter to decay to 10% (only while connected).
    pub invalid_message_decay: Duration,
    /// P1: score per second in the mesh, capped at `time_in_mesh_cap` seconds.
    pub time_in_mesh_weight: f64,
    pub time_in_mesh_cap_secs: f64,
    /// P2: score per first delivery of a valid message, counter capped at `first_delivery_cap`.
    pub first_delivery_weight: f64,
    pub first_delivery_cap: f64,
    /// Time for the first-delivery counter to decay to 10%.
    pub first_delivery_decay: Duration,
    /// Cap of the positive (topic) part of the score.
    pub topic_score_cap: f64,
    /// P6: penalty weight for more than `ip_colocation_threshold` peers from one IP
    /// (loopback is exempt so local set-ups are not penalised).
    pub ip_colocation_weight: f64,
    pub ip_colocation_threshold: f64,
    /// P7: protocol misbehaviour (re-graft during backoff, broken IHAVE promises).
    pub behaviour_penalty_weight: f64,
    pub behaviour_penalty_threshold: f64,
    pub behaviour_penalty_decay: Duration,
    /// How long the score of a disconnected peer is kept (reconnecting does not reset it).
    pub retain_score: Duration,
    /// Below this score we stop exchanging IHAVE/IWANT gossip with the peer.
    pub gossip_threshold: f64,
    /// Below this score we do not publish our messages to the peer.
    pub publish_threshold: f64,
    /// Below this score gossipsub ignores everything the peer sends, and the service
    /// disconnects and bans it.
    pub graylist_threshold: f64,
}

impl Default for ScoringConfig {
    fn default() -> Self {
        Self {
            invalid_message_weight: -5.0,
            invalid_message_decay: Duration::from_secs(3600),
            time_in_mesh_weight: 10.0 / 600.0,
            time_in_mesh_cap_secs: 600.0,
            first_delivery_weight: 1.0,
            first_delivery_cap: 10.0,
            first_delivery_decay: Duration::from_secs(600),
            topic_score_cap: 20.0,
            ip_colocation_weight: -5.0,
            ip_colocation_threshold: 10.0,
            behaviour_penalty_weight: -2.0,
            behaviour_penalty_threshold: 4.0,
            behaviour_penalty_decay: Duration::from_secs(300),
            retain_score: Duration::from_secs(3600),
            gossip_threshold: -10.0,
            publish_threshold: -30.0,
            graylist_threshold: -55.0,
        }
    }
}

impl ScoringConfig {
    /// Gossipsub thresholds derived from this configuration.
    pub fn thresholds(&self) -> PeerScoreThresholds {
        PeerScoreThresholds {
            gossip_threshold: self.gossip_threshold,
            publish_threshold: self.publish_threshold,
            graylist_threshold: self.graylist_threshold,
            // We do not enable peer exchange; keep the value attainable only by long-lived peers.
            accept_px_threshold: 10.0,
            opportunistic_graft_threshold: 3.0,
        }
    }

    /// Gossipsub score parameters for `topic` derived from this configuration.
    pub fn params(&self, topic: TopicHash) -> PeerScoreParams {
        use libp2p::gossipsub::score_parameter_decay;
        let topic_params = TopicScoreParams {
            topic_weight: 1.0,
            time_in_mesh_weight: self.time_in_mesh_weight,
            time_in_mesh_quantum: Duration::from_secs(1),
            time_in_mesh_cap: self.time_in_mesh_cap_secs,
            first_message_deliveries_weight: self.first_delivery_weight,
            first_message_deliveries_decay: score_parameter_decay(self.first_delivery_decay),
            first_message_deliveries_cap: self.first_delivery_cap,
            // P3/P3b (mesh delivery rate) are disabled: quotes are a few messages per epoch,
            // so honest mesh peers would be penalised for delivering "too little".
            mesh_message_deliveries_weight: 0.0,
            mesh_message_deliveries_decay: 0.5,
            mesh_message_deliveries_cap: 100.0,
            mesh_message_deliveries_threshold: 1.0,
            mesh_message_deliveries_window: Duration::from_millis(10),
            mesh_message_deliveries_activation: Duration::from_secs(60),
            mesh_failure_penalty_weight: 0.0,
            mesh_failure_penalty_decay: 0.5,
            invalid_message_deliveries_weight: self.invalid_message_weight,
            invalid_message_deliveries_decay: score_parameter_decay(self.invalid_message_decay),
        };
        let mut params = PeerScoreParams {
            topic_score_cap: self.topic_score_cap,
            app_specific_weight: 1.0,
            ip_colocation_factor_weight: self.ip_colocation_weight,
            ip_colocation_factor_threshold: self.ip_colocation_threshold,
            ip_colocation_factor_whitelist: HashSet::from([
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(Ipv6Addr::LOCALHOST),
            ]),
            behaviour_penalty_weight: self.behaviour_penalty_weight,
            behaviour_penalty_threshold: self.behaviour_penalty_threshold,
            behaviour_penalty_decay: score_parameter_decay(self.behaviour_penalty_decay),
            retain_score: self.retain_score,
            ..PeerScoreParams::default()
        };
        params.topics.insert(topic, topic_params);
        params
    }
}
