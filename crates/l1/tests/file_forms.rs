//! The serialized forms other processes read (the deployment file, the cached Rollup facts) stay
//! byte-for-byte what they were: the contract addresses are one embedded struct in the code, and
//! flat keys in the JSON.

use alloy::primitives::address;
use epoch_rfq_l1::alloy;
use epoch_rfq_l1::{ContractAddresses, Deployment, RollupInfo};

/// A deployment file as `epoch-rfq l1 deploy` writes it (pretty JSON, EIP-55, decimal amounts).
const DEPLOYMENT_JSON: &str = r#"{
  "chainId": 31337,
  "rollup": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
  "escrow": "0xCafac3dD18aC6c6e92c921884f9E4176737C052c",
  "feeToken": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
  "verifier": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
  "deployer": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
  "genesis": 1700000000,
  "deployBlock": 4,
  "params": {
    "slotDuration": 4,
    "epochDuration": 8,
    "claimWindow": 4,
    "minBond": "1000",
    "withdrawDelay": 96,
    "slashRecipient": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "validators": [],
    "tokenOwner": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "verifier": "0xe7f1725e7734ce288f8367e1bb143e90bb3f0512"
  }
}"#;

fn expected_contracts() -> ContractAddresses {
    ContractAddresses {
        rollup: address!("9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"),
        escrow: address!("CafaC3dD18aC6c6e92c921884f9E4176737C052c"),
        fee_token: address!("5FbDB2315678afecb367f032d93F642f64180aa3"),
        verifier: address!("e7f1725E7734CE288F8367e1Bb143E90bb3F0512"),
    }
}

#[test]
fn the_deployment_file_round_trips_byte_for_byte() {
    let d = Deployment::from_json(DEPLOYMENT_JSON).expect("the file parses");
    assert_eq!(d.contracts, expected_contracts());
    assert_eq!(d.to_json(), DEPLOYMENT_JSON);
}

#[test]
fn a_deployment_file_missing_an_address_names_it() {
    let without_escrow: String = DEPLOYMENT_JSON
        .lines()
        .filter(|l| !l.contains("\"escrow\""))
        .collect::<Vec<_>>()
        .join("\n");
    let err = Deployment::from_json(&without_escrow).expect_err("escrow is required");
    assert!(err.to_string().contains("escrow"), "{err}");
}

#[test]
fn rollup_info_keeps_flat_address_keys() {
    let info = Deployment::from_json(DEPLOYMENT_JSON)
        .expect("the file parses")
        .info();
    assert_eq!(info.contracts, expected_contracts());
    let json = serde_json::to_string(&info).expect("serializes");
    assert_eq!(
        json,
        concat!(
            r#"{"chainId":31337,"#,
            r#""rollup":"0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0","#,
            r#""escrow":"0xCafac3dD18aC6c6e92c921884f9E4176737C052c","#,
            r#""feeToken":"0x5FbDB2315678afecb367f032d93F642f64180aa3","#,
            r#""verifier":"0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512","#,
            r#""time":{"genesis":1700000000,"slotDuration":4,"epochDuration":8,"claimWindow":4},"#,
            r#""minBond":"1000","withdrawDelay":96,"#,
            r#""slashRecipient":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"}"#
        )
    );
    let back: RollupInfo = serde_json::from_str(&json).expect("parses back");
    assert_eq!(back, info);
}
