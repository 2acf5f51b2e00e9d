//! Bootstrap list parsing and node key persistence.

// Test code: panicking on an unexpected error is the point (see clippy.toml).
#![allow(clippy::unwrap_used)]

use epoch_rfq_p2p::{
    Keypair, LEGACY_KEY_FILE, P2pError, load_or_create_keypair, load_or_create_role_keypair,
    parse_bootstrap_nodes, peer_id_of, role_key_path,
};

fn peer() -> String {
    Keypair::generate_ed25519()
        .public()
        .to_peer_id()
        .to_string()
}

#[test]
fn parses_comma_and_whitespace_separated_lists() {
    let (p1, p2) = (peer(), peer());
    let input = format!(
        " /ip4/10.0.0.1/tcp/40400/p2p/{p1},/dns4/boot.example/tcp/40400/p2p/{p2}\n\t/ip6/::1/tcp/1/p2p/{p1} ,, "
    );
    let addrs = parse_bootstrap_nodes(&input).unwrap();
    assert_eq!(addrs.len(), 3);
    assert_eq!(peer_id_of(&addrs[0]).unwrap().to_string(), p1);
    assert_eq!(peer_id_of(&addrs[1]).unwrap().to_string(), p2);
    assert!(parse_bootstrap_nodes("").unwrap().is_empty());
    assert!(parse_bootstrap_nodes(" , \n").unwrap().is_empty());
    // Duplicates collapse.
    let dup = format!("/ip4/1.2.3.4/tcp/1/p2p/{p1} /ip4/1.2.3.4/tcp/1/p2p/{p1}");
    assert_eq!(parse_bootstrap_nodes(&dup).unwrap().len(), 1);
}

fn bad_entry(input: &str) -> (String, String) {
    match parse_bootstrap_nodes(input) {
        Err(P2pError::InvalidBootstrap { entry, reason }) => (entry, reason),
        other => panic!("expected InvalidBootstrap for {input:?}, got {other:?}"),
    }
}

#[test]
fn errors_name_the_bad_entry() {
    let good = format!("/ip4/10.0.0.1/tcp/40400/p2p/{}", peer());

    let (entry, reason) = bad_entry(&format!("{good}, not-a-multiaddr"));
    assert_eq!(entry, "not-a-multiaddr");
    assert!(reason.contains("multiaddr"), "{reason}");

    let (entry, reason) = bad_entry(&format!("{good} /ip4/10.0.0.2/tcp/40400"));
    assert_eq!(entry, "/ip4/10.0.0.2/tcp/40400");
    assert!(reason.contains("/p2p/"), "{reason}");

    let (entry, _) = bad_entry("/ip4/10.0.0.300/tcp/1/p2p/x");
    assert_eq!(entry, "/ip4/10.0.0.300/tcp/1/p2p/x");

    let lone = format!("/p2p/{}", peer());
    let (entry, reason) = bad_entry(&lone);
    assert_eq!(entry, lone);
    assert!(reason.contains("transport"), "{reason}");

    // The error message itself names the entry.
    let err = parse_bootstrap_nodes("/ip4/1.2.3.4/udp/x").unwrap_err();
    assert!(err.to_string().contains("/ip4/1.2.3.4/udp/x"), "{err}");
}

#[test]
fn keypair_is_persisted_and_reloaded() {
    let dir = epoch_rfq_testkit::TempDir::new("p2p-key");
    let path = dir.join("nested").join("p2p.key");
    let first = load_or_create_keypair(&path).unwrap();
    let second = load_or_create_keypair(&path).unwrap();
    assert_eq!(first.public().to_peer_id(), second.public().to_peer_id());

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Loosened permissions are tightened again on load.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let third = load_or_create_keypair(&path).unwrap();
        assert_eq!(third.public().to_peer_id(), first.public().to_peer_id());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    // No temporary files left behind.
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );
}

#[test]
fn corrupt_key_file_is_an_error_naming_the_path() {
    let dir = epoch_rfq_testkit::TempDir::created("p2p-corrupt");
    let path = dir.join("p2p.key");
    std::fs::write(&path, b"garbage").unwrap();
    let err = load_or_create_keypair(&path).unwrap_err();
    assert!(matches!(err, P2pError::KeyFile { .. }), "{err:?}");
    assert!(err.to_string().contains("p2p.key"), "{err}");
    // The file is left untouched for the operator to inspect.
    assert_eq!(std::fs::read(&path).unwrap(), b"garbage");
}

#[test]
fn roles_sharing_a_data_directory_get_distinct_stable_peer_ids() {
    let dir = epoch_rfq_testkit::TempDir::new("p2p-roles");
    let node = load_or_create_role_keypair(&dir, "node").unwrap();
    let prover = load_or_create_role_keypair(&dir, "prover").unwrap();
    assert_ne!(
        node.public().to_peer_id(),
        prover.public().to_peer_id(),
        "two roles in one directory"
    );
    assert!(role_key_path(&dir, "node").is_file());
    assert!(role_key_path(&dir, "prover").is_file());
    // Each keeps its own id across restarts.
    let node_again = load_or_create_role_keypair(&dir, "node").unwrap();
    let prover_again = load_or_create_role_keypair(&dir, "prover").unwrap();
    assert_eq!(node.public().to_peer_id(), node_again.public().to_peer_id());
    assert_eq!(
        prover.public().to_peer_id(),
        prover_again.public().to_peer_id()
    );
    let err = load_or_create_role_keypair(&dir, "../node").unwrap_err();
    assert!(err.to_string().contains("role"), "{err}");
}

#[test]
fn an_upgraded_node_keeps_its_peer_id_and_a_prover_does_not_take_it() {
    let dir = epoch_rfq_testkit::TempDir::new("p2p-legacy");
    let legacy = load_or_create_keypair(dir.join(LEGACY_KEY_FILE)).unwrap();
    let legacy_id = legacy.public().to_peer_id();
    // A prover in the same directory never takes the node's old key.
    let prover = load_or_create_role_keypair(&dir, "prover").unwrap();
    assert_ne!(prover.public().to_peer_id(), legacy_id);
    assert!(dir.join(LEGACY_KEY_FILE).is_file(), "left for the node");
    // The node takes it over: same peer id, moved to its per-role file.
    let node = load_or_create_role_keypair(&dir, "node").unwrap();
    assert_eq!(node.public().to_peer_id(), legacy_id);
    assert!(!dir.join(LEGACY_KEY_FILE).exists(), "moved, not copied");
    assert!(role_key_path(&dir, "node").is_file());
    let node_again = load_or_create_role_keypair(&dir, "node").unwrap();
    assert_eq!(node_again.public().to_peer_id(), legacy_id);
}
