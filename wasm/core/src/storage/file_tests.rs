use super::*;
use futures::executor::block_on;
use std::fs;

fn put(s: &FileStorage, key: &[u8], value: &[u8]) {
    let mut b = WriteBatch::new();
    b.put(key.to_vec(), value.to_vec());
    block_on(s.write(b)).unwrap();
}

fn get(s: &FileStorage, key: &[u8]) -> Option<Vec<u8>> {
    block_on(s.get(key.to_vec())).unwrap()
}

#[test]
fn conformance() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    block_on(crate::storage::conformance::run_all(|| {
        n += 1;
        let path = dir.path().join(format!("log{n}"));
        async move { FileStorage::open(path).unwrap() }
    }));
}

#[test]
fn conformance_sync_durability() {
    let dir = tempfile::tempdir().unwrap();
    let opts = FileOptions { durability: Durability::Sync, ..FileOptions::default() };
    let s = FileStorage::open_with(dir.path().join("log"), opts).unwrap();
    block_on(crate::storage::conformance::batch_ordering(&s));
}

#[test]
fn reopen_sees_everything() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let s = FileStorage::open(&path).unwrap();
        put(&s, b"a", b"1");
        put(&s, b"b", b"2");
        let mut b = WriteBatch::new();
        b.delete(b"a".to_vec()).put(b"c".to_vec(), vec![]);
        block_on(s.write(b)).unwrap();
    }
    let s = FileStorage::open(&path).unwrap();
    assert!(!s.recovered_torn_tail());
    assert_eq!(get(&s, b"a"), None);
    assert_eq!(get(&s, b"b"), Some(b"2".to_vec()));
    assert_eq!(get(&s, b"c"), Some(vec![]));
}

fn torn_case(damage: impl FnOnce(&Path, u64)) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let good_len;
    {
        let s = FileStorage::open(&path).unwrap();
        put(&s, b"a", b"1");
        good_len = s.file_len();
        put(&s, b"b", b"two");
    }
    damage(&path, good_len);
    let s = FileStorage::open(&path).unwrap();
    assert!(s.recovered_torn_tail());
    assert_eq!(s.file_len(), good_len);
    assert_eq!(fs::metadata(&path).unwrap().len(), good_len);
    assert_eq!(get(&s, b"a"), Some(b"1".to_vec()));
    assert_eq!(get(&s, b"b"), None);
    put(&s, b"c", b"3");
    drop(s);
    let s = FileStorage::open(&path).unwrap();
    assert!(!s.recovered_torn_tail());
    assert_eq!(get(&s, b"c"), Some(b"3".to_vec()));
}

#[test]
fn torn_tail_short_header() {
    torn_case(|p, good| {
        let f = OpenOptions::new().write(true).open(p).unwrap();
        f.set_len(good + 5).unwrap();
    });
}

#[test]
fn torn_tail_short_payload() {
    torn_case(|p, _| {
        let len = fs::metadata(p).unwrap().len();
        OpenOptions::new().write(true).open(p).unwrap().set_len(len - 1).unwrap();
    });
}

#[test]
fn torn_tail_bad_checksum() {
    torn_case(|p, _| {
        let mut bytes = fs::read(p).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        fs::write(p, bytes).unwrap();
    });
}

#[test]
fn corrupt_middle_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let s = FileStorage::open(&path).unwrap();
        put(&s, b"a", b"first value");
        put(&s, b"b", b"second");
    }
    let mut bytes = fs::read(&path).unwrap();
    bytes[HEADER_LEN as usize + 3] ^= 1;
    fs::write(&path, bytes).unwrap();
    assert!(matches!(FileStorage::open(&path), Err(StorageError::Corrupt(_))));
}

#[test]
fn failed_write_poisons_and_reopen_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let s = FileStorage::open(&path).unwrap();
    put(&s, b"a", b"1");
    s.lock().fail_next_write = true;
    let mut b = WriteBatch::new();
    b.put(b"b".to_vec(), vec![7; 100]);
    assert!(matches!(block_on(s.write(b.clone())), Err(StorageError::Io(_))));
    assert!(s.is_poisoned());
    assert_eq!(block_on(s.write(b)), Err(StorageError::Poisoned));
    assert_eq!(get(&s, b"a"), Some(b"1".to_vec()), "reads still work");
    assert_eq!(get(&s, b"b"), None);
    drop(s);
    let s = FileStorage::open(&path).unwrap();
    assert!(s.recovered_torn_tail());
    assert_eq!(get(&s, b"a"), Some(b"1".to_vec()));
    assert_eq!(get(&s, b"b"), None);
}

#[test]
fn compaction_after_writes_and_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    let opts = FileOptions { compact_min_dead_bytes: 10_000, ..FileOptions::default() };
    let s = FileStorage::open_with(&path, opts).unwrap();
    for i in 0..100u32 {
        let mut b = WriteBatch::new();
        b.put(b"hot".to_vec(), vec![i as u8; 1000]).put(i.to_be_bytes().to_vec(), i.to_le_bytes().to_vec());
        block_on(s.write(b)).unwrap();
    }
    assert!(s.file_len() < 30_000, "compaction should have run, len {}", s.file_len());
    assert_eq!(get(&s, b"hot"), Some(vec![99; 1000]));
    for i in 0..100u32 {
        assert_eq!(get(&s, &i.to_be_bytes()), Some(i.to_le_bytes().to_vec()));
    }
    drop(s);
    // Build dead bytes with compaction disabled, then reopen with it enabled.
    let big = FileOptions { compact_min_dead_bytes: u64::MAX, ..FileOptions::default() };
    let s = FileStorage::open_with(&path, big).unwrap();
    for i in 0..50u8 {
        put(&s, b"hot", &[i; 2000]);
    }
    let before = s.file_len();
    drop(s);
    let s = FileStorage::open_with(&path, opts).unwrap();
    assert!(s.file_len() < before / 2);
    assert_eq!(get(&s, b"hot"), Some(vec![49; 2000]));
    assert_eq!(block_on(s.scan(Scan::range(vec![], vec![0xff]))).unwrap().len(), 101);
    assert!(!path.with_file_name("log.compact").exists());
    s.compact().unwrap();
    drop(s);
    let s = FileStorage::open(&path).unwrap();
    assert_eq!(get(&s, &7u32.to_be_bytes()), Some(7u32.to_le_bytes().to_vec()));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 48, ..Default::default() })]
    /// A log file full of garbage (or a valid log with garbage appended) opens as an error or
    /// as a usable store, never a panic, and valid records before the garbage survive.
    #[test]
    fn garbage_logs_never_panic(garbage in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..400), valid_first in proptest::bool::ANY) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        if valid_first {
            let s = FileStorage::open(&path).unwrap();
            let mut b = WriteBatch::new();
            b.put(b"k".to_vec(), b"v".to_vec());
            block_on(s.write(b)).unwrap();
        }
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path).unwrap();
            f.write_all(&garbage).unwrap();
        }
        if let Ok(s) = FileStorage::open(&path) {
            if valid_first {
                // The torn tail is dropped, unless the garbage happens to checksum (then corrupt).
                let got = block_on(s.get(b"k".to_vec()));
                proptest::prop_assert!(matches!(got, Ok(Some(ref v)) if v == b"v") || got.is_err());
            }
        }
    }
}

#[test]
fn zeroed_tail_is_a_torn_write() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log");
    {
        let s = FileStorage::open(&path).unwrap();
        let mut b = WriteBatch::new();
        b.put(b"k".to_vec(), b"v".to_vec());
        block_on(s.write(b)).unwrap();
    }
    {
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0u8; 64]).unwrap();
    }
    let s = FileStorage::open(&path).unwrap();
    assert!(s.recovered_torn_tail(), "a zeroed tail is reported as torn, not replayed as records");
    assert_eq!(block_on(s.get(b"k".to_vec())).unwrap(), Some(b"v".to_vec()));
}
