//! Splitting text on added tokens (`<|endoftext|>` and the like) before pre-tokenization, as
//! the reference's `AddedVocabulary::extract_and_normalize` does.
//!
//! The reference matches in two passes, each leftmost-longest: tokens with `normalized: false`
//! on the raw text, then tokens with `normalized: true` on what is left (normalized, but the
//! fast path only runs without a normalizer). A matched token becomes its id; the text between
//! matches goes on to the pre-tokenizer, piece by piece, so no pre-token spans a match.

use aho_corasick::{AhoCorasick, MatchKind};
use tokenizers::AddedVocabulary;

/// The two automata of added tokens, and the id of each pattern.
#[derive(Debug)]
pub(crate) struct AddedTokens {
    raw: Option<Matcher>,
    normalized: Option<Matcher>,
}

#[derive(Debug)]
struct Matcher {
    automaton: AhoCorasick,
    ids: Vec<u32>,
}

impl AddedTokens {
    /// The added tokens of `vocab`, or why the fast path cannot reproduce their matching.
    pub(crate) fn new(vocab: &AddedVocabulary) -> Result<Self, String> {
        if vocab.get_encode_special_tokens() {
            return Err("encode_special_tokens is on".into());
        }
        let mut raw = Vec::new();
        let mut normalized = Vec::new();
        let mut tokens: Vec<_> = vocab.get_added_tokens_decoder().iter().collect();
        // Same patterns in a fixed order: leftmost-longest does not depend on it, determinism does.
        tokens.sort_by_key(|(id, _)| **id);
        for (&id, token) in tokens {
            if token.single_word || token.lstrip || token.rstrip {
                return Err(format!("added token {:?} uses single_word, lstrip or rstrip", token.content));
            }
            if token.content.is_empty() {
                return Err("an added token is empty".into());
            }
            let list = if token.normalized { &mut normalized } else { &mut raw };
            list.push((token.content.as_str(), id));
        }
        Ok(Self { raw: Matcher::new(&raw)?, normalized: Matcher::new(&normalized)? })
    }

    /// Calls `segment` on each stretch of `text` between added tokens and pushes the added
    /// tokens' ids to `out` in between, in text order.
    pub(crate) fn split(&self, text: &str, out: &mut Vec<u32>, mut segment: impl FnMut(&str, &mut Vec<u32>)) {
        split_with(self.raw.as_ref(), text, out, &mut |raw_gap, out| {
            split_with(self.normalized.as_ref(), raw_gap, out, &mut segment);
        });
    }
}

impl Matcher {
    fn new(tokens: &[(&str, u32)]) -> Result<Option<Self>, String> {
        if tokens.is_empty() {
            return Ok(None);
        }
        let automaton = AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .build(tokens.iter().map(|(content, _)| content))
            .map_err(|err| format!("cannot index the added tokens: {err}"))?;
        Ok(Some(Self { automaton, ids: tokens.iter().map(|(_, id)| *id).collect() }))
    }
}

fn split_with(matcher: Option<&Matcher>, text: &str, out: &mut Vec<u32>, segment: &mut dyn FnMut(&str, &mut Vec<u32>)) {
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
