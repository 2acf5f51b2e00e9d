//! `epoch-rfq price --epoch N` against anvil: the dry run reads the chain and the prover's own
//! state, shows every cost term and ledger figure, and says why it would not quote.

use clap::Parser;
use epoch_rfq::price_cmd::{PriceArgs, dry_run, render};
use epoch_rfq_l1::DeployParams;
use epoch_rfq_l1::alloy::primitives::U256;
use epoch_rfq_l1::anvil::TestChain;
use epoch_rfq_testkit::TempDir;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: PriceArgs,
}

const COST_FILE: &str = r#"bond_amount = "1000"
margin = 0.1
[l1]
proof_submission_gas = 300000
[price]
fee_token_per_eth = 1.0e3
url = "http://127.0.0.1:9/price"
on_stale = "configured"
[proving]
cost_per_epoch = 100
cost_per_tx = 1
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dry_run_shows_the_terms_and_the_reasons() {
    epoch_rfq_testkit::bounded(60, async {
        let chain = TestChain::start_and_deploy(DeployParams {
            slot_duration: 30,
            epoch_duration: 4,
            claim_window: 2,
            min_bond: U256::from(1_000),
            ..DeployParams::default()
        })
        .await
        .expect("anvil starts and the contracts deploy");
        let proposer_address = chain.address(1).expect("account");
        chain
            .fund(&[proposer_address], U256::from(1_000_000_000u64))
            .await
            .expect("fund");
        epoch_rfq_testkit::chain::propose_blocks(&chain, 1, &[(0, 3, 10_000), (1, 5, 25_000)])
            .await;
        let dir = TempDir::created("price-dry-run");
        let cost = dir.join("cost.toml");
        std::fs::write(&cost, COST_FILE).expect("cost file");
        let rollup = chain
            .deployment()
            .expect("deployment")
            .contracts
            .rollup
            .to_string();
        let prover = chain.address(2).expect("account").to_string();
        let url = chain.url();
        let argv = |epoch: &str| {
            vec![
                "price".to_owned(),
                "--epoch".into(),
                epoch.into(),
                "--l1-rpc-url".into(),
                url.clone(),
                "--rollup".into(),
                rollup.clone(),
                "--p2p-enabled".into(),
                "true".into(),
                "--data-dir".into(),
                dir.display().to_string(),
                "--quote-provider-cost-file".into(),
                cost.display().to_string(),
                "--prover-address".into(),
                prover.clone(),
            ]
        };

        // Before the epoch ends: priced anyway, but not quoted, and the reason says why.
        let args = Cli::try_parse_from(argv("0")).expect("flags").args;
        let early = dry_run(&args).await.expect("dry run");
        assert!(!early.would_quote);
        assert_eq!(early.reason_code.as_deref(), Some("not_complete"));

        // In the claim phase: the prover (no escrow yet) would not be covered by the ledger.
        chain.advance_to_slot(4).await.expect("advance");
        let report = dry_run(&args).await.expect("dry run");
        assert_eq!(report.tx_count, "8");
        assert_eq!(report.total_fees, "35000");
        let cost = report.cost.as_ref().expect("cost terms");
        let b = cost.breakdown.as_ref().expect("breakdown");
        assert!((b.proving - 108.0).abs() < 1e-9, "{}", b.proving);
        // The price URL is down: the configured price is used, and the note says so.
        assert!(
            cost.notes.iter().any(|n| n.contains("falling back")),
            "{:?}",
            cost.notes
        );
        assert_eq!(report.basis_point_fee, Some(35));
        assert_eq!(report.valid_until_slot, Some(5));
        assert!(!report.would_quote);
        assert_eq!(report.reason_code.as_deref(), Some("ledger_bond"));
        let text = render(&report);
        assert!(text.contains("NO QUOTE (ledger_bond)"), "{text}");
        assert!(text.contains("proving 108.00"), "{text}");
        let json = serde_json::to_value(&report).expect("json");
        assert_eq!(json["cost"]["decision"]["basisPointFee"], 35);
        assert_eq!(json["reasonCode"], "ledger_bond");
        println!("{text}");
    })
    .await;
}
