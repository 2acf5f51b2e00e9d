//! `epoch-rfq deploy` and `epoch-rfq escrow …` against the harness anvil, as an operator runs
//! them: real processes, env vars, a deployment file.

use std::process::{Command, Output};

use alloy_primitives::U256;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_l1::{Deployment, EscrowStatus};
use epoch_rfq_testkit::bounded;

const BIN: &str = env!("CARGO_BIN_EXE_epoch-rfq");

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("PROVER_PUBLISHER_PRIVATE_KEY")
        .env_remove("ETHEREUM_HOSTS")
        .env_remove("L1_CHAIN_ID")
        .env_remove("ROLLUP_CONTRACT_ADDRESS")
        .env_remove("PROVER_KEYSTORE")
        .env_remove("PROVER_KEYSTORE_PASSWORD_FILE");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run epoch-rfq")
}

fn ok(out: &Output) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {stdout}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn deploy_then_deposit_and_status() {
    bounded(120, async {
        let chain = TestChain::start(Default::default()).await.unwrap();
        let url = chain.url();
        let deployer_key = chain.private_key_hex(0).unwrap();
        let prover_key = chain.private_key_hex(3).unwrap();
        let prover = chain.address(3).unwrap();
        let out_file = std::env::temp_dir().join(format!(
            "epoch-rfq-deploy-{}-{}.json",
            std::process::id(),
            chain
                .url()
                .rsplit(':')
                .next()
                .unwrap_or("0")
                .trim_end_matches('/')
        ));
        let out_path = out_file.to_str().unwrap().to_string();

        // The wrong chain is refused before anything is sent.
        let refused = tokio::task::spawn_blocking({
            let (url, key) = (url.clone(), deployer_key.clone());
            move || {
                run(
                    &["deploy"],
                    &[
                        ("ETHEREUM_HOSTS", &url),
                        ("L1_CHAIN_ID", "1"),
                        ("PROVER_PUBLISHER_PRIVATE_KEY", &key),
                    ],
                )
            }
        })
        .await
        .unwrap();
        assert!(!refused.status.success());
        let err = String::from_utf8_lossy(&refused.stderr);
        assert!(err.contains("L1_CHAIN_ID is 1 but"), "{err}");

        // Deploy with the defaults of SPEC §3 and fund the prover.
        let mint = format!("{prover}=1000000");
        let stdout = tokio::task::spawn_blocking({
            let (url, key, out_path) = (url.clone(), deployer_key.clone(), out_path.clone());
            move || {
                ok(&run(
                    &["deploy", "--out", &out_path, "--mint", &mint],
                    &[
                        ("ETHEREUM_HOSTS", &url),
                        ("PROVER_PUBLISHER_PRIVATE_KEY", &key),
                    ],
                ))
            }
        })
        .await
        .unwrap();
        let printed = Deployment::from_json(&stdout).unwrap();
        let written = Deployment::read(&out_file).unwrap();
        assert_eq!(printed, written);
        assert_eq!(printed.params.slot_duration, 4);
        assert_eq!(printed.params.epoch_duration, 8);
        assert_eq!(printed.params.claim_window, 4);
        assert_eq!(printed.params.withdraw_delay, 96);
        assert!(stdout.contains(&printed.contracts.rollup.to_checksum(None)));

        // Deposit via the deployment file, status via ROLLUP_CONTRACT_ADDRESS.
        let rollup = printed.contracts.rollup.to_checksum(None);
        let status = tokio::task::spawn_blocking({
            let (url, key, out_path) = (url.clone(), prover_key.clone(), out_path.clone());
            move || {
                let env = [
                    ("ETHEREUM_HOSTS", url.as_str()),
                    ("PROVER_PUBLISHER_PRIVATE_KEY", key.as_str()),
                ];
                let text = ok(&run(
                    &["escrow", "deposit", "250000", "--deployment", &out_path],
                    &env,
                ));
                assert!(text.contains("free deposit:       250000"), "{text}");
                ok(&run(
                    &[
                        "escrow",
                        "start-withdraw",
                        "50000",
                        "--deployment",
                        &out_path,
                    ],
                    &env,
                ));
                let env = [
                    ("ETHEREUM_HOSTS", url.as_str()),
                    ("ROLLUP_CONTRACT_ADDRESS", rollup.as_str()),
                ];
                // The chain-id check applies to escrow commands too (options after the
                // subcommand, as before).
                let refused = run(&["escrow", "status", "--json", "--l1-chain-id", "1"], &env);
                assert!(!refused.status.success());
                let err = String::from_utf8_lossy(&refused.stderr);
                assert!(err.contains("L1_CHAIN_ID is 1 but"), "{err}");
                ok(&run(
                    &[
                        "escrow",
                        "status",
                        "--json",
                        "--account",
                        &prover.to_string(),
                    ],
                    &env,
                ))
            }
        })
        .await
        .unwrap();
        let status: EscrowStatus = serde_json::from_str(&status).unwrap();
        assert_eq!(status.account, prover);
        assert_eq!(status.free, U256::from(250_000));
        assert_eq!(status.available_for_bond, U256::from(200_000));
        assert_eq!(status.pending.unwrap().amount, U256::from(50_000));
        assert_eq!(status.staked, U256::ZERO);
        assert_eq!(status.wallet_balance, U256::from(750_000));

        // Too early to execute: the escrow's custom error, in words.
        let err = tokio::task::spawn_blocking(move || {
            run(
                &["escrow", "execute-withdraw", "--deployment", &out_path],
                &[
                    ("ETHEREUM_HOSTS", &url),
                    ("PROVER_PUBLISHER_PRIVATE_KEY", &prover_key),
                ],
            )
        })
        .await
        .unwrap();
        assert!(!err.status.success());
        let stderr = String::from_utf8_lossy(&err.stderr);
        assert!(
            stderr.contains("executeWithdraw reverted: withdrawal of"),
            "{stderr}"
        );
        assert!(stderr.contains("is not ready"), "{stderr}");
        let _ = std::fs::remove_file(&out_file);
    })
    .await
}

#[test]
fn escrow_without_rollup_says_what_to_set() {
    let out = run(
        &[
            "escrow",
            "status",
            "--account",
            "0x0000000000000000000000000000000000000001",
        ],
        &[],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ROLLUP_CONTRACT_ADDRESS"), "{stderr}");
}

#[test]
fn deploy_without_key_says_what_to_set() {
    let out = run(&["deploy"], &[]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("PROVER_PUBLISHER_PRIVATE_KEY"), "{stderr}");
}
