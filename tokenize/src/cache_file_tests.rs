//! The cache file format: pinned bytes, round trips, and every damaged file read as a miss.

use super::*;

fn sample() -> CacheFile {
    let mut byte_ids = [0; 256];
    for (byte, id) in byte_ids.iter_mut().enumerate() {
        *id = byte as u32 + 1;
    }
    CacheFile {
        key: 0x0123_4567_89ab_cdef_fedc_ba98_7654_3210,
        info: TokenizerInfo {
            vocab_size: 300,
            hash: "ab".repeat(16),
            eos_id: Some(299),
            bos_id: None,
            kind: "BPE".into(),
        },
        tables: Tables {
            byte_ids,
            chars: Some(vec![('a', 256)]),
            merges: vec![[1, 2, 0, 257], [257, 3, 1, 258]],
            added: vec![
                AddedEntry { id: 298, normalized: true, content: "<n>".into() },
                AddedEntry { id: 299, normalized: false, content: "<|e|>".into() },
            ],
            normalizers: vec![
                NormSpec::Nfc,
                NormSpec::Prepend("▁".into()),
                NormSpec::Replace(" ".into(), "▁".into()),
            ],
            stages: vec![
                StageSpec::Split(r"\p{N}".into()),
                StageSpec::PrefixSpace,
                StageSpec::Gpt2,
            ],
            ignore_merges: true,
            words: vec![(b"ab".to_vec(), 257)],
            atoms: vec![Atom { ch: 'é', id: 258, guard: sample_guard() }],
        },
    }
}

/// A space not allowed before the atom, byte 0xE4 not after it.
fn sample_guard() -> Guard {
    let mut guard = Guard::default();
    guard.before[0] = 1 << 32;
    guard.after[3] = 1 << 36;
    guard
}

#[test]
fn bytes_are_pinned() {
    let bytes = sample().to_bytes();
    let mut want = Vec::new();
    want.extend_from_slice(b"TMBPETAB");
    want.extend_from_slice(&[4, 0, 0, 0]);
    want.extend_from_slice(&[
        0x10, 0x32, 0x54, 0x76, 0x98, 0xba, 0xdc, 0xfe, 0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23,
        0x01,
    ]);
    let who = producer();
    assert!(who.starts_with("tokenizers 0.23.2; tokenmill-tokenize "), "{who}");
    want.extend_from_slice(&(who.len() as u32).to_le_bytes());
    want.extend_from_slice(who.as_bytes());
    want.extend_from_slice(&[0x2c, 0x01, 0, 0, 0, 0, 0, 0]);
    want.extend_from_slice(&[32, 0, 0, 0]);
    want.extend_from_slice("ab".repeat(16).as_bytes());
    want.extend_from_slice(&[1, 0x2b, 0x01, 0, 0]);
    want.extend_from_slice(&[0, 0, 0, 0, 0]);
    want.extend_from_slice(&[3, 0, 0, 0]);
    want.extend_from_slice(b"BPE");
    for id in 1..=256u32 {
        want.extend_from_slice(&id.to_le_bytes());
    }
    want.extend_from_slice(&[2, 0, 0, 0]);
    want.extend_from_slice(&[1, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0]);
    want.extend_from_slice(&[1, 1, 0, 0, 3, 0, 0, 0, 1, 0, 0, 0, 2, 1, 0, 0]);
    want.extend_from_slice(&[2, 0, 0, 0]);
    want.extend_from_slice(&[0x2a, 0x01, 0, 0, 1, 3, 0, 0, 0]);
    want.extend_from_slice(b"<n>");
    want.extend_from_slice(&[0x2b, 0x01, 0, 0, 0, 5, 0, 0, 0]);
    want.extend_from_slice(b"<|e|>");
    want.extend_from_slice(&[3, 0, 0, 0]);
    want.push(0);
    want.extend_from_slice(&[1, 3, 0, 0, 0]);
    want.extend_from_slice("▁".as_bytes());
    want.extend_from_slice(&[2, 1, 0, 0, 0, b' ', 3, 0, 0, 0]);
    want.extend_from_slice("▁".as_bytes());
    want.push(1);
    want.extend_from_slice(&[1, 0, 0, 0, b'a', 0, 0, 0, 0, 1, 0, 0]);
    want.extend_from_slice(&[3, 0, 0, 0]);
    want.extend_from_slice(&[2, 5, 0, 0, 0]);
    want.extend_from_slice(br"\p{N}");
    want.extend_from_slice(&[1, 0]);
    want.push(1);
    want.extend_from_slice(&[1, 0, 0, 0]);
    want.extend_from_slice(&[0x01, 0x01, 0, 0, 2, 0, 0, 0]);
    want.extend_from_slice(b"ab");
    want.extend_from_slice(&[1, 0, 0, 0, 0xE9, 0, 0, 0, 0x02, 0x01, 0, 0]);
    want.extend_from_slice(&[0, 0, 0, 0, 1, 0, 0, 0]);
    want.extend_from_slice(&[0; 6 * 8]);
    want.extend_from_slice(&[0, 0, 0, 0, 0x10, 0, 0, 0]);
    assert_eq!(&bytes[..bytes.len() - 8], &want[..]);
    assert_eq!(bytes[bytes.len() - 8..], xxh3_64(&want).to_le_bytes());
}

#[test]
fn round_trips() {
    let file = sample();
    assert_eq!(CacheFile::from_bytes(&file.to_bytes(), file.key), Ok(file));
}

#[test]
fn every_truncation_is_rejected() {
    let file = sample();
    let bytes = file.to_bytes();
    for len in 0..bytes.len() {
        assert!(
            CacheFile::from_bytes(&bytes[..len], file.key).is_err(),
            "truncated to {len} bytes"
        );
    }
}

#[test]
fn every_flipped_byte_is_rejected() {
    let file = sample();
    let bytes = file.to_bytes();
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x40;
        assert!(CacheFile::from_bytes(&damaged, file.key).is_err(), "byte {at} flipped");
    }
}

/// `bytes` with its checksum recomputed, as a file written by another build would have it.
fn resealed(mut bytes: Vec<u8>) -> Vec<u8> {
    let body = bytes.len() - 8;
    let sum = xxh3_64(&bytes[..body]);
    bytes[body..].copy_from_slice(&sum.to_le_bytes());
    bytes
}

#[test]
fn another_key_version_or_producer_is_rejected() {
    let file = sample();
    let err = CacheFile::from_bytes(&file.to_bytes(), file.key + 1).expect_err("another key");
    assert!(err.contains("holds key"), "{err}");

    let mut bytes = file.to_bytes();
    bytes[8] = 1;
    let err = CacheFile::from_bytes(&resealed(bytes), file.key).expect_err("version 1");
    assert!(err.contains("version 1"), "{err}");

    let mut bytes = file.to_bytes();
    let producer = 8 + 4 + 16 + 4;
    bytes[producer + PRODUCER.len() - 1] = b'9';
    let err = CacheFile::from_bytes(&resealed(bytes), file.key).expect_err("another producer");
    assert!(err.contains("written for"), "{err}");
}

#[test]
fn a_huge_count_is_rejected_without_allocating() {
    let tables = Tables {
        merges: Vec::new(),
        added: Vec::new(),
        stages: Vec::new(),
        words: Vec::new(),
        atoms: Vec::new(),
        normalizers: Vec::new(),
        chars: None,
        ..sample().tables
    };
    let file = CacheFile { tables, ..sample() };
    let mut bytes = file.to_bytes();
    // The merge count sits before the added count (4), the normalizer count (4), the char-level
    // flag (1), the step count (4), the ignore_merges flag (1), the word count (4), the atom
    // count (4) and the checksum (8).
    let at = bytes.len() - 34;
    bytes[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
    let err = CacheFile::from_bytes(&resealed(bytes), file.key).expect_err("bad count");
    assert!(err.contains("do not fit"), "{err}");
}

#[test]
fn producer_is_the_locked_tokenizers_version() {
    let lock = fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock"))
        .expect("Cargo.lock");
    let version = lock
        .split("[[package]]")
        .find_map(|package| package.strip_prefix("\nname = \"tokenizers\"\nversion = \""))
        .and_then(|rest| rest.split('"').next())
        .expect("tokenizers is locked");
    assert_eq!(
        PRODUCER,
        format!("tokenizers {version}"),
        "`tokenizers` changed: update PRODUCER, which invalidates old caches"
    );
}

#[test]
fn write_then_read_leaves_one_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let nested = dir.path().join("a/b");
    let file = sample();
    write(&nested, &file).expect("writes");
    write(&nested, &file).expect("overwrites");
    let names: Vec<_> =
        fs::read_dir(&nested).expect("lists").map(|e| e.expect("entry").file_name()).collect();
    assert_eq!(names, [format!("{:032x}.tmbpe", file.key).as_str()]);
    assert_eq!(read(&nested, file.key), Some(file.clone()));
    assert_eq!(read(&nested, file.key + 1), None);

    fs::write(path(&nested, file.key), b"TMBPETAB garbage").expect("damage");
    assert_eq!(read(&nested, file.key), None);
}

#[test]
fn write_into_a_file_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let blocker = dir.path().join("file");
    fs::write(&blocker, b"not a directory").expect("write");
    assert!(write(&blocker.join("cache"), &sample()).is_err());
    assert!(write(&blocker, &sample()).is_err());
}

#[test]
fn values_a_good_file_cannot_hold_are_rejected() {
    let reject = |f: CacheFile, what: &str| {
        let err = CacheFile::from_bytes(&f.to_bytes(), f.key).expect_err(what);
        assert!(err.contains(what), "{err}");
    };
    let mut f = sample();
    f.tables.merges[1][3] = 300;
    reject(f, "outside the vocabulary");
    let mut f = sample();
    f.info.eos_id = Some(5000);
    reject(f, "outside the vocabulary");
    let mut f = sample();
    f.tables.added[0].id = u32::MAX;
    reject(f, "outside the vocabulary");
    let mut f = sample();
    f.tables.merges[1][2] = 0;
    reject(f, "not increasing");
    // A rank of 4 billion would make the encoder size a queue of 4 billion buckets.
    let mut f = sample();
    f.tables.merges[1][2] = 0xFFFF_FFF0;
    reject(f, "merge rank");
    let f = sample();
    assert_eq!(CacheFile::from_bytes(&f.to_bytes(), f.key).expect("valid"), f);
}
