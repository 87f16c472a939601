//! The pre-tokenizer patterns of the byte-level BPE families in use, as their `tokenizer.json`
//! files write them, and [`PatternFamily`], which names one for training.
//!
//! Every pattern here runs on the fast path ([`Tokenizer::encode_path`](crate::Tokenizer::encode_path)
//! says how): GPT-2's and the cl100k family's (Llama 3, Qwen2/3) on hand-written scanners, the
//! others on a DFA with the same leftmost-first semantics as the reference.

use std::fmt;
use std::str::FromStr;

/// GPT-2's pattern (built into `ByteLevel` with `use_regex`).
pub const GPT2: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// cl100k_base's pattern, also Llama 3's: case-insensitive contractions, a punctuation or space
/// char joined to the word after it, numbers in groups of up to three digits.
pub const CL100K: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// Qwen2 / Qwen2.5 / Qwen3's pattern: cl100k's with single digits (used with an NFC normalizer).
pub const QWEN2: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GPT-4o's (o200k_base) pattern: upper/lower-case aware words with their contractions.
pub const O200K: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    r"|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);

/// Mistral Tekken's pattern: o200k's letter classes, single digits, no contractions.
pub const TEKKEN: &str = concat!(
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+",
    r"|[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*",
    r"|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n/]*|\s*[\r\n]+|\s+(?!\S)|\s+"
);

/// DeepSeek V3's three `Split`s, applied in sequence: numbers of up to three digits, runs of
/// CJK ideographs and kana, then words and punctuation.
pub const DEEPSEEK_V3: [&str; 3] = [
    r"\p{N}{1,3}",
    r"[一-龥぀-ゟ゠-ヿ]+",
    concat!(
        r##"[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"##,
        r"| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    ),
];

/// A pre-tokenizer family to train a byte-level BPE with (`train-tokenizer --pattern`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PatternFamily {
    /// GPT-2's pattern.
    Gpt2,
    /// cl100k / Llama 3: the default.
    #[default]
    Llama3,
    /// Qwen2/3: single digits, NFC-normalized text; suited to a Chinese-first corpus.
    Qwen2,
    /// DeepSeek V3: CJK runs split from other letters; suited to a Chinese-first corpus.
    DeepseekV3,
    /// GPT-4o (o200k).
    O200k,
}

impl PatternFamily {
    /// Every family, in the order `--help` lists them.
    pub const ALL: [Self; 5] =
        [Self::Gpt2, Self::Llama3, Self::Qwen2, Self::DeepseekV3, Self::O200k];

    /// The family's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gpt2 => "gpt2",
            Self::Llama3 => "llama3",
            Self::Qwen2 => "qwen2",
            Self::DeepseekV3 => "deepseek-v3",
            Self::O200k => "o200k",
        }
    }

    /// The `Split` patterns applied before `ByteLevel`, in order (none for GPT-2, whose
    /// pattern is `ByteLevel`'s own).
    pub fn splits(self) -> &'static [&'static str] {
        match self {
            Self::Gpt2 => &[],
            Self::Llama3 => &[CL100K],
            Self::Qwen2 => &[QWEN2],
            Self::DeepseekV3 => &DEEPSEEK_V3,
            Self::O200k => &[O200K],
        }
    }

    /// Whether text is NFC-normalized first (Qwen2/3 do it).
    pub fn nfc(self) -> bool {
        self == Self::Qwen2
    }
}

impl fmt::Display for PatternFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PatternFamily {
    type Err = String;

    /// One of `gpt2`, `llama3` (also `cl100k`), `qwen2` (also `qwen`, `qwen3`), `deepseek-v3`,
    /// `o200k` (also `gpt-4o`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "gpt2" | "gpt-2" => Ok(Self::Gpt2),
            "llama3" | "llama-3" | "cl100k" => Ok(Self::Llama3),
            "qwen2" | "qwen" | "qwen3" => Ok(Self::Qwen2),
            "deepseek-v3" | "deepseek" | "deepseekv3" => Ok(Self::DeepseekV3),
            "o200k" | "gpt-4o" | "gpt4o" => Ok(Self::O200k),
            other => Err(format!(
                "unknown pattern family {other:?}; one of {}",
                Self::ALL.map(Self::name).join(", ")
            )),
        }
    }
}
