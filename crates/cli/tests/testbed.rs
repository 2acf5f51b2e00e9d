//! The testbed. Its link emulator on real packets between two network namespaces: the one-way
//! delay is half the configured round-trip time, the loss rate is what was asked for, TCP over
//! the link sees that loss as retransmits (and still delivers every byte), and a partition cuts
//! the link until healed (needs root for namespaces and TUN; without it the test says why and
//! passes). Its command line: `--help` names the options, bad values are refused.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use epoch_rfq::testbed::netns;
use epoch_rfq::testbed::router::{LinkModel, Router};

/// Namespaces of this test (not the testbed's prefix: a testbed run may be going on).
const PREFIX: &str = "erfq-lt-";

struct Namespaces(Vec<String>);

impl Drop for Namespaces {
    fn drop(&mut self) {
        netns::remove_all(&self.0);
    }
}

/// Runs `f` on a thread inside namespace `ns`.
fn in_ns<T: Send + 'static>(ns: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let ns = ns.to_owned();
    std::thread::spawn(move || {
        netns::enter(&ns).expect("entering the namespace");
        f()
    })
    .join()
    .expect("namespace thread")
}

/// TCP segments retransmitted so far by the calling thread's namespace.
fn retransmitted() -> u64 {
    let snmp = std::fs::read_to_string("/proc/thread-self/net/snmp").expect("snmp");
    let mut tcp = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp.next().expect("header"), tcp.next().expect("values"));
    let i = names
        .split_whitespace()
        .position(|n| n == "RetransSegs")
        .expect("RetransSegs");
    values
        .split_whitespace()
        .nth(i)
        .expect("value")
        .parse()
        .expect("number")
}

/// Sends `n` datagrams from `from` to `to` 2 ms apart; returns the one-way delays (ms) of those
/// that arrived within 2 s of the last send.
fn udp_delays(from: &str, to: &str, to_addr: SocketAddr, n: u32) -> Vec<f64> {
    let base = Instant::now();
    let receiver = {
        let to = to.to_owned();
        std::thread::spawn(move || {
            in_ns(&to, move || {
                let socket = UdpSocket::bind(to_addr).expect("bind");
                socket
                    .set_read_timeout(Some(Duration::from_secs(2)))
                    .expect("timeout");
                let mut delays = Vec::new();
                let mut buf = [0u8; 64];
                while let Ok(len) = socket.recv(&mut buf) {
                    if len == 16 {
                        let sent = u128::from_le_bytes(buf[..16].try_into().expect("16 bytes"));
                        let now = base.elapsed().as_nanos();
                        delays.push((now - sent) as f64 / 1e6);
                    }
                }
                delays
            })
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    in_ns(from, move || {
        let socket = UdpSocket::bind("0.0.0.0:0").expect("bind");
        for _ in 0..n {
            let now = base.elapsed().as_nanos();
            socket.send_to(&now.to_le_bytes(), to_addr).expect("send");
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    receiver.join().expect("receiver")
}

#[test]
fn the_link_emulator_delays_loses_and_partitions_real_packets() {
    if let Err(why) = netns::check_supported(PREFIX) {
        eprintln!("skipped: {why}");
        return;
    }
    netns::remove_leftovers(PREFIX).expect("removing leftovers");
    let mut names = Namespaces(Vec::new());
    let mut tuns = Vec::new();
    for index in 1..=2 {
        let host = netns::create_host(PREFIX, index).expect("creating a host");
        names.0.push(host.ns.clone());
        tuns.push((index, host.tun));
    }
    let (a, b) = (names.0[0].clone(), names.0[1].clone());
    let router = Router::start(
        tuns,
        LinkModel {
            rtt_min: Duration::from_millis(80),
            rtt_max: Duration::from_millis(80),
            jitter: Duration::ZERO,
            loss: 0.10,
            seed: 3,
        },
    )
    .expect("starting the emulator");
    assert_eq!(router.rtt(1, 2), Duration::from_millis(80));
    let b_addr = netns::host_addr(2);

    // Delay and loss on datagrams.
    let n = 500;
    let mut delays = udp_delays(&a, &b, SocketAddr::from((b_addr, 9000)), n);
    delays.sort_by(f64::total_cmp);
    let received = delays.len();
    assert!(
        (400..=490).contains(&received),
        "10% loss: expected about 450 of {n} datagrams, got {received}"
    );
    let (min, median) = (delays[0], delays[received / 2]);
    assert!(min >= 39.5, "one-way delay below RTT/2: {min:.1} ms");
    assert!(
        median < 60.0,
        "median one-way delay {median:.1} ms (expected ~40)"
    );
    let stats = router.stats();
    assert!(stats.lost > 0 && stats.forwarded > 0, "{stats:?}");
    println!("UDP: {received}/{n} delivered, one-way delay min {min:.1} ms, median {median:.1} ms");

    // TCP sees the loss as retransmits and delivers every byte.
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();
    let server = std::thread::spawn({
        let b = b.clone();
        move || {
            in_ns(&b, move || {
                let listener = TcpListener::bind((b_addr, 9001)).expect("listen");
                let (mut conn, _) = listener.accept().expect("accept");
                let mut got = Vec::new();
                conn.read_to_end(&mut got).expect("read");
                got
            })
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let (before, after, took) = in_ns(&a, move || {
        let before = retransmitted();
        let started = Instant::now();
        let mut conn =
            TcpStream::connect_timeout(&SocketAddr::from((b_addr, 9001)), Duration::from_secs(15))
                .expect("connect");
        conn.write_all(&payload).expect("write");
        conn.shutdown(std::net::Shutdown::Write).expect("shutdown");
        let mut rest = Vec::new();
        let _ = conn.read_to_end(&mut rest);
        (before, retransmitted(), started.elapsed())
    });
    let got = server.join().expect("server");
    assert!(
        got == expected,
        "TCP delivered {} of {} bytes intact",
        got.len(),
        expected.len()
    );
    assert!(
        after > before,
        "TCP over a 10%-loss link retransmitted nothing ({before} -> {after})"
    );
    println!(
        "TCP: 200 kB in {:.1} s, {} segments retransmitted",
        took.as_secs_f64(),
        after - before
    );

    // A partition cuts the link; healing restores it.
    router.partition(vec![0, 0, 1]);
    let cut = udp_delays(&a, &b, SocketAddr::from((b_addr, 9002)), 50);
    assert!(
        cut.is_empty(),
        "{} datagrams crossed the partition",
        cut.len()
    );
    router.heal();
    let healed = udp_delays(&a, &b, SocketAddr::from((b_addr, 9003)), 50);
    assert!(
        healed.len() >= 35,
        "only {} of 50 after healing",
        healed.len()
    );
    drop(router);
}

fn testbed_cmd(args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_epoch-rfq"))
        .arg("testbed")
        .args(args)
        .output()
        .expect("running epoch-rfq testbed")
}

#[test]
fn help_names_the_options_and_bad_values_are_refused() {
    let help = testbed_cmd(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for option in [
        "--quick",
        "--hosts",
        "--rtt-min-ms",
        "--rtt-max-ms",
        "--jitter-ms",
        "--loss-percent",
        "--seed",
        "--data-dir",
        "--report",
    ] {
        assert!(text.contains(option), "--help lacks {option}:\n{text}");
    }
    // The garbage publisher's flags are internal.
    assert!(!text.contains("--publish-garbage"), "{text}");

    let too_few = testbed_cmd(&["--hosts", "3"]);
    assert!(!too_few.status.success());
    assert!(
        String::from_utf8_lossy(&too_few.stderr).contains("--hosts"),
        "{}",
        String::from_utf8_lossy(&too_few.stderr)
    );
    let bad_loss = testbed_cmd(&["--loss-percent", "150", "--hosts", "8"]);
    assert!(!bad_loss.status.success());
    assert!(
        String::from_utf8_lossy(&bad_loss.stderr).contains("--loss-percent"),
        "{}",
        String::from_utf8_lossy(&bad_loss.stderr)
    );
}
