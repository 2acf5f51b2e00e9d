//! A role's settings written back as the command-line flags that parse into them, so that the
//! sandbox can run a role as a child process (`epoch-rfq prover …`, `epoch-rfq node …`) with
//! exactly the settings struct it would otherwise build the role from in-process. Keys are never
//! written: a child gets its key in the environment.
//!
//! Every field is written, defaults included, so the child's own environment cannot change a
//! setting; the tests parse the flags back and compare.

use clap::ValueEnum;
use epoch_rfq_l1::args::L1Args;

use crate::node_cmd::NodeArgs;
use crate::p2p_args::P2pArgs;
use crate::prover_cmd::ProverCommand;

/// `--name=value`.
fn flag(out: &mut Vec<String>, name: &str, value: impl std::fmt::Display) {
    out.push(format!("--{name}={value}"));
}

/// `--name=value` when the option is set.
fn optional(out: &mut Vec<String>, name: &str, value: Option<impl std::fmt::Display>) {
    if let Some(value) = value {
        flag(out, name, value);
    }
}

/// Wei as the gwei text `parse_gwei` reads (nine decimals at most).
fn gwei(wei: u128) -> String {
    let (whole, frac) = (wei / 1_000_000_000, wei % 1_000_000_000);
    if frac == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{frac:09}")
    }
}

/// The flags of [`L1Args`].
pub fn l1_flags(l1: &L1Args, out: &mut Vec<String>) {
    flag(out, "l1-rpc-url", &l1.ethereum_hosts);
    flag(out, "l1-chain-id", l1.l1_chain_id);
    optional(out, "rollup", l1.rollup_contract_address);
    flag(out, "l1-max-fee-per-gas-gwei", gwei(l1.max_fee_per_gas));
    flag(out, "l1-tx-replace-after-blocks", l1.replace_after_blocks);
    optional(out, "l1-confirmations", l1.confirmations);
}

/// The flags of [`P2pArgs`].
pub fn p2p_flags(p2p: &P2pArgs, out: &mut Vec<String>) {
    flag(out, "p2p-port", p2p.p2p_port);
    flag(out, "p2p-listen-addr", p2p.p2p_listen_addr);
    flag(out, "p2p-bootstrap-nodes", &p2p.p2p_bootstrap_nodes);
    flag(out, "p2p-max-peers", p2p.p2p_max_peers);
    flag(out, "p2p-announce-addresses", &p2p.p2p_announce_addresses);
    flag(out, "p2p-discovery-enabled", p2p.p2p_discovery_enabled);
    flag(
        out,
        "p2p-allow-private-addresses",
        p2p.p2p_allow_private_addresses,
    );
    flag(out, "p2p-validation-workers", p2p.p2p_validation_workers);
}

/// `epoch-rfq prover` flags for `command` (its key excepted: see the module docs).
pub fn prover_flags(command: &ProverCommand) -> Vec<String> {
    let p = &command.prover;
    let mut out = vec!["prover".to_owned()];
    l1_flags(&p.l1, &mut out);
    flag(&mut out, "p2p-enabled", p.p2p_enabled);
    optional(
        &mut out,
        "coordination-node-url",
        p.prover_coordination_node_url.as_ref(),
    );
    flag(&mut out, "minimum-escrow", p.prover_minimum_escrow_amount);
    optional(&mut out, "target-escrow", p.prover_target_escrow_amount);
    optional(
        &mut out,
        "quote-provider-url",
        p.quote_provider_url.as_ref(),
    );
    match &p.quote_provider_cost_file {
        // The fixed terms conflict with a cost file on the command line.
        Some(path) => flag(&mut out, "quote-provider-cost-file", path.display()),
        None => {
            flag(
                &mut out,
                "basis-point-fee",
                p.quote_provider_basis_point_fee,
            );
            flag(&mut out, "bond-amount", p.quote_provider_bond_amount);
        }
    }
    flag(
        &mut out,
        "quote-provider-timeout-ms",
        p.quote_provider_timeout_ms,
    );
    flag(&mut out, "quote-provider-retries", p.quote_provider_retries);
    flag(
        &mut out,
        "polling-interval-ms",
        p.prover_node_polling_interval_ms,
    );
    flag(&mut out, "max-pending-jobs", p.prover_node_max_pending_jobs);
    flag(&mut out, "data-dir", p.data_directory.display());
    if let Some(value) = p.prover_type.to_possible_value() {
        flag(&mut out, "prover-type", value.get_name());
    }
    optional(&mut out, "prover-command", p.prover_command.as_ref());
    flag(
        &mut out,
        "prover-command-timeout-ms",
        p.prover_command_timeout_ms,
    );
    flag(
        &mut out,
        "prover-dev-proof-delay-ms",
        p.prover_dev_proof_delay_ms,
    );
    optional(&mut out, "metrics-addr", command.metrics_addr);
    p2p_flags(&command.p2p, &mut out);
    flag(
        &mut out,
        "node-request-timeout-ms",
        command.node_request_timeout_ms,
    );
    out
}

/// `epoch-rfq node` flags for `args`.
pub fn node_flags(args: &NodeArgs) -> Vec<String> {
    let mut out = vec!["node".to_owned()];
    l1_flags(&args.l1, &mut out);
    flag(&mut out, "http-addr", args.http_addr);
    let limits = &args.http_limits;
    flag(&mut out, "max-connections", limits.max_connections);
    flag(
        &mut out,
        "max-connections-per-ip",
        limits.max_connections_per_ip,
    );
    flag(
        &mut out,
        "header-read-timeout-ms",
        limits.header_read_timeout_ms,
    );
    flag(&mut out, "idle-timeout-ms", limits.idle_timeout_ms);
    flag(&mut out, "request-timeout-ms", limits.request_timeout_ms);
    flag(&mut out, "max-body-bytes", limits.max_body_bytes);
    flag(&mut out, "p2p-enabled", args.p2p_enabled);
    p2p_flags(&args.p2p, &mut out);
    flag(&mut out, "data-dir", args.data_directory.display());
    flag(&mut out, "rate-limit-per-sec", args.rate_limit_per_sec);
    flag(&mut out, "l1-refresh-ms", args.l1_refresh_ms);
    flag(&mut out, "l1-max-age-ms", args.l1_max_age_ms);
    flag(&mut out, "explorer-enabled", args.explorer_enabled);
    flag(&mut out, "history-epochs", args.history_epochs);
    optional(&mut out, "explorer-tx-url", args.explorer_tx_url.as_ref());
    out
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::path::PathBuf;

    use alloy_primitives::{Address, U256};
    use clap::{Parser, Subcommand};
    use epoch_rfq_prover::{ProverArgs, ProverType};

    use super::*;
    use crate::keys::KeyArgs;
    use crate::node_cmd::NodeHttpLimitArgs;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        role: Role,
    }

    #[derive(Debug, Subcommand)]
    enum Role {
        Prover(Box<ProverCommand>),
        Node(Box<NodeArgs>),
    }

    fn parse(flags: &[String]) -> Role {
        let argv = std::iter::once("epoch-rfq".to_owned()).chain(flags.iter().cloned());
        Cli::try_parse_from(argv).expect("the flags parse").role
    }

    fn l1() -> L1Args {
        L1Args {
            confirmations: Some(3),
            max_fee_per_gas: 12_500_000_001,
            replace_after_blocks: 2,
            ..L1Args::new(
                "http://127.0.0.1:1,http://127.0.0.1:2",
                31337,
                Some(Address::repeat_byte(7)),
            )
        }
    }

    fn p2p() -> P2pArgs {
        P2pArgs {
            p2p_port: 0,
            p2p_listen_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            p2p_bootstrap_nodes: String::new(),
            p2p_allow_private_addresses: true,
            p2p_discovery_enabled: false,
            p2p_validation_workers: 3,
            ..P2pArgs::default()
        }
    }

    fn prover(cost_file: Option<PathBuf>) -> ProverCommand {
        ProverCommand {
            prover: ProverArgs {
                l1: l1(),
                p2p_enabled: true,
                prover_coordination_node_url: Some("http://127.0.0.1:8000/".to_owned()),
                prover_minimum_escrow_amount: U256::from(5u64),
                prover_target_escrow_amount: Some(U256::from(9u64)),
                quote_provider_url: None,
                quote_provider_basis_point_fee: 120,
                quote_provider_bond_amount: U256::from(2000u64),
                quote_provider_cost_file: cost_file,
                quote_provider_timeout_ms: 1_500,
                quote_provider_retries: 4,
                prover_node_polling_interval_ms: 500,
                prover_node_max_pending_jobs: 2,
                data_directory: PathBuf::from("some dir/alice"),
                prover_type: ProverType::Command,
                prover_command: Some("echo 'a b' >&2; exit 1".to_owned()),
                prover_command_timeout_ms: 10_000,
                prover_dev_proof_delay_ms: 6_000,
            },
            key: KeyArgs {
                private_key: None,
                keystore: None,
                password_file: None,
            },
            metrics_addr: Some(SocketAddr::from((Ipv4Addr::LOCALHOST, 9464))),
            p2p: p2p(),
            node_request_timeout_ms: 4_000,
        }
    }

    #[test]
    fn prover_settings_parse_back_from_their_flags() {
        for cost_file in [None, Some(PathBuf::from("/x/cost.toml"))] {
            let mut command = prover(cost_file.clone());
            if cost_file.is_some() {
                // Not on the command line beside a cost file: the parser's defaults.
                command.prover.quote_provider_basis_point_fee = 100;
                command.prover.quote_provider_bond_amount = U256::from(1000u64);
            }
            let Role::Prover(parsed) = parse(&prover_flags(&command)) else {
                panic!("a prover command");
            };
            assert_eq!(format!("{parsed:?}"), format!("{command:?}"));
        }
    }

    #[test]
    fn node_settings_parse_back_from_their_flags() {
        let args = NodeArgs {
            l1: l1(),
            http_addr: SocketAddr::from((Ipv4Addr::LOCALHOST, 8123)),
            http_limits: NodeHttpLimitArgs {
                max_connections: 10,
                max_connections_per_ip: 5,
                header_read_timeout_ms: 1_000,
                idle_timeout_ms: 2_000,
                request_timeout_ms: 3_000,
                max_body_bytes: 4_096,
            },
            p2p_enabled: true,
            p2p: p2p(),
            data_directory: PathBuf::from("data/node"),
            rate_limit_per_sec: 0,
            l1_refresh_ms: 500,
            l1_max_age_ms: 7_000,
            explorer_enabled: false,
            history_epochs: 12,
            explorer_tx_url: Some("https://l1.example/tx/{tx}".to_owned()),
        };
        let Role::Node(parsed) = parse(&node_flags(&args)) else {
            panic!("a node command");
        };
        assert_eq!(format!("{parsed:?}"), format!("{args:?}"));
    }

    #[test]
    fn gwei_keeps_every_wei() {
        assert_eq!(gwei(200_000_000_000), "200");
        assert_eq!(gwei(1), "0.000000001");
        assert_eq!(
            epoch_rfq_l1::txsend::parse_gwei(&gwei(12_500_000_001)),
            Ok(12_500_000_001)
        );
    }
}
