//! The `epoch-rfq quote` commands as an operator runs them: real process, real pipes.

use epoch_rfq_testkit::TempDir;
use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_epoch-rfq");
/// anvil's first dev key (public knowledge; never a real key).
const DEV_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const DEV_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";
const ROLLUP: &str = "0x5FbDB2315678afecb367f032d93F642f64180aa3";

fn run(args: &[&str], env: &[(&str, &str)], stdin: &[u8]) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .env_remove("PROVER_PUBLISHER_PRIVATE_KEY")
        .env_remove("L1_CHAIN_ID")
        .env_remove("ROLLUP_CONTRACT_ADDRESS")
        .env_remove("QUOTE_PROVIDER_BASIS_POINT_FEE")
        .env_remove("QUOTE_PROVIDER_BOND_AMOUNT")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn epoch-rfq");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sign(extra: &[&str]) -> Output {
    let mut args = vec![
        "quote",
        "sign",
        "--rollup",
        ROLLUP,
        "--epoch",
        "7",
        "--init-block",
        "57",
        "--final-block",
        "64",
        "--total-fees",
        "123000",
        "--fee-bps",
        "250",
        "--bond",
        "1000000",
        "--valid-until-slot",
        "60",
    ];
    args.extend_from_slice(extra);
    run(&args, &[("PROVER_PUBLISHER_PRIVATE_KEY", DEV_KEY)], b"")
}

#[test]
fn signed_quote_verifies_and_never_echoes_the_key() {
    let signed = sign(&[]);
    assert!(signed.status.success(), "{}", text(&signed.stderr));
    let json = text(&signed.stdout);
    assert!(json.contains(DEV_ADDRESS), "{json}");
    assert!(
        !json.contains(&DEV_KEY[2..]),
        "the key must never be printed"
    );

    let verified = run(&["quote", "verify"], &[], json.as_bytes());
    let out = text(&verified.stdout);
    assert!(verified.status.success(), "{out}{}", text(&verified.stderr));
    assert!(
        out.contains(&format!("signer:        {DEV_ADDRESS}")),
        "{out}"
    );
    assert_eq!(out.matches("  ok  ").count(), 4, "{out}");
}

#[test]
fn tampered_quote_fails_and_names_the_check() {
    let json = text(&sign(&[]).stdout);
    let tampered = json.replace("\"bondAmount\":\"1000000\"", "\"bondAmount\":\"999999\"");
    assert_ne!(json, tampered, "the fixture must contain the bond");
    let out = run(&["quote", "verify"], &[], tampered.as_bytes());
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("FAILED  recovered signer == prover"),
        "{stdout}"
    );
    assert!(
        text(&out.stderr).contains("is not the prover"),
        "{}",
        text(&out.stderr)
    );

    // Another chain id is another EIP-712 domain: the same bytes no longer verify.
    let other_chain = run(
        &["quote", "verify", "--chain-id", "1"],
        &[],
        json.as_bytes(),
    );
    assert!(!other_chain.status.success());
}

#[test]
fn high_s_signature_fails_the_form_check() {
    let json = text(&sign(&[]).stdout);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    let sig = hex::decode(&value["signature"].as_str().unwrap()[2..]).unwrap();
    // s' = n - s with the other v: the same key, the malleable twin every checker must refuse.
    let n = alloy_primitives::U256::from_str_radix(
        "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141",
        16,
    )
    .unwrap();
    let s = alloy_primitives::U256::from_be_slice(&sig[32..64]);
    let mut twin = sig.clone();
    twin[32..64].copy_from_slice(&(n - s).to_be_bytes::<32>());
    twin[64] = if sig[64] == 27 { 28 } else { 27 };
    let tampered = json.replace(&hex::encode(&sig), &hex::encode(&twin));
    let out = run(&["quote", "verify"], &[], tampered.as_bytes());
    assert!(!out.status.success());
    let stdout = text(&out.stdout);
    assert!(stdout.contains("FAILED  signature form"), "{stdout}");
    assert!(stdout.contains("(not reached)"), "{stdout}");
}

#[test]
fn wire_output_decodes_to_the_same_quote() {
    let json: serde_json::Value = serde_json::from_slice(&sign(&[]).stdout).unwrap();
    let wire = sign(&["--output", "wire"]);
    let hex_text = text(&wire.stdout);
    assert_eq!(hex_text.trim().len(), 2 + 2 * 302, "{hex_text}");
    let decoded = run(&["quote", "decode"], &[], hex_text.as_bytes());
    assert!(decoded.status.success(), "{}", text(&decoded.stderr));
    let back: serde_json::Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(back, json);
    // And verify accepts the wire form directly.
    let verified = run(&["quote", "verify"], &[], hex_text.as_bytes());
    assert!(verified.status.success(), "{}", text(&verified.stdout));
}

#[test]
fn bad_inputs_get_clear_errors() {
    let short = run(&["quote", "decode", "--hex", "0x0102"], &[], b"");
    assert!(!short.status.success());
    assert!(text(&short.stderr).contains("expected exactly 302 bytes, got 2"));

    let no_key = run(&["quote", "sign", "--fields", "-"], &[], b"{}");
    assert!(!no_key.status.success());
    assert!(text(&no_key.stderr).contains("PROVER_PUBLISHER_PRIVATE_KEY"));

    let fee = run(
        &[
            "quote",
            "sign",
            "--rollup",
            ROLLUP,
            "--epoch",
            "7",
            "--init-block",
            "57",
            "--final-block",
            "64",
            "--total-fees",
            "1",
            "--fee-bps",
            "10001",
            "--bond",
            "1",
            "--valid-until-slot",
            "60",
        ],
        &[("PROVER_PUBLISHER_PRIVATE_KEY", DEV_KEY)],
        b"",
    );
    assert!(!fee.status.success());
    assert!(
        text(&fee.stderr).contains("basisPointFee"),
        "{}",
        text(&fee.stderr)
    );

    let bad_json = run(&["quote", "verify"], &[], br#"{"prover": 5}"#);
    assert!(!bad_json.status.success());
    assert!(
        text(&bad_json.stdout).contains("FAILED  decode"),
        "{}",
        text(&bad_json.stdout)
    );
}

#[test]
fn signs_with_an_encrypted_keystore() {
    let dir = TempDir::created("keystore");
    let key = alloy_primitives::hex::decode(&DEV_KEY[2..]).unwrap();
    let mut rng = rand08::thread_rng();
    // The name argument is the file name; the returned string is the keystore's uuid.
    alloy_signer_local::PrivateKeySigner::encrypt_keystore(
        &dir,
        &mut rng,
        &key,
        "correct horse",
        Some("prover.json"),
    )
    .unwrap();
    std::fs::write(dir.join("password"), "correct horse\n").unwrap();
    let keystore = dir.join("prover.json");
    let password = dir.join("password");
    let args = [
        "quote",
        "sign",
        "--keystore",
        keystore.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
        "--rollup",
        ROLLUP,
        "--epoch",
        "1",
        "--init-block",
        "1",
        "--final-block",
        "2",
        "--total-fees",
        "3",
        "--fee-bps",
        "4",
        "--bond",
        "5",
        "--valid-until-slot",
        "6",
    ];
    let out = run(&args, &[], b"");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains(DEV_ADDRESS));

    std::fs::write(dir.join("password"), "wrong").unwrap();
    let out = run(&args, &[], b"");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot decrypt the keystore"),
        "{}",
        text(&out.stderr)
    );
}
