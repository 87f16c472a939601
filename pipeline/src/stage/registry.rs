//! Every stage type, declared once.
//!
//! `for_each_stage!` holds the one list of stage types: the enum variant, its spec type, its
//! `type` label and what it does to documents. Everything that has to know every stage type is
//! generated from it: the [`StageSpec`] enum that the pipeline file parses into (below), the
//! graph's edge kinds (`config::compile`), and the operator each stage runs
//! (`build::stage_operator`, through [`super::BuildOperator`], which each spec type implements
//! next to its stage). So a new stage is one module in `stage/` (its spec, with `name` and
//! `inputs` fields, and its operator) plus one line here.
//!
//! The kinds: `docs` takes documents and passes the kept ones on, with a `rejected` port for
//! the others; `tokens` turns documents into token ids (no `rejected` port); `barrier` is a
//! `docs` stage that sees all of its input before passing anything on (it runs in the runner,
//! not per batch); `by_spec` is one of those chosen by the options (the spec type's
//! `stage_kind` method decides, e.g. `decontaminate` is a barrier only with
//! `max_document_frequency`). Everything that asks goes through [`StageSpec::stage_kind`].

use serde::{Deserialize, Serialize};

use super::decontaminate::DecontaminateSpec;
use super::dedup_spec::{ExactDedupSpec, LineDedupSpec, MinhashDedupSpec};
use super::fasttext_classifier::FastTextClassifierSpec;
use super::html_extract::HtmlExtractSpec;
use super::text_spec::{
    C4LinesSpec, C4QualitySpec, FineWebQualitySpec, GopherQualitySpec, GopherRepetitionSpec,
    LanguageSpec, PiiSpec, TextNormalizeSpec, UrlFilterSpec,
};
use super::transformer_classifier::TransformerClassifierSpec;
use super::zh::{BlockWordsSpec, ZhConvertSpec, ZhQualitySpec};
use super::{LengthSpec, PerplexitySpec, QualityModelSpec, TokenizeSpec, WhereSpec};

/// Calls `$callback!` with the list of stage types: `Variant(SpecType) = "label", kind;` each
/// with its doc comment.
macro_rules! for_each_stage {
    ($callback:ident) => {
        $callback! {
            /// Keeps documents whose text length lies within bounds.
            Length(LengthSpec) = "length", docs;
            /// Turns text into token ids with a Hugging Face `tokenizer.json`.
            Tokenize(TokenizeSpec) = "tokenize", tokens;
            /// Scores documents with a fastText supervised model (e.g. from `tokenmill
            /// train-classifier`) and keeps those whose score lies in range.
            QualityModel(QualityModelSpec) = "quality_model", docs;
            /// Scores documents with a fastText supervised model (`.bin`/`.ftz`) into metadata and
            /// keeps or drops them by label probabilities.
            FasttextClassifier(FastTextClassifierSpec) = "fasttext_classifier", docs;
            /// Perplexity under a small language model (`tokenmill train-lm`) as a filter.
            Perplexity(PerplexitySpec) = "perplexity", docs;
            /// Keeps documents for which a SQL boolean expression over `id`, `text` and the
            /// metadata fields is true (DataFusion; the same rules as a source's `where`).
            Where(WhereSpec) = "where", docs;
            /// Removes exact duplicates (equal after normalization) across everything it
            /// receives.
            ExactDedup(ExactDedupSpec) = "exact_dedup", barrier;
            /// Removes near duplicates (MinHash-LSH) and exact duplicates across everything it
            /// receives.
            MinhashDedup(MinhashDedupSpec) = "minhash_dedup", barrier;
            /// Removes lines or paragraphs repeated across documents (boilerplate) from every
            /// document it receives.
            LineDedup(LineDedupSpec) = "line_dedup", barrier;
            /// Normalizes Unicode, line endings, control characters and whitespace.
            Normalize(TextNormalizeSpec) = "normalize", docs;
            /// C4's line cleaning: removes boilerplate lines, may drop the document.
            C4Lines(C4LinesSpec) = "c4_lines", docs;
            /// C4's document-level decision, text unchanged.
            C4Quality(C4QualitySpec) = "c4_quality", docs;
            /// Gopher's quality rules.
            GopherQuality(GopherQualitySpec) = "gopher_quality", docs;
            /// Gopher's repetition rules.
            GopherRepetition(GopherRepetitionSpec) = "gopher_repetition", docs;
            /// FineWeb's quality rules.
            FinewebQuality(FineWebQualitySpec) = "fineweb_quality", docs;
            /// Language identification into metadata; keeps the configured languages.
            Language(LanguageSpec) = "language", docs;
            /// Redacts e-mail and IP addresses and Chinese PII.
            Pii(PiiSpec) = "pii", docs;
            /// Block lists over the `url` metadata field.
            UrlFilter(UrlFilterSpec) = "url_filter", docs;
            /// A page's main content as text (HTML in, text out).
            HtmlExtract(HtmlExtractSpec) = "html_extract", docs;
            /// Scores documents with a BERT / RoBERTa / XLM-R classifier (a Hugging Face model
            /// directory) and keeps those whose score lies in range.
            TransformerClassifier(TransformerClassifierSpec) = "transformer_classifier", docs;
            /// Drops documents that contain benchmark text (n-gram overlap), or cuts it out.
            Decontaminate(DecontaminateSpec) = "decontaminate", by_spec;
            /// Traditional Chinese to simplified; the script into the `script` metadata field.
            ZhConvert(ZhConvertSpec) = "zh_convert", docs;
            /// Chinese site-chrome lines removed, Chinese page rules applied.
            ZhQuality(ZhQualitySpec) = "zh_quality", docs;
            /// Block lists matched on words (jieba for Chinese): obscene, porn and gambling terms.
            BlockWords(BlockWordsSpec) = "block_words", docs;
        }
    };
}
pub(crate) use for_each_stage;

/// What a stage does to documents (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// Documents in, kept documents out, a `rejected` port.
    Docs,
    /// Documents in, token ids out.
    Tokens,
    /// Like `Docs`, after seeing all of its input.
    Barrier,
}

macro_rules! stage_kind {
    (docs, $s:ident) => {{
        let _ = $s;
        StageKind::Docs
    }};
    (tokens, $s:ident) => {{
        let _ = $s;
        StageKind::Tokens
    }};
    (barrier, $s:ident) => {{
        let _ = $s;
        StageKind::Barrier
    }};
    (by_spec, $s:ident) => {
        $s.stage_kind()
    };
}

macro_rules! define_stage_spec {
    ($($(#[$doc:meta])* $variant:ident($spec:ty) = $label:literal, $kind:ident;)*) => {
        /// A processing stage. Each names its inputs: a node name, or `node.rejected` for what a
        /// filtering stage dropped.
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "type")]
        pub enum StageSpec {
            $($(#[$doc])* #[serde(rename = $label)] $variant($spec),)*
        }

        impl StageSpec {
            /// Every stage type's `type` label, in declaration order.
            pub const LABELS: &'static [&'static str] = &[$($label),*];

            /// The node name.
            pub fn name(&self) -> &str {
                match self {
                    $(Self::$variant(s) => &s.name,)*
                }
            }

            /// The node's inputs as written.
            pub fn inputs(&self) -> &[String] {
                match self {
                    $(Self::$variant(s) => &s.inputs,)*
                }
            }

            /// The `type` label.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Self::$variant(_) => $label,)*
                }
            }

            /// What the stage does to documents.
            pub fn stage_kind(&self) -> StageKind {
                match self {
                    $(Self::$variant(s) => stage_kind!($kind, s),)*
                }
            }
        }
    };
}

for_each_stage!(define_stage_spec);

impl StageSpec {
    /// Whether the stage is a barrier (needs all of its input before emitting).
    pub fn is_barrier(&self) -> bool {
        self.stage_kind() == StageKind::Barrier
    }
}
