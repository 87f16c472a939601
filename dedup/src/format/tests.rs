//! Unit tests of the parent module.

use super::*;
use xxhash_rust::xxh3::xxh3_64;

fn edge_file(dir: &Path) -> PathBuf {
    let p = dir.join("e.edges");
    let mut w = ArtifactWriter::create(&p, ArtifactKind::Edges, 16, 0).unwrap();
    let mut rec = [0u8; 16];
    rec[..8].copy_from_slice(&1u64.to_le_bytes());
    rec[8..].copy_from_slice(&2u64.to_le_bytes());
    w.write_record(&rec).unwrap();
    assert_eq!(w.finish().unwrap(), 1);
    p
}

#[test]
fn golden_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = fs::read(edge_file(dir.path())).unwrap();
    let mut expect = Vec::new();
    expect.extend_from_slice(b"TMDDEDG\0");
    expect.extend_from_slice(&[1, 0, 0, 0, 16, 0, 0, 0]);
    expect.extend_from_slice(&[0; 8]);
    expect.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
    expect.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
    let sum = xxh3_64(&expect);
    expect.extend_from_slice(&sum.to_le_bytes());
    assert_eq!(bytes, expect);
    assert_eq!(bytes.len(), 56);
}

#[test]
fn round_trip_and_random_access() {
    let dir = tempfile::tempdir().unwrap();
    let p = edge_file(dir.path());
    let mut r = ArtifactReader::open(&p, ArtifactKind::Edges, Some(16)).unwrap();
    let mut buf = [0u8; 16];
    assert!(r.next_record(&mut buf).unwrap());
    assert_eq!((u64_at(&buf, 0), u64_at(&buf, 8)), (1, 2));
    assert!(!r.next_record(&mut buf).unwrap());
    assert!(!r.next_record(&mut buf).unwrap());
    let mut rr = RandomReader::open(&p, ArtifactKind::Edges, None).unwrap();
    let mut b8 = [0u8; 8];
    rr.read_at(0, &mut b8).unwrap();
    assert_eq!(u64::from_le_bytes(b8), 1);
}

#[test]
fn corruption_and_truncation_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = edge_file(dir.path());
    let mut bytes = fs::read(&p).unwrap();
    bytes[30] ^= 1;
    fs::write(&p, &bytes).unwrap();
    let mut r = ArtifactReader::open(&p, ArtifactKind::Edges, Some(16)).unwrap();
    let mut buf = [0u8; 16];
    r.next_record(&mut buf).unwrap();
    let e = r.next_record(&mut buf).unwrap_err().to_string();
    assert!(e.contains("e.edges") && e.contains("checksum"), "{e}");

    fs::write(&p, &bytes[..50]).unwrap();
    let e = ArtifactReader::open(&p, ArtifactKind::Edges, Some(16)).unwrap_err().to_string();
    assert!(e.contains("e.edges") && e.contains("truncated"), "{e}");

    let e = ArtifactReader::open(&p, ArtifactKind::Removed, None).unwrap_err().to_string();
    assert!(e.contains("bad magic"), "{e}");
    assert!(!dir.path().join("e.edges.tmp").exists());
}
