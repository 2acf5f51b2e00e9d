//! The roles' config files as an operator uses them: the real binary, `--print-config`, env
//! vars and flags on top of a file. Nothing here needs a chain: `--print-config` stops after
//! parsing.

use std::path::PathBuf;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_epoch-rfq");

/// Every variable these tests set or that could leak in from the environment running them.
const CLEARED: [&str; 17] = [
    "PROPOSER_KEYSTORE",
    "PROPOSER_KEYSTORE_PASSWORD_FILE",
    "PROVER_KEYSTORE",
    "PROPOSER_PUBLISHER_PRIVATE_KEY",
    "EPOCH_RFQ_CONFIG",
    "ETHEREUM_HOSTS",
    "NODE_HTTP_ADDR",
    "NODE_RATE_LIMIT_PER_SEC",
    "P2P_PORT",
    "P2P_MAX_PEERS",
    "P2P_ANNOUNCE_ADDRESSES",
    "P2P_DISCOVERY_ENABLED",
    "P2P_ALLOW_PRIVATE_ADDRESSES",
    "P2P_VALIDATION_WORKERS",
    "PROVER_PUBLISHER_PRIVATE_KEY",
    "QUOTE_PROVIDER_BASIS_POINT_FEE",
    "PRICING_MARGIN_PERCENT",
];

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for name in CLEARED {
        cmd.env_remove(name);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("runs epoch-rfq")
}

fn stdout_ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failure(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn config(name: &str, text: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "epoch-rfq-config-{}-{name}.toml",
        std::process::id()
    ));
    std::fs::write(&path, text).expect("writes the config file");
    path
}

/// The `key = value  # source` line of `key`.
fn line<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find(|l| l.starts_with(&format!("{key} = ")))
        .unwrap_or_else(|| panic!("no line for {key} in\n{text}"))
}

#[test]
fn file_below_env_below_flag() {
    let file = config(
        "precedence",
        r#"
http-addr = "127.0.0.1:9000"
NODE_RATE_LIMIT_PER_SEC = 7
p2p-port = 1234
p2p-enabled = true
"#,
    );
    let path = file.to_str().expect("utf-8 path");
    let out = run(
        &[
            "node",
            "--config",
            path,
            "--p2p-port",
            "555",
            "--print-config",
        ],
        &[("NODE_RATE_LIMIT_PER_SEC", "9")],
    );
    let text = stdout_ok(&out);
    assert_eq!(
        line(&text, "http-addr"),
        r#"http-addr = "127.0.0.1:9000"  # file (key `http-addr`), env NODE_HTTP_ADDR"#
    );
    assert_eq!(
        line(&text, "rate-limit-per-sec"),
        r#"rate-limit-per-sec = "9"  # env NODE_RATE_LIMIT_PER_SEC"#
    );
    assert_eq!(
        line(&text, "p2p-port"),
        r#"p2p-port = "555"  # flag, env P2P_PORT"#
    );
    assert!(
        line(&text, "p2p-enabled").starts_with(r#"p2p-enabled = "true"  # file"#),
        "{text}"
    );
    assert!(
        line(&text, "l1-refresh-ms").starts_with(r#"l1-refresh-ms = "1000"  # default"#),
        "{text}"
    );

    // The printed settings are themselves a config file giving the same result.
    let again = config("printed", &text);
    let out = run(
        &[
            "node",
            "--config",
            again.to_str().expect("utf-8 path"),
            "--print-config",
        ],
        &[],
    );
    let reprinted = stdout_ok(&out);
    assert_eq!(line(&reprinted, "p2p-port"), {
        r#"p2p-port = "555"  # file (key `p2p-port`), env P2P_PORT"#
    });
    assert!(
        line(&reprinted, "rate-limit-per-sec").starts_with(r#"rate-limit-per-sec = "9"  # file"#)
    );
    let _ = std::fs::remove_file(file);
    let _ = std::fs::remove_file(again);
}

#[test]
fn the_file_can_come_from_epoch_rfq_config() {
    let file = config("env", "margin-percent = 25\n");
    let out = run(
        &["pricing-server", "--print-config"],
        &[("EPOCH_RFQ_CONFIG", file.to_str().expect("utf-8 path"))],
    );
    let text = stdout_ok(&out);
    assert!(
        line(&text, "margin-percent").starts_with(r#"margin-percent = "25"  # file"#),
        "{text}"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn unknown_keys_name_the_key_and_the_file() {
    let file = config("unknown", "http-adr = \"127.0.0.1:1\"\n");
    let path = file.to_str().expect("utf-8 path");
    let err = failure(&run(&["node", "--config", path, "--print-config"], &[]));
    assert!(err.contains("unknown key `http-adr`"), "{err}");
    assert!(err.contains(path), "{err}");
    // Keys of another role are unknown too.
    std::fs::write(&file, "QUOTE_PROVIDER_BASIS_POINT_FEE = 5\n").expect("rewrite");
    let err = failure(&run(&["node", "--config", path], &[]));
    assert!(err.contains("`QUOTE_PROVIDER_BASIS_POINT_FEE`"), "{err}");
    // A signing key is never read from a file.
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    std::fs::write(&file, format!("PROVER_PUBLISHER_PRIVATE_KEY = \"{key}\"\n")).expect("rewrite");
    let err = failure(&run(&["prover", "--config", path], &[]));
    assert!(
        err.contains("keys are read only from the environment"),
        "{err}"
    );
    assert!(!err.contains(key), "{err}");
    let _ = std::fs::remove_file(file);
}

#[test]
fn bad_values_name_the_key_and_the_file() {
    let file = config("badtype", "p2p-port = \"abc\"\n");
    let path = file.to_str().expect("utf-8 path");
    let err = failure(&run(&["node", "--config", path, "--print-config"], &[]));
    assert!(err.contains("key `p2p-port`"), "{err}");
    assert!(err.contains(path), "{err}");
    assert!(err.contains("invalid value 'abc'"), "{err}");
    // The same bad value from the environment is the environment's problem, not the file's.
    let err = failure(&run(
        &["node", "--config", path, "--print-config"],
        &[("P2P_PORT", "xyz")],
    ));
    assert!(err.contains("invalid value 'xyz'"), "{err}");
    assert!(!err.contains(path), "{err}");
    for (text, why) in [
        ("p2p-port = 1_000_000\n", "invalid value '1000000'"),
        ("p2p-port = [1, 2]\n", "takes one value, not an array"),
        ("[p2p]\nport = 1\n", "not a table"),
        ("p2p-port = 1979-05-27\n", "is not a setting's value"),
        ("p2p-port = \n", "not valid TOML"),
    ] {
        std::fs::write(&file, text).expect("rewrite");
        let err = failure(&run(&["node", "--config", path], &[]));
        assert!(err.contains(why), "{text}: {err}");
        assert!(err.contains(path), "{text}: {err}");
    }
    let _ = std::fs::remove_file(file);
}

#[test]
fn print_config_redacts_secrets() {
    let file = config(
        "secrets",
        "ETHEREUM_HOSTS = \"https://alice:s3cret@rpc.example/v1,ws://bob@ws.example\"\n",
    );
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    let out = run(
        &[
            "prover",
            "--config",
            file.to_str().expect("utf-8 path"),
            "--print-config",
        ],
        &[("PROVER_PUBLISHER_PRIVATE_KEY", key)],
    );
    let text = stdout_ok(&out);
    assert!(!text.contains("s3cret"), "{text}");
    assert!(!text.contains("alice"), "{text}");
    assert!(!text.contains(key), "{text}");
    assert!(
        line(&text, "l1-rpc-url").starts_with(
            r#"l1-rpc-url = "https://<redacted>@rpc.example/v1,ws://<redacted>@ws.example"  # file"#
        ),
        "{text}"
    );
    assert!(
        text.contains("# signing key: env PROVER_PUBLISHER_PRIVATE_KEY set (value redacted)"),
        "{text}"
    );

    // The proposer's keystore comes from its own variables, and says so.
    let out = run(
        &["proposer", "--print-config"],
        &[
            ("PROPOSER_KEYSTORE", "/keys/proposer.json"),
            ("PROVER_KEYSTORE", "/keys/prover.json"),
        ],
    );
    let text = stdout_ok(&out);
    assert_eq!(
        line(&text, "keystore"),
        r#"keystore = "/keys/proposer.json"  # env PROPOSER_KEYSTORE"#
    );
    assert!(
        text.contains("# password-file: not set, env PROPOSER_KEYSTORE_PASSWORD_FILE"),
        "{text}"
    );
    assert!(
        text.contains("# signing key: env PROPOSER_PUBLISHER_PRIVATE_KEY not set"),
        "{text}"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn no_command_takes_a_key_on_the_command_line() {
    let key = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    for argv in [
        vec!["prover", "--private-key", key],
        vec!["proposer", "--private-key", key],
        vec!["deploy", "--private-key", key],
        vec!["escrow", "deposit", "1", "--private-key", key],
        vec!["quote", "sign", "--private-key", key],
    ] {
        let err = failure(&run(&argv, &[]));
        assert!(
            err.contains("unexpected argument '--private-key'"),
            "{argv:?}: {err}"
        );
        assert!(!err.contains(key), "{argv:?}: {err}");
    }
}

#[test]
fn discovery_and_peer_settings_are_config_keys() {
    // Shown with their defaults, settable from the file (by env name or long flag), for both
    // roles that gossip.
    for role in ["node", "prover"] {
        let defaults = stdout_ok(&run(&[role, "--print-config"], &[]));
        assert!(
            line(&defaults, "p2p-max-peers").starts_with(r#"p2p-max-peers = "50""#),
            "{defaults}"
        );
        assert!(
            line(&defaults, "p2p-discovery-enabled")
                .starts_with(r#"p2p-discovery-enabled = "true""#)
        );
        assert!(
            line(&defaults, "p2p-allow-private-addresses")
                .starts_with(r#"p2p-allow-private-addresses = "false""#)
        );
        assert!(line(&defaults, "p2p-announce-addresses").contains("P2P_ANNOUNCE_ADDRESSES"));
        assert!(
            line(&defaults, "p2p-validation-workers")
                .starts_with(r#"p2p-validation-workers = "0""#)
        );

        let file = config(
            &format!("discovery-{role}"),
            "P2P_MAX_PEERS = 7\np2p-announce-addresses = \"/ip4/203.0.113.7/tcp/40400\"\n",
        );
        let file = file.to_str().expect("utf-8 path");
        let text = stdout_ok(&run(&[role, "--config", file, "--print-config"], &[]));
        assert!(
            line(&text, "p2p-max-peers").starts_with(r#"p2p-max-peers = "7"  # file"#),
            "{text}"
        );
        assert!(
            line(&text, "p2p-announce-addresses")
                .starts_with(r#"p2p-announce-addresses = "/ip4/203.0.113.7/tcp/40400"  # file"#),
            "{text}"
        );
    }
}

#[test]
fn a_bad_announce_address_is_refused_naming_it() {
    let out = run(
        &["node", "--print-config"],
        &[(
            "P2P_ANNOUNCE_ADDRESSES",
            "/ip4/203.0.113.7/tcp/40400,/dns4/me.example/tcp/40400",
        )],
    );
    let err = failure(&out);
    assert!(err.contains("/dns4/me.example/tcp/40400"), "{err}");
    assert!(err.contains("give the public IP"), "{err}");
    let file = config(
        "bad-announce",
        "P2P_ANNOUNCE_ADDRESSES = \"/ip4/0.0.0.0/tcp/1\"\n",
    );
    let err = failure(&run(
        &[
            "prover",
            "--config",
            file.to_str().expect("utf-8 path"),
            "--print-config",
        ],
        &[],
    ));
    assert!(err.contains("P2P_ANNOUNCE_ADDRESSES"), "{err}");
    assert!(err.contains("/ip4/0.0.0.0/tcp/1"), "{err}");
}
