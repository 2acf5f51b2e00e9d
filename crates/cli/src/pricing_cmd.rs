//! `epoch-rfq pricing-server`: the example pricing service (what QUOTE_PROVIDER_URL points at).
//! fee = min(10000, (base + per-tx × txCount) × (100 + margin) / 100) basis points; fixed bond.

use std::net::SocketAddr;

use alloy_primitives::U256;
use anyhow::{Context, Result};
use clap::Args;
use epoch_rfq_prover::pricing_service::{self, PricingPolicy};
use epoch_rfq_runtime::lifecycle::Lifecycle;

/// `epoch-rfq pricing-server` options.
#[derive(Debug, Args)]
pub struct PricingArgs {
    /// Address to listen on (POST / prices an epoch).
    #[arg(long, env = "PRICING_SERVER_ADDR", default_value = "127.0.0.1:8090")]
    pub listen: SocketAddr,

    /// Fee for an empty epoch, in basis points.
    #[arg(long, env = "PRICING_BASE_BPS", default_value_t = 100)]
    pub base_bps: u32,

    /// Basis points added per transaction in the epoch.
    #[arg(long, env = "PRICING_BPS_PER_TX", default_value_t = 2)]
    pub bps_per_tx: u32,

    /// Margin on top, in percent.
    #[arg(long, env = "PRICING_MARGIN_PERCENT", default_value_t = 10)]
    pub margin_percent: u32,

    /// Bond offered for every epoch (fee-token base units).
    #[arg(long, env = "PRICING_BOND_AMOUNT", default_value = "1000")]
    pub bond_amount: U256,
}

/// Serves until SIGINT/SIGTERM (exit 0); the server failing ends the process non-zero.
pub async fn run(args: PricingArgs) -> Result<()> {
    let life = Lifecycle::from_env()?;
    let policy = PricingPolicy {
        base_bps: args.base_bps,
        bps_per_tx: args.bps_per_tx,
        margin_percent: args.margin_percent,
        bond_amount: args.bond_amount,
    };
    let (addr, server) = pricing_service::bind(args.listen, policy)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    tracing::info!(%addr, ?policy, "pricing server listening (POST /)");
    println!("pricing server listening on http://{addr}/");
    let token = life.token();
    life.spawn_critical("pricing_server", async move {
        tokio::select! {
            served = server => served,
            () = token.cancelled() => Ok(()),
        }
    });
    life.run().await?;
    Ok(())
}
