//! Result types of the JSON-RPC API, shared by the server and [`crate::NodeClient`].

use alloy_primitives::Address;
use epoch_rfq_l1::ContractAddresses;
use serde::{Deserialize, Serialize};

/// `node_getL1ContractAddresses` result. Addresses not known to the node are `null`.
///
/// The wire form of SPEC §5 (its own keys, optional addresses); a node that reads L1 builds it
/// from the deployment's [`ContractAddresses`] with `From`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct L1ContractAddresses {
    /// The Rollup contract.
    pub rollup_address: Address,
    /// The ProofCommitmentEscrow contract.
    pub proof_commitment_escrow_address: Option<Address>,
    /// The fee token (ERC20).
    pub fee_token_address: Option<Address>,
    /// The epoch proof verifier.
    pub verifier_address: Option<Address>,
}

impl From<&ContractAddresses> for L1ContractAddresses {
    fn from(c: &ContractAddresses) -> Self {
        Self {
            rollup_address: c.rollup,
            proof_commitment_escrow_address: Some(c.escrow),
            fee_token_address: Some(c.fee_token),
            verifier_address: Some(c.verifier),
        }
    }
}

/// Pool sizes in `node_getNodeInfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PoolInfo {
    /// Quotes stored.
    pub quotes: u64,
    /// Epochs with quotes.
    pub epochs: u64,
    /// Bytes charged against the pool's byte cap.
    pub bytes: u64,
}

/// `node_getNodeInfo` result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    /// `epoch-rfq-node/<version>`.
    pub version: String,
    /// L1 chain id, once the node has a view of L1.
    pub chain_id: Option<u64>,
    /// Our Rollup.
    pub rollup_address: Address,
    /// libp2p peer id, when gossip is enabled.
    pub peer_id: Option<String>,
    /// Connected gossip peers.
    pub peers: u64,
    /// Pool sizes.
    pub pool: PoolInfo,
    /// Current L2 slot (from the last snapshot).
    pub current_slot: Option<u64>,
    /// Current L2 epoch.
    pub current_epoch: Option<u64>,
    /// The epoch to prove, if any.
    pub epoch_to_prove: Option<u64>,
    /// L1 block of the last snapshot.
    pub l1_block_number: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_form_names_each_deployed_address_under_its_spec_key() {
        let contracts = ContractAddresses {
            rollup: Address::repeat_byte(1),
            escrow: Address::repeat_byte(2),
            fee_token: Address::repeat_byte(3),
            verifier: Address::repeat_byte(4),
        };
        let wire = serde_json::to_value(L1ContractAddresses::from(&contracts)).expect("json");
        let hex = |b: u8| format!("{:?}", Address::repeat_byte(b));
        assert_eq!(
            wire,
            serde_json::json!({
                "rollupAddress": hex(1),
                "proofCommitmentEscrowAddress": hex(2),
                "feeTokenAddress": hex(3),
                "verifierAddress": hex(4),
            })
        );
    }
}
