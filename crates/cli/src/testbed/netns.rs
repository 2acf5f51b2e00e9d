//! The testbed's hosts: one Linux network namespace each, named with a fixed prefix so that an
//! interrupted run's leftovers can be found and removed, each with one TUN device whose other
//! end (the file descriptor) stays with the link emulator ([`super::router`]).
//!
//! Everything is done with `ip` (iproute2) and the TUN ioctl of the `tun-tap` crate; the only
//! change outside the namespaces is a TUN device that exists, down and without an address, for
//! the moment between its creation and its move into its namespace.

use std::fs::File;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};
use tun_tap::{Iface, Mode};

/// The first three octets of every host's address: 10.77.0.0/24, host 0 (the control host) at
/// .1, host N at .N+1 (`--hosts` is at most 200).
pub const SUBNET: [u8; 3] = [10, 77, 0];

/// Why the testbed cannot run here (printed as the skip reason).
#[derive(Debug, thiserror::Error)]
pub enum Unsupported {
    #[error("not root (network namespaces and TUN devices need CAP_NET_ADMIN); run as root")]
    NotRoot,
    #[error("`ip` (iproute2) not found on PATH; install iproute2")]
    NoIp,
    #[error("/dev/net/tun is missing (no TUN support in this kernel or container)")]
    NoTun,
    #[error("cannot create a network namespace: {0}")]
    NamespaceRefused(String),
}

/// Checks root, `ip`, /dev/net/tun, and that a namespace can be made (and removed) here.
pub fn check_supported(prefix: &str) -> Result<(), Unsupported> {
    if !nix::unistd::geteuid().is_root() {
        return Err(Unsupported::NotRoot);
    }
    if Command::new("ip")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        return Err(Unsupported::NoIp);
    }
    if !std::path::Path::new("/dev/net/tun").exists() {
        return Err(Unsupported::NoTun);
    }
    let probe = format!("{prefix}probe");
    let _ = ip(&["netns", "del", &probe]);
    ip(&["netns", "add", &probe]).map_err(|e| Unsupported::NamespaceRefused(format!("{e:#}")))?;
    let _ = ip(&["netns", "del", &probe]);
    Ok(())
}

/// Runs `ip ARGS`; an error carries its stderr.
pub fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running ip {}", args.join(" ")))?;
    if !out.status.success() {
        bail!(
            "ip {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// The address of host `index` (0 is the control host).
pub fn host_addr(index: usize) -> Ipv4Addr {
    Ipv4Addr::new(SUBNET[0], SUBNET[1], SUBNET[2], (index + 1) as u8)
}

/// The host index of `addr`, if it is one of ours.
pub fn host_of(addr: [u8; 4]) -> Option<usize> {
    (addr[..3] == SUBNET && addr[3] >= 1).then(|| usize::from(addr[3]) - 1)
}

/// Namespace name of host `index` under `prefix` (`<prefix>ctl`, `<prefix>h01`, …).
pub fn ns_name(prefix: &str, index: usize) -> String {
    if index == 0 {
        format!("{prefix}ctl")
    } else {
        format!("{prefix}h{index:02}")
    }
}

/// Kills every process still inside a namespace named `prefix…` and deletes the namespace:
/// what an interrupted run (or one killed with SIGKILL) left behind. Returns how many
/// namespaces were removed.
pub fn remove_leftovers(prefix: &str) -> Result<usize> {
    let out = Command::new("ip")
        .args(["netns", "list"])
        .output()
        .context("listing network namespaces")?;
    let list = String::from_utf8_lossy(&out.stdout);
    let mut removed = 0;
    for name in list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| n.starts_with(prefix))
    {
        kill_processes_in(name);
        ip(&["netns", "del", name])?;
        removed += 1;
    }
    Ok(removed)
}

/// SIGKILLs every process in namespace `name` (`ip netns pids`).
pub fn kill_processes_in(name: &str) {
    let Ok(out) = Command::new("ip").args(["netns", "pids", name]).output() else {
        return;
    };
    // The orchestrator itself runs in the control namespace: never kill ourselves.
    let me = std::process::id() as i32;
    for pid in String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|p| *p != me)
    {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
}

/// One host: its namespace and the emulator's end of its TUN device.
pub struct Host {
    pub index: usize,
    pub ns: String,
    pub addr: Ipv4Addr,
    pub tun: Iface,
}

/// Creates namespace `ns_name(prefix, index)` with loopback up and a TUN device holding
/// `host_addr(index)/24`: every packet to another host of the subnet goes to the emulator.
pub fn create_host(prefix: &str, index: usize) -> Result<Host> {
    let ns = ns_name(prefix, index);
    let addr = host_addr(index);
    // Interface names are global until moved: the prefix keeps them apart from anything else.
    let dev = format!("{}{index}", prefix.replace('-', ""))
        .chars()
        .take(15)
        .collect::<String>();
    ip(&["netns", "add", &ns])?;
    let tun = Iface::without_packet_info(&dev, Mode::Tun)
        .with_context(|| format!("creating TUN device {dev}"))?;
    ip(&["link", "set", &dev, "netns", &ns])?;
    ip(&["-n", &ns, "link", "set", "lo", "up"])?;
    ip(&["-n", &ns, "addr", "add", &format!("{addr}/24"), "dev", &dev])?;
    ip(&["-n", &ns, "link", "set", &dev, "up"])?;
    Ok(Host {
        index,
        ns,
        addr,
        tun,
    })
}

/// Moves the calling thread into namespace `ns` (threads it starts afterwards inherit it).
pub fn enter(ns: &str) -> Result<()> {
    let path = format!("/run/netns/{ns}");
    let file = File::open(&path).with_context(|| format!("opening {path}"))?;
    setns(file, CloneFlags::CLONE_NEWNET).with_context(|| format!("entering namespace {ns}"))?;
    Ok(())
}

/// Deletes the namespaces of `names` after killing what runs in them (best effort: used on
/// every exit path).
pub fn remove_all(names: &[String]) {
    for name in names {
        kill_processes_in(name);
        let _ = ip(&["netns", "del", name]);
    }
}
