//! `invalid-proofs.json`: every tampered or insufficient proof must be rejected by the Rust reader
//! pipeline (fork check, tree verification, manifest check, signature verification) with the
//! same error code as JS.
#![allow(clippy::unwrap_used, missing_docs)]

mod common;

use common::{load, Reader};
use hyperwasm::testing::fixtures::{ProofsFile, KINDS};

/// The decimal numbers in a message (node indexes, forks), to compare JS's and Rust's wording
/// of the same failure.
fn numbers(msg: &str) -> Vec<u64> {
    msg.split(|c: char| !c.is_ascii_digit()).filter(|s| !s.is_empty()).map(|s| s.parse().unwrap()).collect()
}

#[test]
fn invalid_proofs_are_rejected_with_js_codes() {
    let f: ProofsFile = load("invalid-proofs.json");
    let mut checked = 0usize;
    let mut total = 0usize;
    let mut codes = std::collections::BTreeSet::new();
    for kind in KINDS {
        let pc = f.cores.get(kind);
        let readers = Reader::bootstrap_all(pc);
        total += pc.proofs.len();
        for e in &pc.proofs {
            let what = format!("{kind}/{}", e.name);
            let js = e.result.as_ref().unwrap();
            assert!(!js.ok, "{what}: fixture entry is a rejection");
            let js_code = js.code.as_deref().unwrap();
            let js_msg = js.message.as_deref().unwrap();
            let reader = &readers[&e.reader_length];
            let proof = e.proof.as_ref().unwrap();
            let got = reader.check(&proof.proof(), proof.manifest_bytes().as_deref());
            let rejection = match got {
                Ok(acc) => {
                    panic!("{what} ({}): accepted, length {}", e.tamper.as_deref().unwrap(), acc.batch.length)
                }
                Err(r) => r,
            };
            assert_eq!(rejection.code, js_code, "{what}: Rust {:?} vs JS {js_msg:?}", rejection.message);
            // Same failure point: the node indexes (or forks) named agree. Signature messages name
            // a z-base32 discovery key instead, so they are compared by code only.
            if js_code != "INVALID_SIGNATURE" {
                assert_eq!(
                    numbers(&rejection.message),
                    numbers(js_msg),
                    "{what}: {rejection:?} vs {js_msg:?}"
                );
            } else {
                let manifest_problem = js_msg.contains("invalid manifest");
                assert_eq!(rejection.message.contains("invalid manifest"), manifest_problem, "{what}");
            }
            // The real `Core.verify` agreed with the non-committing check (or returned false).
            if let Some(cv) = &e.core_verify {
                assert!(!cv.ok, "{what}");
                if let Some(code) = &cv.code {
                    assert_eq!(code, js_code, "{what}: Core.verify code");
                }
            }
            codes.insert(js_code.to_owned());
            checked += 1;
        }
    }
    assert!(checked > 0);
    assert_eq!(checked, total);
    assert_eq!(checked, 31, "15 compat + 16 manifest entries");
    let all: Vec<&str> = codes.iter().map(String::as_str).collect();
    assert_eq!(all, ["FORK_MISMATCH", "INVALID_CHECKSUM", "INVALID_OPERATION", "INVALID_SIGNATURE"]);
}
