//! Splitting text on added tokens (`<|endoftext|>` and the like) before pre-tokenization, as
//! the reference's `AddedVocabulary::extract_and_normalize` does.
//!
//! The reference matches in two passes, each leftmost-longest: tokens with `normalized: false`
//! on the raw text, then tokens with `normalized: true` on what is left (normalized, but the
//! fast path only runs without a normalizer). A matched token becomes its id; the text between
//! matches goes on to the pre-tokenizer, piece by piece, so no pre-token spans a match.

use std::borrow::Cow;

use aho_corasick::{AhoCorasick, MatchKind};
use tokenizers::AddedVocabulary;

/// The added tokens, and the two automata that find them.
#[derive(Debug)]
pub(crate) struct AddedTokens {
    /// In id order; kept so the tokens can be stored and looked up by content.
    entries: Vec<AddedEntry>,
    raw: Option<Matcher>,
    normalized: Option<Matcher>,
}

/// One added token, as much of it as the fast path uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AddedEntry {
    /// The token's id.
    pub(crate) id: u32,
    /// Whether it is matched on normalized text (second pass) rather than raw text (first).
    pub(crate) normalized: bool,
    /// The text the token matches.
    pub(crate) content: String,
}

#[derive(Debug)]
struct Matcher {
    automaton: AhoCorasick,
    ids: Vec<u32>,
}

impl AddedTokens {
    /// The added tokens of `vocab`, or why the fast path cannot reproduce their matching.
    pub(crate) fn from_vocab(vocab: &AddedVocabulary) -> Result<Self, String> {
        if vocab.get_encode_special_tokens() {
            return Err("encode_special_tokens is on".into());
        }
        let mut tokens: Vec<_> = vocab.get_added_tokens_decoder().iter().collect();
        // In id order, so the token an error names does not depend on hash order.
        tokens.sort_by_key(|(id, _)| **id);
        let mut entries = Vec::with_capacity(tokens.len());
        for (&id, token) in tokens {
            if token.single_word || token.lstrip || token.rstrip {
                return Err(format!(
                    "added token {:?} uses single_word, lstrip or rstrip",
                    token.content
                ));
            }
            entries.push(AddedEntry {
                id,
                normalized: token.normalized,
                content: token.content.clone(),
            });
        }
        Self::new(entries)
    }

    /// Indexes `entries` (plain tokens: no single-word or strip rules), or says why it cannot.
    ///
    /// Shared by [`AddedTokens::from_vocab`] and the on-disk cache, so both match alike.
    pub(crate) fn new(mut entries: Vec<AddedEntry>) -> Result<Self, String> {
        if entries.iter().any(|entry| entry.content.is_empty()) {
            return Err("an added token is empty".into());
        }
        // Same patterns in a fixed order: leftmost-longest does not depend on it, determinism does.
        entries.sort_by_key(|entry| entry.id);
        let raw = Matcher::new(entries.iter().filter(|entry| !entry.normalized))?;
        let normalized = Matcher::new(entries.iter().filter(|entry| entry.normalized))?;
        Ok(Self { entries, raw, normalized })
    }

    /// The tokens, in id order.
    pub(crate) fn entries(&self) -> &[AddedEntry] {
        &self.entries
    }

    /// The id of the added token whose content is `content` (the lowest, if several are).
    pub(crate) fn id_of(&self, content: &str) -> Option<u32> {
        self.entries.iter().find(|entry| entry.content == content).map(|entry| entry.id)
    }

    /// Calls `segment` on each stretch of `text` between added tokens and pushes the added
    /// tokens' ids to `out` in between, in text order. The text between raw-matched tokens is
    /// passed through `normalize` before the normalized tokens are looked for in it.
    pub(crate) fn split<'t>(
        &self,
        text: &'t str,
        normalize: impl Fn(&'t str) -> Cow<'t, str>,
        out: &mut Vec<u32>,
        mut segment: impl FnMut(&str, &mut Vec<u32>),
    ) {
        let mut raw_gap = |gap: &'t str, out: &mut Vec<u32>| {
            let gap = normalize(gap);
            split_with(self.normalized.as_ref(), &gap, out, &mut segment);
        };
        split_with(self.raw.as_ref(), text, out, &mut raw_gap);
    }
}

impl Matcher {
    fn new<'a>(
        entries: impl Iterator<Item = &'a AddedEntry> + Clone,
    ) -> Result<Option<Self>, String> {
        if entries.clone().next().is_none() {
            return Ok(None);
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(entries.clone().map(|entry| &entry.content))
            .map_err(|err| format!("cannot index the added tokens: {err}"))?;
        Ok(Some(Self { automaton, ids: entries.map(|entry| entry.id).collect() }))
    }
}

fn split_with<'t>(
    matcher: Option<&Matcher>,
    text: &'t str,
    out: &mut Vec<u32>,
    segment: &mut dyn FnMut(&'t str, &mut Vec<u32>),
) {
    let Some(matcher) = matcher else {
        segment(text, out);
        return;
    };
    let mut last = 0;
    for found in matcher.automaton.find_iter(text) {
        segment(&text[last..found.start()], out);
        out.push(matcher.ids[found.pattern().as_usize()]);
        last = found.end();
    }
    segment(&text[last..], out);
}
