use super::*;

const QUESTION: &str = "Write a function that returns the sum of the squares of all odd numbers \
    in the given list of integers, ignoring negative numbers.";

fn decon(config: DecontamConfig, entries: &[&str]) -> Decontaminator {
    let mut b = Decontaminator::builder(config);
    let id = b.add_benchmark("bench").expect("one benchmark");
    for e in entries {
        b.add_entry(id, e);
    }
    b.build().expect("builds")
}

fn words(text: &str) -> Vec<String> {
    let mut t = Tokens::default();
    t.split(text);
    t.spans.iter().map(|&(a, b)| text[a..b].to_string()).collect()
}

#[test]
fn tokens_are_words_and_single_cjk_characters() {
    assert_eq!(
        words("def has_close_elements(numbers: List[float]) -> bool:"),
        ["def", "has", "close", "elements", "numbers", "List", "float", "bool"]
    );
    assert_eq!(words("下列说法，正确的是A"), ["下", "列", "说", "法", "正", "确", "的", "是", "A"]);
    assert_eq!(words("  Ünïcode café-au-lait  "), ["Ünïcode", "café", "au", "lait"]);
}

#[test]
fn finds_exact_rewrapped_recased_and_respaced_copies() {
    let d = decon(DecontamConfig::default(), &[QUESTION]);
    let rewrapped = QUESTION.replace(' ', "\n").replace("odd", "ODD").replace("the", "  The\t");
    let punctuated = QUESTION.replace(", ", " - ").replace('.', "!");
    for copy in [QUESTION.to_string(), rewrapped, punctuated] {
        let text = format!("Intro paragraph about something else.\n{copy}\nAnd a closing remark.");
        let out = d.apply(&text);
        assert_eq!(out.dropped, Some("contaminated"), "{copy}");
        assert_eq!((out.benchmarks, out.spans), (1, 1));
        assert_eq!(out.chars_removed, text.chars().count());
    }
}

#[test]
fn n_minus_one_grams_and_shared_words_are_not_matches() {
    let d = decon(DecontamConfig::default(), &[QUESTION]);
    // The first 12 words, then something else: never 13 in a row.
    let twelve: Vec<&str> = QUESTION.split(' ').take(12).collect();
    let near = format!("{} numbers and more text follows here.", twelve.join(" "));
    assert!(d.find(&near).is_empty(), "{near}");
    // Every word of the entry, in another order.
    let mut shuffled: Vec<&str> = QUESTION.split(' ').collect();
    shuffled.reverse();
    assert!(d.find(&shuffled.join(" ")).is_empty());
    // One word changed in the middle of a 20-word window breaks every 13-gram through it.
    let changed = QUESTION.replace("squares", "cubes");
    let spans = d.find(&changed);
    assert!(spans.iter().all(|s| !changed[s.start..s.end].contains("cubes")), "{spans:?}");
}

#[test]
fn spans_are_merged_and_point_at_the_copy() {
    let d = decon(DecontamConfig::default(), &[QUESTION]);
    let text = format!("Before. {QUESTION} After.");
    let spans = d.find(&text);
    assert_eq!(spans.len(), 1);
    assert_eq!(&text[spans[0].start..spans[0].end], QUESTION.trim_end_matches('.'));
}

#[test]
fn chinese_is_matched_by_characters() {
    let entry = "下列关于我国古代科举制度的说法中，正确的是哪一项？";
    let d = decon(DecontamConfig::default(), &[entry]);
    let text = format!("今天我们复习历史。{}答案见下文。", entry.replace('，', " "));
    assert_eq!(d.apply(&text).dropped, Some("contaminated"));
    // Twelve characters of it are not enough.
    let twelve: String = entry.chars().take(12).collect();
    assert!(d.find(&format!("{twelve}完全不同的内容")).is_empty());
}

#[test]
fn short_entries_are_counted_and_not_indexed() {
    let d = decon(DecontamConfig::default(), &["Too short to index.", QUESTION]);
    let b = &d.benchmarks()[0];
    assert_eq!((b.entries, b.short_entries), (2, 1));
    assert_eq!(b.ngrams, 11); // 23 tokens -> 11 distinct 13-grams
}

#[test]
fn ngrams_in_many_entries_and_ignored_texts_never_match() {
    let header = "Licensed under the Apache License Version 2.0 you may not use this file except in \
        compliance with the License";
    let entries: Vec<String> =
        (0..4).map(|i| format!("{header}\ndef function_number_{i}(x): return x")).collect();
    let refs: Vec<&str> = entries.iter().map(String::as_str).collect();
    let config = DecontamConfig { max_entry_frequency: 3, ..DecontamConfig::default() };
    let training = format!("// {header}\nfn main() {{}}");
    assert_eq!(decon(DecontamConfig::default(), &refs).find(&training).len(), 1);
    assert!(decon(config.clone(), &refs).find(&training).is_empty());
    let mut b = Decontaminator::builder(config);
    let id = b.add_benchmark("code").expect("benchmark");
    b.add_entry(id, QUESTION);
    b.ignore_text(
        "squares of all odd numbers in the given list of integers, ignoring negative numbers",
    );
    let d = b.build().expect("builds");
    // The ignored 13-grams are those inside the ignored text; the others still match.
    let spans = d.find(QUESTION);
    assert_eq!(spans.len(), 1);
    assert!(QUESTION[spans[0].start..spans[0].end].ends_with("ignoring"), "{spans:?}");
}

#[test]
fn benchmarks_are_reported_by_bit() {
    let mut b = Decontaminator::builder(DecontamConfig { ngram: 3, ..DecontamConfig::default() });
    let a = b.add_benchmark("a").expect("a");
    let c = b.add_benchmark("c").expect("c");
    b.add_entry(a, "alpha beta gamma");
    b.add_entry(c, "one two three");
    b.add_entry(c, "alpha beta gamma");
    let d = b.build().expect("builds");
    assert_eq!(d.apply("x one two three y").benchmarks, 0b10);
    assert_eq!(d.apply("alpha beta gamma").benchmarks, 0b11);
    let mut b = Decontaminator::builder(DecontamConfig::default());
    for i in 0..MAX_BENCHMARKS {
        b.add_benchmark(&i.to_string()).expect("up to the limit");
    }
    assert!(b.add_benchmark("one too many").is_err());
}

#[test]
fn cut_mode_keeps_the_rest_beyond_the_margin() {
    let config = DecontamConfig {
        mode: DecontamMode::Cut,
        margin_chars: 10,
        min_remaining_chars: 20,
        ..DecontamConfig::default()
    };
    let d = decon(config.clone(), &[QUESTION]);
    let head = "The first paragraph is long enough to be kept on its own.";
    let tail = "The last paragraph is long enough to be kept on its own too.";
    // The margin takes the ten `=` before the copy, and its final `.` and nine `=` after it.
    let text = format!("{head}\n=========={QUESTION}=========\n{tail}");
    let out = d.apply(&text);
    assert_eq!(out.dropped, None);
    assert_eq!(out.text, format!("{head}\n{tail}"));
    assert_eq!(out.chars_removed, text.chars().count() - out.text.chars().count());
    // Too short once cut, and split too often.
    assert_eq!(d.apply(&format!("Hi. {QUESTION} Bye.")).dropped, Some("contaminated_too_short"));
    let twice = format!("{head}\n{QUESTION}\n{tail}\n{QUESTION}\n{head}");
    let strict = decon(DecontamConfig { max_splits: 1, ..config }, &[QUESTION]);
    assert_eq!(strict.apply(&twice).dropped, Some("contaminated_too_many_splits"));
    assert_eq!(d.apply(&twice).dropped, None);
}

#[test]
fn clean_text_is_borrowed_and_validate_rejects_zero() {
    let d = decon(DecontamConfig::default(), &[QUESTION]);
    let out = d.apply("Nothing to see here.");
    assert!(matches!(out.text, Cow::Borrowed(_)) && out.dropped.is_none());
    assert!(
        Decontaminator::validate(&DecontamConfig { ngram: 0, ..DecontamConfig::default() })
            .is_err()
    );
}

proptest::proptest! {
    /// Case, spacing and line breaks never change the tokens; spans are whole characters.
    #[test]
    fn tokens_ignore_case_and_whitespace(text in "[a-zA-Z0-9 ,.;()\n一-龥ぁ-ん]{0,120}") {
        let mut a = Tokens::default();
        a.split(&text);
        for &(start, end) in &a.spans {
            proptest::prop_assert!(text.is_char_boundary(start) && text.is_char_boundary(end));
            proptest::prop_assert!(start < end);
        }
        let respaced = text.to_ascii_uppercase().replace(' ', " \n\t ").replace(',', " , ");
        let mut b = Tokens::default();
        b.split(&respaced);
        proptest::prop_assert_eq!(&a.hashes, &b.hashes);
    }
}

#[test]
fn frequent_ngrams_are_counted_once_per_document_and_removed_by_without() {
    let other = "Return the list of all prime numbers below the given limit, computed with the \
        sieve of Eratosthenes in increasing order.";
    let d = decon(DecontamConfig::default(), &[QUESTION, other]);
    let indexed = d.indexed();
    assert!(indexed.windows(2).all(|w| w[0] < w[1]), "sorted, distinct");
    assert_eq!(d.benchmarks()[0].ngrams, indexed.len() as u64);

    // A document repeating the question holds each of its n-grams once.
    let twice = format!("{QUESTION}\n{QUESTION}");
    let found = d.ngram_hashes(&twice);
    assert_eq!(found, d.ngram_hashes(QUESTION));
    assert!(found.iter().all(|h| indexed.binary_search(h).is_ok()));
    assert!(found.iter().all(|&h| d.benchmarks_of(h) == Some(1)));
    assert!(d.ngram_hashes("Nothing of the benchmark here.").is_empty());

    // Without the question's n-grams, a copy of it is clean; a copy of the other entry is not.
    let frequent: FxHashSet<u64> = found.iter().copied().collect();
    let rest = d.without(|h| frequent.contains(&h));
    assert!(rest.find(QUESTION).is_empty());
    assert_eq!(rest.apply(other).dropped, Some("contaminated"));
    let b = &rest.benchmarks()[0];
    assert_eq!(b.frequent_ngrams, found.len() as u64);
    assert_eq!(b.ngrams + b.frequent_ngrams, indexed.len() as u64);
    assert_eq!(d.without(|_| false).find(QUESTION), d.find(QUESTION));
}
