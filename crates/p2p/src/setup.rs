//! Helpers to turn operator input into configuration: the bootstrap list and the node key.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol};

use crate::P2pError;

/// Parses a bootstrap list as given in `P2P_BOOTSTRAP_NODES`: multiaddrs separated by commas
/// and/or whitespace, each ending in `/p2p/<peer id>`, e.g.
/// `/ip4/10.0.0.1/tcp/40400/p2p/12D3KooW…, /dns4/boot.example/tcp/40400/p2p/12D3KooW…`.
///
/// Empty entries are skipped (an empty string yields an empty list). The error names the first
/// bad entry and why it is bad.
pub fn parse_bootstrap_nodes(input: &str) -> Result<Vec<Multiaddr>, P2pError> {
    let mut out = Vec::new();
    for entry in input.split(|c: char| c == ',' || c.is_whitespace()) {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let bad = |reason: String| P2pError::InvalidBootstrap {
            entry: entry.to_string(),
            reason,
        };
        let addr: Multiaddr = entry
            .parse()
            .map_err(|e| bad(format!("not a multiaddr: {e}")))?;
        if peer_id_of(&addr).is_none() {
            return Err(bad("missing the trailing /p2p/<peer id>".to_string()));
        }
        if addr.iter().count() < 2 {
            return Err(bad("no transport address before /p2p/<peer id>".to_string()));
        }
        if !out.contains(&addr) {
            out.push(addr);
        }
    }
    Ok(out)
}

/// The peer id of a multiaddr that ends in `/p2p/<peer id>`.
pub fn peer_id_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

/// The key file every role used before keys were kept per role. It belonged to the node (the
/// peer id in other nodes' bootstrap lists), so only the node role takes it over.
pub const LEGACY_KEY_FILE: &str = "p2p-key";
/// The role whose key [`LEGACY_KEY_FILE`] was.
pub const LEGACY_KEY_ROLE: &str = "node";

/// Where `role` keeps its key in `data_dir`: `p2p-<role>.key`.
pub fn role_key_path(data_dir: &Path, role: &str) -> PathBuf {
    data_dir.join(format!("p2p-{role}.key"))
}

/// Loads or creates the libp2p key of `role` (`node`, `prover`, …) in `data_dir`
/// (`p2p-<role>.key`, see [`load_or_create_keypair`]), so that two roles sharing one data
/// directory get distinct peer ids.
///
/// Upgrade: if the node role has no key file yet but the directory holds the legacy
/// [`LEGACY_KEY_FILE`], that file is renamed to the node's file and keeps its peer id. Other
/// roles never take the legacy file (it may be a node's in a shared directory); they create
/// their own key.
pub fn load_or_create_role_keypair(data_dir: &Path, role: &str) -> Result<Keypair, P2pError> {
    let path = role_key_path(data_dir, role);
    if role.is_empty()
        || !role
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
    {
        return Err(P2pError::KeyFile {
            path,
            reason: format!("role {role:?} must be lowercase letters, digits and '-'"),
        });
    }
    let legacy = data_dir.join(LEGACY_KEY_FILE);
    if role == LEGACY_KEY_ROLE && !path.exists() && legacy.is_file() {
        fs::rename(&legacy, &path).map_err(|e| P2pError::KeyFile {
            path: legacy.clone(),
            reason: format!("cannot move the key to {}: {e}", path.display()),
        })?;
        tracing::info!(from = %legacy.display(), to = %path.display(),
            "moved the node key to its per-role file (same peer id)");
    }
    load_or_create_keypair(&path)
}

/// Loads the node's libp2p key from `path`, or creates a new ed25519 key there, so that the
/// node's peer id stays the same across restarts.
///
/// The file holds the libp2p protobuf encoding of the private key. A new file is written
/// atomically (temporary file + rename) with permissions 0600; an existing file with looser
/// permissions is tightened to 0600 (with a warning). Parent directories are created.
pub fn load_or_create_keypair(path: impl AsRef<Path>) -> Result<Keypair, P2pError> {
    let path = path.as_ref();
    let err = |reason: String| P2pError::KeyFile {
        path: path.to_path_buf(),
        reason,
    };
    match fs::read(path) {
        Ok(bytes) => {
            tighten_permissions(path).map_err(|e| err(format!("cannot set permissions: {e}")))?;
            Keypair::from_protobuf_encoding(&bytes)
                .map_err(|e| err(format!("not a libp2p private key: {e}")))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let keypair = Keypair::generate_ed25519();
            let bytes = keypair
                .to_protobuf_encoding()
                .map_err(|e| err(format!("cannot encode key: {e}")))?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                fs::create_dir_all(dir)
                    .map_err(|e| err(format!("cannot create directory: {e}")))?;
            }
            let mut tmp_name = path.as_os_str().to_owned();
            tmp_name.push(format!(".tmp{}", std::process::id()));
            let tmp = Path::new(&tmp_name);
            write_private(tmp, &bytes).map_err(|e| err(format!("cannot write key: {e}")))?;
            fs::rename(tmp, path).map_err(|e| {
                let _ = fs::remove_file(tmp);
                err(format!("cannot move key into place: {e}"))
            })?;
            tracing::info!(path = %path.display(), peer_id = %keypair.public().to_peer_id(),
                "created a new node key");
            Ok(keypair)
        }
        Err(e) => Err(err(format!("cannot read: {e}"))),
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = fs::File::create(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(unix)]
fn tighten_permissions(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(path)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"),
            "node key file was readable by others; setting permissions to 0600");
        fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn tighten_permissions(_path: &Path) -> std::io::Result<()> {
    Ok(())
}
