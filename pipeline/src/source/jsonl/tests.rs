//! Unit tests of the parent module.

use std::io::Cursor;

use super::*;

fn spec() -> FileSourceSpec {
    FileSourceSpec { id_field: Some("id".into()), ..FileSourceSpec::new("s", vec![]) }
}

fn run(bytes: Vec<u8>, name: &str, max_record: usize) -> (Vec<Document>, Vec<InputError>) {
    let limits = ChunkLimits { docs: 2, bytes: 1 << 20, max_record };
    let mut chunks = Vec::new();
    read(0, Box::new(Cursor::new(bytes)), name.into(), 0, None, limits, &mut |c| {
        chunks.push(c);
        true
    });
    let (mut docs, mut errors) = (vec![], vec![]);
    for c in chunks {
        let (d, e) = super::super::parse_chunk(&spec(), c);
        docs.extend(d);
        errors.extend(e);
    }
    (docs, errors)
}

/// The documents of `input` read as byte ranges of `unit` bytes (each reader given the
/// stream from one byte before its range, as `open_span` does).
fn run_ranges(input: &[u8], unit: u64) -> (Vec<Document>, Vec<InputError>, u64) {
    let limits = ChunkLimits { docs: 2, bytes: 1 << 20, max_record: 1 << 20 };
    let (mut docs, mut errors, mut raw) = (vec![], vec![], 0);
    let size = input.len() as u64;
    for k in 0..size.div_ceil(unit) {
        let (start, end) = (k * unit, ((k + 1) * unit).min(size));
        let from = usize::try_from(start.saturating_sub(1)).expect("small");
        let mut chunks = Vec::new();
        read(
            0,
            Box::new(Cursor::new(input[from..].to_vec())),
            "f.jsonl".into(),
            size,
            Some((start, end)),
            limits,
            &mut |c| {
                chunks.push(c);
                true
            },
        );
        for c in chunks {
            raw += c.raw_bytes;
            let (d, e) = super::super::parse_chunk(&spec(), c);
            docs.extend(d);
            errors.extend(e);
        }
    }
    (docs, errors, raw)
}

#[test]
fn byte_ranges_hold_each_line_once_whatever_the_cut() {
    let mut input = Vec::new();
    for i in 0..40 {
        input.extend_from_slice(
            format!("{{\"id\":\"d{i}\",\"text\":\"{}\"}}\n", "x".repeat(i % 13)).as_bytes(),
        );
        if i == 17 {
            input.extend_from_slice(b"{broken\n\n");
        }
    }
    let (whole, whole_errors) = run(input.clone(), "f.jsonl", 1 << 20);
    for unit in [1, 2, 7, 29, 30, 31, 64, 1000] {
        let (docs, errors, raw) = run_ranges(&input, unit);
        let ids: Vec<&str> = docs.iter().map(|d| d.id.as_str()).collect();
        let want: Vec<&str> = whole.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, want, "unit {unit}");
        assert_eq!(errors.len(), whole_errors.len(), "unit {unit}");
        assert_eq!(
            errors[0].offset, whole_errors[0].offset,
            "unit {unit}: errors name the byte in the file"
        );
        assert_eq!(raw, input.len() as u64, "unit {unit}: the ranges' bytes add up to the file");
    }
}

#[test]
fn byte_ranges_cut_inside_chinese_characters_lose_nothing() {
    // Three-byte characters and full-width punctuation: most cuts land inside a character;
    // a line still belongs to the range holding its first byte, whole.
    let mut input = Vec::new();
    let texts = ["中文网页正文，没有空格。", "第二段：赌博和色情垃圾要过滤！", "机器学习？", "短"];
    for i in 0..30 {
        let text = texts[i % texts.len()].repeat(1 + i % 5);
        input.extend_from_slice(format!("{{\"id\":\"z{i}\",\"text\":\"{text}\"}}\n").as_bytes());
    }
    let (whole, _) = run(input.clone(), "f.jsonl", 1 << 20);
    for unit in [1, 2, 3, 5, 7, 11, 64, 100, 257] {
        let (docs, errors, raw) = run_ranges(&input, unit);
        assert!(errors.is_empty(), "unit {unit}: {errors:?}");
        let got: Vec<(&str, &str)> =
            docs.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
        let want: Vec<(&str, &str)> =
            whole.iter().map(|d| (d.id.as_str(), d.text.as_str())).collect();
        assert_eq!(got, want, "unit {unit}");
        assert_eq!(raw, input.len() as u64);
    }
}

#[test]
fn parses_good_and_reports_bad_lines_with_positions() {
    let input = b"{\"id\":\"a\",\"text\":\"hi\",\"lang\":\"en\"}\n\n{bad\n{\"id\":7,\"text\":3}\n{\"text\":\"x\xff\"}\n{\"id\":\"b\"}\n{\"text\":\"ok\"}\r\n".to_vec();
    let (docs, errors) = run(input, "f.jsonl", 1 << 20);
    assert_eq!(docs.len(), 2);
    assert_eq!(docs[0].id, "a");
    assert_eq!(docs[0].metadata.get("lang"), Some(&Value::from("en")));
    assert_eq!(docs[1].id, "f.jsonl:7");
    assert_eq!(docs[1].text, "ok");
    let kinds: Vec<_> = errors.iter().map(|e| (e.kind, e.line)).collect();
    assert_eq!(
        kinds,
        [
            (InputErrorKind::MalformedJson, Some(3)),
            (InputErrorKind::TextNotString, Some(4)),
            (InputErrorKind::InvalidUtf8, Some(5)),
            (InputErrorKind::MissingText, Some(6)),
        ]
    );
    assert!(
        errors[0].to_string().starts_with("f.jsonl:3 (byte 36): malformed_json:"),
        "{}",
        errors[0]
    );
}

#[test]
fn oversized_records_are_skipped_not_buffered() {
    let mut input = format!("{{\"text\":\"{}\"}}\n", "x".repeat(1000)).into_bytes();
    input.extend_from_slice(b"{\"text\":\"small\"}\n");
    let (docs, errors) = run(input, "f.jsonl", 100);
    assert_eq!(docs.len(), 1);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].kind, InputErrorKind::TooLarge);
}

#[test]
fn truncated_zstd_keeps_earlier_records_and_reports() {
    // Pseudo-random words, so the compressed stream spans many zstd blocks.
    let mut plain = String::new();
    let mut x: u64 = 1;
    for _ in 0..2000 {
        let words: Vec<String> = (0..40)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                format!("{:x}", x >> 40)
            })
            .collect();
        plain.push_str(&format!("{{\"text\":\"{}\"}}\n", words.join(" ")));
    }
    let compressed = zstd::encode_all(plain.as_bytes(), 3).expect("zstd");
    let cut = compressed[..compressed.len() / 2].to_vec();
    let (docs, errors) = run(cut, "f.jsonl.zst", 1 << 20);
    assert!(!docs.is_empty() && docs.len() < 2000);
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind, InputErrorKind::Truncated);
    assert_eq!(errors[0].line, Some(docs.len() as u64 + 1));
}

#[test]
fn empty_file_is_reported() {
    let (docs, errors) = run(vec![], "e.jsonl", 100);
    assert!(docs.is_empty());
    assert_eq!(errors[0].kind, InputErrorKind::EmptyFile);
}
