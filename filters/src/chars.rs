//! Character classes shared by the word tokenizers and the rules: below both, so that neither
//! imports the other for them.

/// Han ideographs and Japanese kana (Hangul is excluded: Korean separates words by spaces).
pub fn is_cjk(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF | 0x31F0..=0x31FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0xFF66..=0xFF9F | 0x20000..=0x3134F)
}

/// Python's `str.isalpha` approximated by Rust's `is_alphabetic` (which also accepts combining
/// vowel signs of Indic scripts; identical on Latin text).
pub fn is_py_alpha(c: char) -> bool {
    if c.is_ascii() { c.is_ascii_alphabetic() } else { is_cjk(c) || c.is_alphabetic() }
}

/// Python's `str.isalpha` for one character, exactly: a letter of general category Lu, Ll,
/// Lt, Lm or Lo (so not `〇` or `Ⅻ`, letter numbers, nor `・`, `゛`, punctuation and modifier
/// symbols among the kana).
pub fn is_py_letter(c: char) -> bool {
    use icu_properties::CodePointMapData;
    use icu_properties::props::{GeneralCategory, GeneralCategoryGroup};
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    GeneralCategoryGroup::Letter.contains(CodePointMapData::<GeneralCategory>::new().get(c))
}

/// Python's `str.isspace` for one character (Rust's `is_whitespace` plus U+001C..U+001F).
pub fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}
