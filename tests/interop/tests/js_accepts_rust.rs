//! JS hypercore 11.39.5 must accept the cores, signatures and proofs the Rust library makes,
//! and reject the tampered ones: exports with `hyperwasm_interop::export`, then runs
//! `node tests/js/verify-rust.mjs` on each file. Needs `node` and `tests/js/node_modules`
//! (`make setup`); without them this test fails, it never skips.

#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn require_js(root: &Path) {
    let node = Command::new("node").arg("--version").output();
    match node {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!("`node --version` failed ({}): JS hypercore is needed for this test", out.status),
        Err(e) => panic!("`node` not found on PATH ({e}): install Node.js (>= 20) — this test does not skip"),
    }
    let modules = root.join("tests/js/node_modules/hypercore");
    assert!(
        modules.is_dir(),
        "{} is missing: run `make setup` (or `cd tests/js && npm ci`) — this test does not skip",
        modules.display()
    );
}

/// Runs verify-rust.mjs and returns (passed, failed, stdout).
fn verify_rust(root: &Path, file: &Path, expect_reject: bool) -> (u64, u64, String) {
    let mut cmd = Command::new("node");
    cmd.arg(root.join("tests/js/verify-rust.mjs")).arg(file);
    if expect_reject {
        cmd.arg("--expect-reject");
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let failures: Vec<&str> = stdout.lines().filter(|l| l.starts_with("FAIL")).collect();
    let last = stdout.lines().last().unwrap_or_default().to_string();
    let counts: Vec<u64> = last.split(|c: char| !c.is_ascii_digit()).filter_map(|s| s.parse().ok()).collect();
    let name = file.file_name().unwrap().to_string_lossy();
    let mode = if expect_reject { " --expect-reject" } else { "" };
    println!("verify-rust {name}{mode}: {last}");
    assert!(
        last.ends_with(" failed") && counts.len() == 2,
        "verify-rust {name}: no summary line (exit {}); stdout tail: {last}\nstderr: {stderr}",
        out.status
    );
    let (passed, failed) = (counts[0], counts[1]);
    assert!(
        out.status.success() && failed == 0,
        "verify-rust {name}{mode}: JS disagrees with Rust (exit {}, {failed} failed):\n{}\nstderr: {stderr}",
        out.status,
        failures.join("\n")
    );
    assert!(passed > 0, "verify-rust {name}: nothing was checked");
    (passed, failed, stdout)
}

#[test]
fn js_accepts_rust_cores_proofs_and_rejects_tampered_ones() {
    let root = repo_root();
    require_js(&root);
    let dir = tempfile::tempdir().unwrap();
    let summary = hyperwasm_interop::export(dir.path()).unwrap();
    assert!(
        summary.rust_problems.is_empty(),
        "Rust disagrees with itself:\n{}",
        summary.rust_problems.join("\n")
    );

    // Cores: every step of both cores replayed in JS.
    let (_, _, out) = verify_rust(&root, &summary.cores_file, false);
    let steps = hyperwasm_interop::FORK0_LENGTHS.len() + 1 + hyperwasm_interop::FORK1_LENGTHS.len();
    for kind in ["compat", "manifest"] {
        let accepted = out
            .lines()
            .filter(|l| {
                l.starts_with(&format!("PASS {kind}: step")) && l.contains("JS verifier accepts signature")
            })
            .count();
        assert_eq!(accepted, steps, "{kind}: every step's signature must be checked by JS");
    }

    // Valid proofs: every one accepted, every reader bootstrapped.
    let (_, _, out) = verify_rust(&root, &summary.proofs_file, false);
    let valid: usize = summary.valid_proofs.values().sum();
    assert!(valid >= 100, "only {valid} valid proofs exported");
    assert_eq!(out.lines().filter(|l| l.starts_with("PASS") && l.ends_with(": JS accepts")).count(), valid);
    let readers = 2 * (hyperwasm_interop::READER_LENGTHS.len() - 1);
    assert_eq!(out.lines().filter(|l| l.contains("bootstrap proof accepted")).count(), readers);

    // Tampered proofs: every one rejected.
    let (_, _, out) = verify_rust(&root, &summary.invalid_file, true);
    let invalid: usize = summary.invalid_proofs.values().sum();
    assert!(invalid >= 40, "only {invalid} tampered proofs exported");
    assert_eq!(out.lines().filter(|l| l.starts_with("PASS") && l.contains(": JS rejects")).count(), invalid);

    // And without --expect-reject the tampered file must fail.
    let status = Command::new("node")
        .arg(root.join("tests/js/verify-rust.mjs"))
        .arg(&summary.invalid_file)
        .output()
        .unwrap()
        .status;
    assert!(!status.success(), "verify-rust accepted the tampered proofs without --expect-reject");
}
