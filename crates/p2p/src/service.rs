//! The swarm task and its handle.

use std::{
    collections::{HashMap, HashSet},
    num::NonZeroUsize,
    sync::Arc,
    time::Duration,
};

use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, Transport, allow_block_list, connection_limits,
    core::{transport::ListenerId, upgrade::Version},
    gossipsub::{
        self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, PublishError,
        ValidationMode, WhitelistSubscriptionFilter,
    },
    identify,
    kad::{self, store::MemoryStore},
    noise,
    swarm::{
        NetworkBehaviour, SwarmEvent,
        behaviour::toggle::Toggle,
        dial_opts::{DialOpts, PeerCondition},
    },
    tcp, yamux,
};
use tokio::{
    sync::{mpsc, oneshot},
    time::Instant,
};

use crate::{
    P2pConfig, P2pError,
    codec::{self, SnappyTransform},
    discovery::{self, DialGate, GatedTransport, Refusal},
    metrics::{Counters, P2pMetrics},
    peer_id_of,
};

/// The Kademlia protocol of epoch-rfq's own DHT (not the public IPFS one).
pub const KAD_PROTOCOL: &str = "/epoch-rfq/kad/1.0.0";
/// A peer announcing more addresses than this in one identify message is flooding: all are
/// refused and it is charged an offence.
const MAX_ANNOUNCED_ADDRESSES: usize = 32;
/// At most this many of a peer's announced addresses enter the routing table.
const MAX_ADDRESSES_PER_PEER: usize = 8;
/// Application-score (P5) penalty per discovery offence; three offences put a peer with no
/// credit below the graylist threshold (−55), and the service bans it at the third in any case.
const OFFENCE_PENALTY: f64 = -20.0;
const MAX_OFFENCES: u32 = 3;
/// Offence counts kept at most (bounded memory under a flood of fresh peer ids).
const MAX_OFFENDERS: usize = 4096;
/// Discovery dials at most this many new peers per maintenance tick.
const DIALS_PER_TICK: usize = 2;

/// A decoded gossip message handed to the application, which must answer with
/// [`P2pHandle::report`] (until then the message is neither forwarded nor dropped from the cache).
#[derive(Clone, Debug)]
pub struct IncomingMessage {
    /// Content-based id: first 20 bytes of `sha256(topic ‖ payload)`.
    pub id: MessageId,
    /// The peer that forwarded the message to us (pass it back to [`P2pHandle::report`]).
    pub source: PeerId,
    /// The peer that created and signed the message, if known.
    pub origin: Option<PeerId>,
    /// The decompressed payload (at most `max_payload_bytes`).
    pub payload: Vec<u8>,
    /// When the service received it.
    pub received_at: std::time::Instant,
}

/// The application's verdict on an [`IncomingMessage`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Validation {
    /// Valid: forward it to our mesh peers.
    Accept,
    /// Not forwarded, sender not penalised (stale, duplicate, not for us).
    Ignore,
    /// Not forwarded, sender penalised through peer scoring (malformed, bad signature).
    Reject,
}

impl From<Validation> for MessageAcceptance {
    fn from(v: Validation) -> Self {
        match v {
            Validation::Accept => MessageAcceptance::Accept,
            Validation::Ignore => MessageAcceptance::Ignore,
            Validation::Reject => MessageAcceptance::Reject,
        }
    }
}

type Reply<T> = oneshot::Sender<T>;

enum Command {
    Publish(Vec<u8>, Reply<Result<MessageId, P2pError>>),
    Report(MessageId, PeerId, Validation),
    ListenAddrs(Reply<Vec<Multiaddr>>),
    ConnectedPeers(Reply<Vec<PeerId>>),
    MeshPeers(Reply<Vec<PeerId>>),
    PeerScore(PeerId, Reply<Option<f64>>),
    RoutingTable(Reply<Vec<(PeerId, Vec<Multiaddr>)>>),
    Dial(Multiaddr, Reply<Result<(), P2pError>>),
    Shutdown(Reply<()>),
}

/// Cheap, cloneable handle to the running service. The service stops on
/// [`P2pHandle::shutdown`] or when every handle has been dropped.
#[derive(Clone)]
pub struct P2pHandle {
    commands: mpsc::UnboundedSender<Command>,
    local_peer_id: PeerId,
    topic: Arc<str>,
    counters: Arc<Counters>,
    validation_workers: usize,
    /// The counters and gossipsub's own metrics (see [`Self::encode_metrics`]).
    registry: Arc<prometheus_client::registry::Registry>,
}

impl std::fmt::Debug for P2pHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("P2pHandle")
            .field("local_peer_id", &self.local_peer_id)
            .field("topic", &self.topic)
            .finish()
    }
}

impl P2pHandle {
    async fn request<T>(&self, make: impl FnOnce(Reply<T>) -> Command) -> Result<T, P2pError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(make(tx))
            .map_err(|_| P2pError::Stopped)?;
        rx.await.map_err(|_| P2pError::Stopped)
    }

    /// Compresses and publishes `payload` on the topic, returning its message id.
    ///
    /// [`P2pError::NoPeers`] (nobody subscribed yet) and [`P2pError::Duplicate`] (already
    /// published or received) are expected outcomes a best-effort caller can ignore.
    pub async fn publish(&self, payload: Vec<u8>) -> Result<MessageId, P2pError> {
        self.request(|r| Command::Publish(payload, r)).await?
    }

    /// Reports the validation outcome of a received message (see [`Validation`]).
    pub fn report(
        &self,
        id: MessageId,
        source: PeerId,
        validation: Validation,
    ) -> Result<(), P2pError> {
        self.commands
            .send(Command::Report(id, source, validation))
            .map_err(|_| P2pError::Stopped)
    }

    /// Our peer id.
    pub fn local_peer_id(&self) -> PeerId {
        self.local_peer_id
    }

    /// The gossip topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The message id `payload` has on this topic.
    pub fn message_id(&self, payload: &[u8]) -> MessageId {
        codec::message_id(&self.topic, payload)
    }

    /// The addresses we actually listen on (resolved ports; one per interface for `0.0.0.0`).
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, P2pError> {
        self.request(Command::ListenAddrs).await
    }

    /// Peers with at least one established connection.
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, P2pError> {
        self.request(Command::ConnectedPeers).await
    }

    /// Peers in our gossipsub mesh for the topic.
    pub async fn mesh_peers(&self) -> Result<Vec<PeerId>, P2pError> {
        self.request(Command::MeshPeers).await
    }

    /// The gossipsub score we currently give `peer` (`None` if we have no record of it).
    pub async fn peer_score(&self, peer: PeerId) -> Result<Option<f64>, P2pError> {
        self.request(|r| Command::PeerScore(peer, r)).await
    }

    /// The Kademlia routing table: each peer and the addresses we would hand out for it (empty
    /// with discovery off).
    pub async fn routing_table(&self) -> Result<Vec<(PeerId, Vec<Multiaddr>)>, P2pError> {
        self.request(Command::RoutingTable).await
    }

    /// How many validations a [`crate::ValidationPool`] on this handle runs at once.
    pub fn validation_workers(&self) -> usize {
        self.validation_workers
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Dials an address (with or without `/p2p/<peer id>`) once, without re-dial. The address is
    /// operator-given, so the address policy does not apply to it.
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), P2pError> {
        self.request(|r| Command::Dial(addr, r)).await?
    }

    /// A snapshot of the counters.
    pub fn metrics(&self) -> P2pMetrics {
        self.counters.snapshot()
    }

    /// Appends the service's metrics in Prometheus text form, without the closing `# EOF` (the
    /// caller ends its exposition with [`prometheus_client::encoding::text::encode_eof`]): the
    /// counters as `epoch_rfq_p2p_…_total` and gossipsub's own as `epoch_rfq_p2p_gossipsub_…`.
    pub fn encode_metrics(&self, out: &mut String) -> std::fmt::Result {
        prometheus_client::encoding::text::encode_registry(out, &self.registry)
    }

    /// Stops the service and closes all connections. Idempotent.
    pub async fn shutdown(&self) {
        let _ = self.request(Command::Shutdown).await;
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour<SnappyTransform, WhitelistSubscriptionFilter>,
    identify: identify::Behaviour,
    kad: Toggle<kad::Behaviour<MemoryStore>>,
}

/// Entry point: builds the swarm and runs it on a tokio task.
pub struct P2pService;

impl P2pService {
    /// Builds the swarm, starts listening (waiting until the listen addresses are known), dials
    /// the bootstrap peers and spawns the event loop on the current tokio runtime.
    ///
    /// Returns the handle and the stream of received messages.
    pub async fn spawn(
        config: P2pConfig,
    ) -> Result<(P2pHandle, mpsc::Receiver<IncomingMessage>), P2pError> {
        config.validate()?;
        let counters = Arc::new(Counters::default());
        let topic = IdentTopic::new(config.topic.clone());
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(crate::metrics::CountersCollector(
            counters.clone(),
        )));
        let gate = Arc::new(DialGate::new(
            config.allow_private_addresses,
            counters.clone(),
        ));
        for addr in &config.bootstrap {
            gate.trust(addr);
        }
        let mut swarm = build_swarm(
            &config,
            &topic,
            counters.clone(),
            gate.clone(),
            registry.sub_registry_with_prefix("epoch_rfq_p2p_gossipsub"),
        )?;
        let local_peer_id = *swarm.local_peer_id();
        for addr in &config.announce {
            swarm.add_external_address(discovery::without_peer_id(addr));
        }

        swarm
            .behaviour_mut()
            .gossipsub
            .subscribe(&topic)
            .map_err(|e| P2pError::Build(format!("subscribe: {e}")))?;

        let mut pending: HashSet<ListenerId> = HashSet::new();
        for addr in &config.listen {
            ensure_port_free(addr)?;
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| P2pError::Listen {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                })?;
            pending.insert(id);
        }
        let mut listen_addrs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !pending.is_empty() {
            let event = tokio::time::timeout_at(deadline, swarm.select_next_some())
                .await
                .map_err(|_| P2pError::Listen {
                    addr: format!("{:?}", config.listen),
                    reason: "no listen address reported within 5 s".to_string(),
                })?;
            match event {
                SwarmEvent::NewListenAddr {
                    listener_id,
                    address,
                } => {
                    pending.remove(&listener_id);
                    listen_addrs.push(address);
                }
                SwarmEvent::ListenerClosed {
                    reason, addresses, ..
                } => {
                    return Err(P2pError::Listen {
                        addr: format!("{addresses:?}"),
                        reason: format!("listener closed: {reason:?}"),
                    });
                }
                SwarmEvent::ListenerError { error, .. } => {
                    return Err(P2pError::Listen {
                        addr: format!("{:?}", config.listen),
                        reason: error.to_string(),
                    });
                }
                other => tracing::debug!(event = ?other, "swarm event during start-up"),
            }
        }
        tracing::info!(peer_id = %local_peer_id, addrs = ?listen_addrs, topic = %config.topic,
            announce = ?config.announce, discovery = config.discovery,
            max_peers = config.max_peers, "p2p service listening");

        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let (in_tx, in_rx) = mpsc::channel(config.incoming_capacity);

        let mut bootstrap: HashMap<PeerId, BootstrapPeer> = HashMap::new();
        for addr in &config.bootstrap {
            let Some(peer) = peer_id_of(addr) else {
                continue;
            };
            if peer == local_peer_id {
                continue; // our own entry in a shared bootstrap list
            }
            let entry = bootstrap.entry(peer).or_insert_with(|| BootstrapPeer {
                addrs: Vec::new(),
                connected: false,
                dialing: false,
                next_attempt: Instant::now(),
                backoff: config.redial_initial_backoff,
                connected_since: None,
            });
            if !entry.addrs.contains(addr) {
                entry.addrs.push(addr.clone());
            }
            if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
                kad.add_address(&peer, discovery::without_peer_id(addr));
            }
        }

        let topic_str: Arc<str> = Arc::from(config.topic.as_str());
        let validation_workers = if config.validation_workers == 0 {
            // Two per core: every core stays busy while some validations wait on L1.
            2 * std::thread::available_parallelism().map_or(1, NonZeroUsize::get)
        } else {
            config.validation_workers
        };
        let mut service = Service {
            swarm,
            topic,
            config,
            counters: counters.clone(),
            incoming: in_tx,
            listen_addrs,
            bootstrap,
            banned: HashMap::new(),
            gate,
            offences: HashMap::new(),
        };
        service.dial_bootstrap();
        tokio::spawn(service.run(cmd_rx));

        Ok((
            P2pHandle {
                commands: cmd_tx,
                local_peer_id,
                topic: topic_str,
                counters,
                validation_workers,
                registry: Arc::new(registry),
            },
            in_rx,
        ))
    }
}

fn build_swarm(
    config: &P2pConfig,
    topic: &IdentTopic,
    counters: Arc<Counters>,
    gate: Arc<DialGate>,
    metrics: &mut prometheus_client::registry::Registry,
) -> Result<Swarm<Behaviour>, P2pError> {
    let gossip_config = gossipsub::ConfigBuilder::default()
        .validation_mode(ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(codec::gossip_message_id)
        .max_transmit_size(config.max_rpc_bytes)
        .max_transmit_size_for_topic(config.max_message_bytes, topic.hash())
        .heartbeat_interval(config.heartbeat_interval)
        .heartbeat_initial_delay(config.heartbeat_initial_delay)
        .mesh_n(config.mesh_n)
        .mesh_n_low(config.mesh_n_low)
        .mesh_n_high(config.mesh_n_high)
        .mesh_outbound_min(config.mesh_outbound_min)
        .history_length(config.history_length)
        .gossip_lazy(config.gossip_lazy)
        .flood_publish(config.flood_publish)
        .duplicate_cache_time(config.duplicate_cache_time)
        .build()
        .map_err(|e| P2pError::Config(format!("gossipsub: {e}")))?;

    let transform = SnappyTransform {
        max_payload_bytes: config.max_payload_bytes,
        counters,
    };
    let filter = WhitelistSubscriptionFilter(HashSet::from([topic.hash()]));
    let mut gossipsub = gossipsub::Behaviour::new_with_subscription_filter_and_transform(
        MessageAuthenticity::Signed(config.keypair.clone()),
        gossip_config,
        filter,
        transform,
    )
    .map_err(|e| P2pError::Build(format!("gossipsub: {e}")))?
    .with_metrics(metrics, gossipsub::MetricsConfig::default());
    gossipsub
        .with_peer_score(
            config.scoring.params(topic.hash()),
            config.scoring.thresholds(),
        )
        .map_err(|e| P2pError::Config(format!("peer scoring: {e}")))?;

    // With announce addresses the listen addresses are internal (NAT, container): tell peers
    // only the announced ones.
    let identify = identify::Behaviour::new(
        identify::Config::new(config.identify_protocol.clone(), config.keypair.public())
            .with_agent_version(config.agent_version.clone())
            .with_hide_listen_addrs(!config.announce.is_empty()),
    );
    let limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_peers))
            .with_max_established_incoming(Some(config.max_inbound_peers()))
            .with_max_established_per_peer(Some(2))
            .with_max_pending_incoming(Some(32))
            .with_max_pending_outgoing(Some(16)),
    );
    let local_peer_id = config.keypair.public().to_peer_id();
    let kad = config.discovery.then(|| build_kad(config, local_peer_id));
    let behaviour = Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        limits,
        gossipsub,
        identify,
        kad: Toggle::from(kad),
    };

    let swarm = libp2p::SwarmBuilder::with_existing_identity(config.keypair.clone())
        .with_tokio()
        .with_other_transport(
            |key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
                // TCP behind the dial gate (address policy), then the same upgrades as `with_tcp`.
                let tcp = GatedTransport {
                    inner: tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)),
                    gate,
                };
                Ok(tcp
                    .upgrade(Version::V1Lazy)
                    .authenticate(noise::Config::new(key)?)
                    .multiplex(yamux::Config::default()))
            },
        )
        .map_err(|e| P2pError::Build(format!("transport: {e}")))?
        .with_behaviour(|_| behaviour)
        .map_err(|e| P2pError::Build(format!("behaviour: {e:?}")))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(config.idle_connection_timeout))
        .build();
    Ok(swarm)
}

/// Kademlia as a peer-discovery engine only: its own protocol (a private DHT), server mode (we
/// answer lookups even before an external address is confirmed), routing-table inserts done by
/// the service after the address policy (never automatically), and no records: inbound
/// PUT_VALUE / ADD_PROVIDER are handed to the service (which refuses them) instead of being
/// stored, and nothing is republished.
fn build_kad(config: &P2pConfig, local_peer_id: PeerId) -> kad::Behaviour<MemoryStore> {
    let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
    kad_config
        .set_kbucket_inserts(kad::BucketInserts::Manual)
        .set_record_filtering(kad::StoreInserts::FilterBoth)
        .set_kbucket_size(NonZeroUsize::new(config.kbucket_size).unwrap_or(NonZeroUsize::MIN))
        .set_query_timeout(Duration::from_secs(10))
        .set_max_packet_size(16 * 1024)
        .set_periodic_bootstrap_interval(Some(config.discovery_interval))
        .set_replication_interval(None)
        .set_publication_interval(None)
        .set_provider_publication_interval(None)
        .set_record_ttl(Some(Duration::from_secs(60)))
        .set_provider_record_ttl(Some(Duration::from_secs(60)));
    let store = MemoryStore::with_config(
        local_peer_id,
        kad::store::MemoryStoreConfig {
            max_records: 1,
            max_value_bytes: 1,
            max_providers_per_key: 1,
            max_provided_keys: 1,
        },
    );
    let mut kad = kad::Behaviour::with_config(local_peer_id, store, kad_config);
    kad.set_mode(Some(kad::Mode::Server));
    kad
}

/// libp2p-tcp listens with `SO_REUSEPORT`, so a second node on the same port would start
/// "successfully" and share the port with the first. Refuse that: probe a fixed TCP port with a
/// plain bind first.
fn ensure_port_free(addr: &Multiaddr) -> Result<(), P2pError> {
    use libp2p::multiaddr::Protocol;
    let mut iter = addr.iter();
    let ip: std::net::IpAddr = match iter.next() {
        Some(Protocol::Ip4(ip)) => ip.into(),
        Some(Protocol::Ip6(ip)) => ip.into(),
        _ => return Ok(()),
    };
    let Some(Protocol::Tcp(port)) = iter.next() else {
        return Ok(());
    };
    if port == 0 {
        return Ok(());
    }
    std::net::TcpListener::bind((ip, port))
        .map(drop)
        .map_err(|e| P2pError::Listen {
            addr: addr.to_string(),
            reason: e.to_string(),
        })
}

/// Re-dial state of one bootstrap peer.
struct BootstrapPeer {
    addrs: Vec<Multiaddr>,
    connected: bool,
    dialing: bool,
    next_attempt: Instant,
    backoff: Duration,
    connected_since: Option<Instant>,
}

/// A connection that lasted this long resets the re-dial backoff.
const STABLE_CONNECTION: Duration = Duration::from_secs(30);
/// How often bootstrap peers are checked for re-dial.
const REDIAL_TICK: Duration = Duration::from_millis(250);

struct Service {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    config: P2pConfig,
    counters: Arc<Counters>,
    incoming: mpsc::Sender<IncomingMessage>,
    listen_addrs: Vec<Multiaddr>,
    bootstrap: HashMap<PeerId, BootstrapPeer>,
    /// Peers disconnected for their score, and when their ban ends.
    banned: HashMap<PeerId, Instant>,
    /// The address policy of the transport (to trust explicitly dialled addresses).
    gate: Arc<DialGate>,
    /// Discovery offences per peer (see `OFFENCE_PENALTY`).
    offences: HashMap<PeerId, u32>,
}

impl Service {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command>) {
        let mut redial = tokio::time::interval(REDIAL_TICK);
        redial.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut score_check = tokio::time::interval(self.config.score_check_interval);
        score_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopped: Option<Reply<()>> = None;
        loop {
            tokio::select! {
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                command = commands.recv() => match command {
                    Some(Command::Shutdown(reply)) => {
                        stopped = Some(reply);
                        break;
                    }
                    Some(command) => self.on_command(command),
                    None => break,
                },
                _ = redial.tick() => {
                    self.dial_bootstrap();
                    self.dial_discovered();
                }
                _ = score_check.tick() => self.check_scores(),
            }
        }
        let peer_id = *self.swarm.local_peer_id();
        // Dropping the swarm closes the listeners and all connections; only then report back, so
        // the port is free once `shutdown()` returns.
        drop(self);
        tracing::info!(%peer_id, "p2p service stopped");
        if let Some(reply) = stopped {
            let _ = reply.send(());
        }
        // Later shutdown requests from other handles find the channel closed: also fine.
        while let Ok(Command::Shutdown(reply)) = commands.try_recv() {
            let _ = reply.send(());
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Publish(payload, reply) => {
                let result = self.publish(payload);
                if result.is_ok() {
                    self.counters.published.inc();
                } else {
                    self.counters.publish_failed.inc();
                }
                let _ = reply.send(result);
            }
            Command::Report(id, source, validation) => {
                match validation {
                    Validation::Accept => self.counters.accepted.inc(),
                    Validation::Ignore => self.counters.ignored.inc(),
                    Validation::Reject => self.counters.rejected.inc(),
                }
                let found = self
                    .swarm
                    .behaviour_mut()
                    .gossipsub
                    .report_message_validation_result(&id, &source, validation.into());
                if !found {
                    tracing::debug!(message_id = %id, "validation report for a message no longer cached");
                }
            }
            Command::ListenAddrs(reply) => {
                let _ = reply.send(self.listen_addrs.clone());
            }
            Command::ConnectedPeers(reply) => {
                let _ = reply.send(self.swarm.connected_peers().copied().collect());
            }
            Command::MeshPeers(reply) => {
                let hash = self.topic.hash();
                let peers = self
                    .swarm
                    .behaviour()
                    .gossipsub
                    .mesh_peers(&hash)
                    .copied()
                    .collect();
                let _ = reply.send(peers);
            }
            Command::PeerScore(peer, reply) => {
                let _ = reply.send(self.swarm.behaviour().gossipsub.peer_score(&peer));
            }
            Command::RoutingTable(reply) => {
                let _ = reply.send(self.routing_table());
            }
            Command::Dial(addr, reply) => {
                self.gate.trust(&addr);
                let result = self.swarm.dial(addr.clone()).map_err(|e| P2pError::Dial {
                    addr: addr.to_string(),
                    reason: e.to_string(),
                });
                let _ = reply.send(result);
            }
            Command::Shutdown(reply) => {
                let _ = reply.send(());
            }
        }
    }

    fn publish(&mut self, payload: Vec<u8>) -> Result<MessageId, P2pError> {
        let max = self.config.max_payload_bytes;
        if payload.len() > max {
            return Err(P2pError::PayloadTooLarge {
                len: payload.len(),
                max,
            });
        }
        let topic = self.topic.hash();
        self.swarm
            .behaviour_mut()
            .gossipsub
            .publish(topic, payload)
            .map_err(|e| match e {
                PublishError::Duplicate => P2pError::Duplicate,
                PublishError::NoPeersSubscribedToTopic => P2pError::NoPeers,
                PublishError::MessageTooLarge => P2pError::MessageTooLarge {
                    max: self.config.max_message_bytes,
                },
                other => P2pError::Publish(other.to_string()),
            })
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.on_gossip_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received {
                peer_id,
                info,
                ..
            })) => {
                tracing::debug!(%peer_id, agent = %info.agent_version, "identified peer");
                self.on_identified(peer_id, &info);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Kad(event)) => self.on_kad_event(event),
            SwarmEvent::Behaviour(_) => {}
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                tracing::debug!(%peer_id, addr = %endpoint.get_remote_address(), "connected");
                if let Some(boot) = self.bootstrap.get_mut(&peer_id) {
                    boot.connected = true;
                    boot.dialing = false;
                    boot.connected_since.get_or_insert_with(Instant::now);
                }
                self.update_peer_gauge();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established,
                cause,
                ..
            } => {
                tracing::debug!(%peer_id, ?cause, "connection closed");
                if num_established == 0
                    && let Some(boot) = self.bootstrap.get_mut(&peer_id)
                {
                    let now = Instant::now();
                    if boot
                        .connected_since
                        .is_some_and(|t| now - t >= STABLE_CONNECTION)
                    {
                        boot.backoff = self.config.redial_initial_backoff;
                    }
                    boot.connected = false;
                    boot.connected_since = None;
                    schedule_redial(boot, self.config.redial_max_backoff);
                }
                self.update_peer_gauge();
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(?peer_id, %error, "dial failed");
                if let Some(peer) = peer_id
                    && !self.swarm.is_connected(&peer)
                    && let Some(boot) = self.bootstrap.get_mut(&peer)
                {
                    schedule_redial(boot, self.config.redial_max_backoff);
                }
            }
            SwarmEvent::NewListenAddr { address, .. } => {
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address);
                }
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                self.listen_addrs.retain(|a| a != &address);
            }
            SwarmEvent::ListenerError { error, .. } => {
                tracing::warn!(%error, "listener error");
            }
            SwarmEvent::ListenerClosed {
                addresses, reason, ..
            } => {
                tracing::warn!(?addresses, ?reason, "listener closed");
                self.listen_addrs.retain(|a| !addresses.contains(a));
            }
            other => tracing::trace!(event = ?other, "swarm event"),
        }
    }

    fn on_gossip_event(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message {
                propagation_source,
                message_id,
                message,
            } => {
                self.counters.received.inc();
                let incoming = IncomingMessage {
                    id: message_id.clone(),
                    source: propagation_source,
                    origin: message.source,
                    payload: message.data,
                    received_at: std::time::Instant::now(),
                };
                if let Err(e) = self.incoming.try_send(incoming) {
                    // The application is not keeping up (or gone): drop without penalising the
                    // sender, so the message is neither forwarded nor kept in the cache.
                    tracing::debug!(message_id = %message_id, error = %e, "incoming queue unavailable; ignoring message");
                    self.counters.dropped.inc();
                    self.swarm
                        .behaviour_mut()
                        .gossipsub
                        .report_message_validation_result(
                            &message_id,
                            &propagation_source,
                            MessageAcceptance::Ignore,
                        );
                } else {
                    self.counters.validation_queued.inc();
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } => {
                tracing::debug!(%peer_id, %topic, "peer subscribed");
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } => {
                tracing::debug!(%peer_id, %topic, "peer unsubscribed");
            }
            gossipsub::Event::GossipsubNotSupported { peer_id } => {
                tracing::debug!(%peer_id, "peer does not support gossipsub");
            }
            gossipsub::Event::SlowPeer {
                peer_id,
                failed_messages,
            } => {
                tracing::debug!(%peer_id, ?failed_messages, "slow peer");
            }
        }
    }

    fn update_peer_gauge(&self) {
        self.counters
            .peers
            .set(self.swarm.connected_peers().count() as u64);
    }

    /// Dials every bootstrap peer that is disconnected, not being dialled, not banned and whose
    /// backoff has elapsed.
    fn dial_bootstrap(&mut self) {
        let now = Instant::now();
        let max = self.config.redial_max_backoff;
        for (peer, boot) in self.bootstrap.iter_mut() {
            if boot.connected || boot.dialing || now < boot.next_attempt {
                continue;
            }
            if self.banned.contains_key(peer) {
                continue;
            }
            if self.swarm.is_connected(peer) {
                boot.connected = true;
                continue;
            }
            let opts = DialOpts::peer_id(*peer)
                .addresses(boot.addrs.clone())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            match self.swarm.dial(opts) {
                Ok(()) => {
                    tracing::debug!(%peer, "dialling bootstrap peer");
                    boot.dialing = true;
                }
                Err(e) => {
                    tracing::debug!(%peer, error = %e, "cannot dial bootstrap peer");
                    schedule_redial(boot, max);
                }
            }
        }
    }

    /// Disconnects and bans connected peers whose score is below the graylist threshold, and
    /// lifts expired bans.
    fn check_scores(&mut self) {
        let now = Instant::now();
        let threshold = self.config.scoring.graylist_threshold;
        let low: Vec<(PeerId, f64)> = self
            .swarm
            .connected_peers()
            .filter_map(|p| {
                let score = self.swarm.behaviour().gossipsub.peer_score(p)?;
                (score < threshold).then_some((*p, score))
            })
            .collect();
        for (peer, score) in low {
            tracing::warn!(%peer, score, threshold, ban_secs = self.config.ban_duration.as_secs(),
                "peer score below graylist threshold; disconnecting and banning");
            self.counters.graylist_disconnects.inc();
            // Closes every connection to the peer and refuses new ones while blocked.
            self.ban(peer, now);
        }
        let expired: Vec<PeerId> = self
            .banned
            .iter()
            .filter(|(_, until)| **until <= now)
            .map(|(p, _)| *p)
            .collect();
        for peer in expired {
            self.banned.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            if let Some(boot) = self.bootstrap.get_mut(&peer) {
                boot.next_attempt = now;
            }
            tracing::info!(%peer, "ban lifted");
        }
    }
}

impl Service {
    /// A peer told us its addresses (identify): after the address policy, up to
    /// `MAX_ADDRESSES_PER_PEER` of them replace what the routing table had for it. Addresses
    /// naming another peer, unspecified IPs, port 0, or a list longer than
    /// `MAX_ANNOUNCED_ADDRESSES` are charged as an offence.
    fn on_identified(&mut self, peer: PeerId, info: &identify::Info) {
        let allow_private = self.config.allow_private_addresses;
        let speaks_kad = info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL);
        if !speaks_kad || self.swarm.behaviour().kad.as_ref().is_none() {
            return;
        }
        let announced = info.listen_addrs.len();
        if announced > MAX_ANNOUNCED_ADDRESSES {
            self.counters.addresses_refused.add(announced as u64);
            self.offence(peer, "announced too many addresses");
            return;
        }
        let mut accepted = Vec::new();
        let mut malformed = false;
        for addr in &info.listen_addrs {
            match discovery::classify(addr, allow_private, Some(peer)) {
                Ok(()) if accepted.len() < MAX_ADDRESSES_PER_PEER => {
                    let addr = discovery::without_peer_id(addr);
                    if !accepted.contains(&addr) {
                        accepted.push(addr);
                    }
                }
                Ok(()) | Err(Refusal::NotGlobal | Refusal::Unsupported) => {
                    self.counters.addresses_refused.inc();
                }
                Err(Refusal::Malformed) => {
                    self.counters.addresses_refused.inc();
                    malformed = true;
                }
            }
        }
        if malformed {
            self.offence(peer, "announced a malformed address");
        }
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        // Repeated announcements cannot grow the peer's entry beyond the cap.
        let mut known = addresses_in_table(kad, peer);
        for addr in accepted {
            if known.contains(&addr) {
                continue;
            }
            if known.len() >= MAX_ADDRESSES_PER_PEER {
                self.counters.addresses_refused.inc();
                continue;
            }
            kad.add_address(&peer, addr.clone());
            known.push(addr);
        }
        self.update_routing_gauge();
    }

    fn on_kad_event(&mut self, event: kad::Event) {
        match event {
            // We dialled the peer at `address` (operator-given or allowed by the dial gate) and
            // it speaks our Kademlia protocol.
            kad::Event::RoutablePeer { peer, address }
            | kad::Event::PendingRoutablePeer { peer, address } => {
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    kad.add_address(&peer, discovery::without_peer_id(&address));
                }
                self.update_routing_gauge();
            }
            kad::Event::RoutingUpdated { .. } => self.update_routing_gauge(),
            kad::Event::InboundRequest { request } => match request {
                kad::InboundRequest::PutRecord { source, .. } => {
                    self.counters.records_refused.inc();
                    self.offence(source, "sent a Kademlia record (discovery stores none)");
                }
                kad::InboundRequest::AddProvider { record } => {
                    self.counters.records_refused.inc();
                    if let Some(record) = record {
                        self.offence(record.provider, "sent a Kademlia provider record");
                    }
                }
                other => tracing::trace!(request = ?other, "kademlia request answered"),
            },
            kad::Event::OutboundQueryProgressed { result, .. } => {
                tracing::debug!(?result, "kademlia query progressed");
            }
            other => tracing::trace!(event = ?other, "kademlia event"),
        }
    }

    /// Charges a discovery offence: lowers the peer's gossipsub application score (P5) by
    /// `OFFENCE_PENALTY` per offence, and disconnects and bans it at `MAX_OFFENCES`.
    fn offence(&mut self, peer: PeerId, what: &str) {
        self.counters.discovery_offences.inc();
        if self.offences.len() >= MAX_OFFENDERS && !self.offences.contains_key(&peer) {
            self.offences.clear();
        }
        let count = self.offences.entry(peer).or_insert(0);
        *count += 1;
        let count = *count;
        tracing::warn!(%peer, offences = count, "discovery offence: {what}");
        self.swarm
            .behaviour_mut()
            .gossipsub
            .set_application_score(&peer, OFFENCE_PENALTY * f64::from(count));
        if count >= MAX_OFFENCES {
            self.ban(peer, Instant::now());
        }
    }

    /// While fewer than `outbound_target` peers are connected, dials a few peers of the routing
    /// table (its addresses passed the address policy; the dial gate checks again).
    fn dial_discovered(&mut self) {
        let connected = self.swarm.connected_peers().count();
        let target = self.config.outbound_target() as usize;
        if connected >= target {
            return;
        }
        let local = *self.swarm.local_peer_id();
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        let mut candidates: Vec<(PeerId, Vec<Multiaddr>)> = Vec::new();
        for bucket in kad.kbuckets() {
            for entry in bucket.iter() {
                let peer = *entry.node.key.preimage();
                candidates.push((peer, entry.node.value.iter().cloned().collect()));
            }
        }
        let mut dialled = 0;
        for (peer, addrs) in candidates {
            if dialled >= DIALS_PER_TICK.min(target - connected) {
                break;
            }
            if peer == local
                || self.swarm.is_connected(&peer)
                || self.banned.contains_key(&peer)
                || self.bootstrap.contains_key(&peer)
            {
                continue;
            }
            let opts = DialOpts::peer_id(peer)
                .addresses(addrs)
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if self.swarm.dial(opts).is_ok() {
                tracing::debug!(%peer, "dialling a discovered peer");
                dialled += 1;
            }
        }
    }

    fn routing_table(&mut self) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return Vec::new();
        };
        kad.kbuckets()
            .flat_map(|bucket| {
                bucket
                    .iter()
                    .map(|e| {
                        let addrs = e.node.value.iter().map(discovery::without_peer_id);
                        (*e.node.key.preimage(), addrs.collect())
                    })
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    fn update_routing_gauge(&mut self) {
        let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() else {
            return;
        };
        let n: usize = kad.kbuckets().map(|b| b.num_entries()).sum();
        self.counters.routing_table_peers.set(n as u64);
    }

    /// Closes every connection to `peer` and refuses it (in and out) for `ban_duration`.
    fn ban(&mut self, peer: PeerId, now: Instant) {
        self.banned.insert(peer, now + self.config.ban_duration);
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.remove_peer(&peer);
        }
    }
}

/// The addresses the routing table holds for `peer` (without `/p2p/`).
fn addresses_in_table(kad: &mut kad::Behaviour<MemoryStore>, peer: PeerId) -> Vec<Multiaddr> {
    let Some(bucket) = kad.kbucket(peer) else {
        return Vec::new();
    };
    bucket
        .iter()
        .find(|e| *e.node.key.preimage() == peer)
        .map(|e| {
            e.node
                .value
                .iter()
                .map(discovery::without_peer_id)
                .collect()
        })
        .unwrap_or_default()
}

fn schedule_redial(boot: &mut BootstrapPeer, max: Duration) {
    boot.dialing = false;
    boot.next_attempt = Instant::now() + boot.backoff;
    boot.backoff = (boot.backoff * 2).min(max);
}
