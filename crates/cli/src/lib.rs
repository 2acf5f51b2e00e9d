//! The `epoch-rfq` command's building blocks, as a library so that the sandbox and the
//! end-to-end tests can run every role in one process. The binary (`main.rs`) only parses the
//! command line and calls into these modules.

pub mod chaos;
pub mod config_file;
pub mod deploy_cmd;
pub mod escrow_cmd;
pub mod keys;
pub mod node_cmd;
pub mod p2p_args;
pub mod price_cmd;
pub mod pricing_cmd;
pub mod proposer_cmd;
pub mod prover_cmd;
pub mod quote_cmd;
pub mod role_flags;
pub mod sandbox;
pub mod testbed;
pub mod wiring;

/// A runtime for the short commands that talk to L1 (the quote tools need none).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// A multi-threaded runtime for the long-running roles (jobs and servers run beside the loop).
pub fn multi_thread() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
