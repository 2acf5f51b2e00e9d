//! The proposer's L1 connection.
//!
//! Why not [`L1Client::connect`]: its provider reserves nonces in a local cache
//! (alloy's `CachedNonceManager`), and a transaction that fails after its nonce was reserved but
//! before it was sent leaves the cache one ahead of the chain: every later transaction then waits
//! forever behind the gap. A proposer hits exactly that case: a claim passes `validateClaim` and
//! the `eth_call` simulation against the latest block, then gas estimation (against the pending
//! block, one slot later) reverts with `QuoteExpired` or `NotInClaimPhase`. The proposer sends its
//! transactions one at a time from one task, so reading the pending nonce from the node before
//! each one (`SimpleNonceManager`, one more RPC per transaction) is both correct and cheap.

use alloy_primitives::Address;
use epoch_rfq_l1::alloy::network::EthereumWallet;
use epoch_rfq_l1::alloy::providers::{DynProvider, Provider, ProviderBuilder};
use epoch_rfq_l1::alloy::signers::local::PrivateKeySigner;
use epoch_rfq_l1::{L1Client, L1Error, RollupInfo};

/// A provider for `url` (`http(s)://` or `ws(s)://`) signing with `signer`, with gas estimation,
/// the chain id, and the nonce read from the node (pending) for every transaction.
pub async fn proposer_provider(
    url: &str,
    signer: PrivateKeySigner,
) -> Result<DynProvider, L1Error> {
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect(url)
        .await
        .map(|p| p.erased())
        .map_err(|e| L1Error::Rpc {
            call: "connect",
            message: format!("{url}: {e}"),
        })
}

/// An [`L1Client`] of the Rollup at `rollup` sending as `signer` over [`proposer_provider`].
pub async fn connect_proposer_l1(
    url: &str,
    rollup: Address,
    signer: PrivateKeySigner,
) -> Result<L1Client, L1Error> {
    let me = signer.address();
    let provider = proposer_provider(url, signer).await?;
    L1Client::new(provider, rollup, Some(me)).await
}

/// The same over known deployment facts (no start-up reads; tests and the sandbox).
pub async fn proposer_l1_from_info(
    url: &str,
    info: RollupInfo,
    signer: PrivateKeySigner,
) -> Result<L1Client, L1Error> {
    let me = signer.address();
    let provider = proposer_provider(url, signer).await?;
    Ok(L1Client::from_info(provider, info, Some(me)))
}
