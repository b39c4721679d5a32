//! Builds one core with the Rust library: its history (`rust-cores.json`), its readers and
//! proof matrix (`rust-proofs.json`) and the tampered proofs (`rust-invalid-proofs.json`).

use crate::blocks::make_block;
use crate::context::Ctx;
use crate::proofs::{answer, case_name, matrix, request_for};
use crate::tamper::tampers;
use crate::wire::data_wire;
use crate::{Error, FORK0_LENGTHS, FORK1_LENGTHS, READER_LENGTHS, TRUNCATE_TO, WRITER_LENGTH};
use hyperwasm::core::verifier::Verifier;
use hyperwasm::core::{CreateOptions, Hypercore};
use hyperwasm::crypto::KeyPair;
use hyperwasm::encoding::Compact;
use hyperwasm::storage::MemoryStorage;
use hyperwasm::testing::fixtures::{
    to_hex, BootstrapJson, CoreJson, KeyPairJson, ManifestJson, ProofEntryJson, ProofJson, ProofsCoreJson,
    ReaderJson, RequestJson, ResultJson, StateJson, StepJson,
};
use hyperwasm::tree::proof::{ProofRequest, RequestIndex, RequestUpgrade};
use hyperwasm::tree::verify::missing_nodes;
use hyperwasm::tree::Proof;
use std::collections::BTreeMap;

/// One writer plus everything needed to rebuild readers.
pub(crate) struct Built {
    pub(crate) core_json: CoreJson,
    pub(crate) proofs_json: ProofsCoreJson,
    pub(crate) invalid_json: ProofsCoreJson,
    pub(crate) problems: Vec<String>,
}

pub(crate) async fn build(kind: &'static str, seed: u8) -> Result<Built, Error> {
    let compat = kind == "compat";
    let kp = KeyPair::from_seed(&[seed; 32]);
    let mut writer = Hypercore::create(
        MemoryStorage::new(),
        CreateOptions { key_pair: Some(kp.clone()), manifest: None, compat },
    )
    .await?;
    let key = *writer.key();
    let manifest = writer.manifest().cloned().ok_or("writer has no manifest")?;
    let manifest_encoding = if compat { None } else { Some(manifest.to_bytes()) };
    let verifier = Verifier::with_options(&key, &manifest, compat, false);
    let mut ctx = Ctx { compat, key, verifier, bootstraps: BTreeMap::new(), writer_tree: None, next_id: 0 };
    let mut problems = Vec::new();

    let mut blocks = Vec::new();
    let mut steps = Vec::new();
    let mut readers = Vec::new();
    let mut writer_state = None;
    let mut valid: Vec<(ProofEntryJson, Proof, Option<Vec<u8>>)> = Vec::new();
    let mut insufficient: Vec<(ProofEntryJson, Proof)> = Vec::new();

    readers.push(ReaderJson { length: 0, bootstrap: None, has_manifest: false });

    let schedule = FORK0_LENGTHS
        .iter()
        .map(|&l| (0u64, l))
        .chain(std::iter::once((1, TRUNCATE_TO)))
        .chain(FORK1_LENGTHS.iter().map(|&l| (1, l)));
    let mut truncated = false;
    for (fork, target) in schedule {
        let from = writer.length();
        if fork == 1 && !truncated {
            truncated = true;
            writer.truncate(target, None).await?;
            let t = writer.tree();
            steps.push(StepJson {
                op: "truncate".into(),
                from,
                count: None,
                block_indexes: None,
                to: Some(target),
                state: StateJson::new(t, ctx.signable(t)),
            });
            continue;
        }
        let mut data = Vec::new();
        for i in from..target {
            let (d, j) = make_block(fork, i);
            data.push(d);
            blocks.push(j);
        }
        writer.append_batch(&data).await?;
        let t = writer.tree();
        if t.fork != fork {
            return Err(format!("writer fork {} != expected {fork}", t.fork).into());
        }
        steps.push(StepJson {
            op: "append".into(),
            from,
            count: Some(target - from),
            block_indexes: Some((from..target).collect()),
            to: None,
            state: StateJson::new(t, ctx.signable(t)),
        });

        if fork != 0 {
            continue;
        }
        // Readers: bootstrapped by the writer's answer at exactly this length.
        if READER_LENGTHS.contains(&target) {
            let req = ProofRequest {
                upgrade: Some(RequestUpgrade { start: 0, length: target }),
                ..ProofRequest::default()
            };
            let (proof, m) = answer(&writer, &req, !compat).await?;
            let id = ctx.id();
            let bootstrap = BootstrapJson {
                request: RequestJson::new(id, 0, &req, !compat),
                proof: ProofJson::new(&proof, m.as_deref()),
                data_wire: Some(to_hex(data_wire(id, &proof, m.as_deref()))),
                state: StateJson::new(t, ctx.signable(t)),
            };
            ctx.bootstraps.insert(target, (proof, m));
            // Rust must accept its own bootstrap (checked inside `reader`).
            ctx.reader(target).await?;
            readers.push(ReaderJson { length: target, bootstrap: Some(bootstrap), has_manifest: !compat });
        }
        // The proof matrix, answered by the writer at its full fork-0 length.
        if target == WRITER_LENGTH {
            writer_state = Some(StateJson::new(t, ctx.signable(t)));
            ctx.writer_tree = Some(t.clone());
            for (l, b) in [(45u64, 5u64), (32, 0), (12, 3), (45, 40)] {
                let needed = missing_nodes(ctx.reader(l).await?.storage(), 2 * b, l).await?;
                if needed == 0 {
                    problems.push(format!("{kind}: insufficient-nodes block {b} at L{l} needs no nodes"));
                    continue;
                }
                let req = ProofRequest {
                    block: Some(RequestIndex { index: b, nodes: needed - 1 }),
                    ..ProofRequest::default()
                };
                let (proof, _) = answer(&writer, &req, false).await?;
                let id = ctx.id();
                let name = format!("insufficient-nodes-block-{b}-at-L{l}");
                let request = RequestJson::new(id, 0, &req, false);
                let entry = ProofEntryJson {
                    based_on: Some(None),
                    tamper: Some(format!(
                        "genuine Rust proof for nodes: {} (missing_nodes says {needed})",
                        needed - 1
                    )),
                    ..entry(name, l, request, &proof, None, ResultJson::default())
                };
                insufficient.push((entry, proof));
            }
            for case in matrix() {
                let name = case_name(&case);
                let (req, want_manifest) = request_for(&ctx, &case).await?;
                let (proof, m) = match answer(&writer, &req, want_manifest).await {
                    Ok(x) => x,
                    Err(e) => {
                        problems.push(format!("{kind}: {name}: Rust refused the request {req:?}: {e}"));
                        continue;
                    }
                };
                let result = ctx.check(case.l, &proof, m.as_deref()).await?;
                if !result.ok {
                    problems.push(format!("{kind}: {name}: Rust rejects its own proof: {result:?}"));
                }
                let id = ctx.id();
                let request = RequestJson::new(id, 0, &req, want_manifest);
                let entry = entry(name, case.l, request, &proof, m.as_deref(), result);
                valid.push((entry, proof, m));
            }
        }
    }

    // Tampered proofs.
    let mut invalid = Vec::new();
    for (name, based_on, what, tamper) in tampers() {
        let Some((base, proof, m)) = valid.iter().find(|(e, _, _)| e.name == based_on) else {
            problems.push(format!("{kind}: tamper {name}: no valid proof named {based_on}"));
            continue;
        };
        let (mut proof, mut m) = (proof.clone(), m.clone());
        if !tamper(&mut proof, &mut m, &ctx) {
            if !(name.starts_with("manifest-") && compat || name.starts_with("compat-") && !compat) {
                problems.push(format!("{kind}: tamper {name} does not apply to {based_on}"));
            }
            continue;
        }
        let result = ctx.check(base.reader_length, &proof, m.as_deref()).await?;
        if result.ok {
            problems.push(format!("{kind}: tampered proof {name} is ACCEPTED by Rust"));
        }
        let request = base.request.clone().ok_or("a valid proof without its request")?;
        invalid.push(ProofEntryJson {
            based_on: Some(Some(based_on.into())),
            tamper: Some(what.into()),
            ..entry(name.into(), base.reader_length, request, &proof, m.as_deref(), result)
        });
    }
    // Genuine Rust proofs for requests with too few nodes: the reader lacks the subtree root.
    for (entry, proof) in insufficient {
        let result = ctx.check(entry.reader_length, &proof, None).await?;
        if result.ok {
            problems.push(format!("{kind}: {} is ACCEPTED by Rust", entry.name));
        }
        invalid.push(ProofEntryJson { result: Some(result), ..entry });
    }

    let final_state = StateJson::new(writer.tree(), ctx.signable(writer.tree()));
    let manifest_json = if compat { None } else { Some(ManifestJson::from(&manifest)) };
    let core_json = CoreJson {
        kind: kind.into(),
        compat,
        key: to_hex(key),
        discovery_key: to_hex(writer.discovery_key()),
        manifest: manifest_json,
        manifest_encoding: manifest_encoding.as_ref().map(to_hex),
        key_pair: KeyPairJson {
            seed_byte: seed,
            public_key: to_hex(kp.public_key()),
            secret_key: to_hex(kp.secret_key()),
        },
        blocks,
        steps,
        final_state,
    };
    let writer_state = writer_state.ok_or("writer never reached WRITER_LENGTH")?;
    let proofs_json = ProofsCoreJson {
        key: to_hex(key),
        discovery_key: Some(to_hex(writer.discovery_key())),
        compat,
        manifest_encoding: manifest_encoding.as_ref().map(to_hex),
        writer: Some(writer_state),
        readers,
        proofs: valid.into_iter().map(|(e, _, _)| e).collect(),
    };
    let invalid_json = ProofsCoreJson { proofs: invalid, ..proofs_json.clone() };
    Ok(Built { core_json, proofs_json, invalid_json, problems })
}

/// A proof vector answering `request` (its id also goes into `dataWire`).
fn entry(
    name: String,
    reader_length: u64,
    request: RequestJson,
    proof: &Proof,
    manifest: Option<&[u8]>,
    result: ResultJson,
) -> ProofEntryJson {
    ProofEntryJson {
        name,
        based_on: None,
        tamper: None,
        reader_length,
        data_wire: Some(to_hex(data_wire(request.id, proof, manifest))),
        request: Some(request),
        proof: Some(ProofJson::new(proof, manifest)),
        result: Some(result),
        error: None,
        core_verify: None,
    }
}
