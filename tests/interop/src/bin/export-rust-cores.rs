//! `export-rust-cores [OUT_DIR] [--invalid]`: writes `rust-cores.json`, `rust-proofs.json` and
//! `rust-invalid-proofs.json` (built by the Rust library only) into `OUT_DIR` (default `.`),
//! for `node tests/js/verify-rust.mjs FILE` (and `--expect-reject` for the invalid file).
//! Prints the path of every file written; with `--invalid` only the invalid file's path.
//! Exits 1 if Rust disagrees with itself (rejects its own proof, accepts a tampered one).

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only_invalid = args.iter().any(|a| a == "--invalid");
    let dir = args.iter().find(|a| !a.starts_with("--")).map_or_else(|| PathBuf::from("."), PathBuf::from);
    let summary = match hyperwasm_interop::export(&dir) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("export-rust-cores: {e}");
            return ExitCode::FAILURE;
        }
    };
    if only_invalid {
        println!("{}", summary.invalid_file.display());
    } else {
        for f in [&summary.cores_file, &summary.proofs_file, &summary.invalid_file] {
            println!("{}", f.display());
        }
    }
    eprintln!(
        "export-rust-cores: valid proofs {:?}, tampered proofs {:?}",
        summary.valid_proofs, summary.invalid_proofs
    );
    for p in &summary.rust_problems {
        eprintln!("export-rust-cores: RUST PROBLEM: {p}");
    }
    if summary.rust_problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
