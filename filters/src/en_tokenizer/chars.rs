//! Character classes of spaCy 3.8's English punctuation rules (PUNCT, CONCAT_QUOTES, icons,
//! units), as match tables.

/// spaCy's PUNCT list (used as prefixes and suffixes).
pub(crate) fn is_list_punct(c: char) -> bool {
    matches!(
        c,
        '…' | ','
            | ':'
            | ';'
            | '!'
            | '?'
            | '¿'
            | '؟'
            | '¡'
            | '('
            | ')'
            | '['
            | ']'
            | '{'
            | '}'
            | '<'
            | '>'
            | '_'
            | '#'
            | '*'
            | '&'
            | '。'
            | '？'
            | '！'
            | '，'
            | '、'
            | '；'
            | '：'
            | '～'
            | '·'
            | '।'
            | '،'
            | '۔'
            | '؛'
            | '٪'
    )
}

/// Single-character prefixes: the PUNCT list plus `§ % = — –` (`+` is handled by the caller).
pub(crate) fn is_prefix_punct(c: char) -> bool {
    is_list_punct(c) || matches!(c, '§' | '%' | '=' | '—' | '–')
}

/// spaCy's CONCAT_QUOTES (it includes the comma and CJK brackets).
pub(crate) fn is_quote(c: char) -> bool {
    matches!(
        c,
        '\'' | '"'
            | '”'
            | '“'
            | '`'
            | '‘'
            | '´'
            | '’'
            | '‚'
            | ','
            | '„'
            | '»'
            | '«'
            | '「'
            | '」'
            | '『'
            | '』'
            | '（'
            | '）'
            | '〔'
            | '〕'
            | '【'
            | '】'
            | '《'
            | '》'
            | '〈'
            | '〉'
            | '\u{2329}'
            | '\u{232a}'
            | '⟦'
            | '⟧'
    )
}

/// spaCy's "icons" (Unicode So), approximated by the blocks that hold most of them.
pub(crate) fn is_icon(c: char) -> bool {
    if c < '\u{a6}' {
        return false;
    }
    matches!(c,
        '¦' | '©' | '®' | '°' | '℀' | '℁' | '℃'..='℆' | '℈' | '℉' | '℔' | '№' | '℗' | '℞'..='℣' | '℥' | '℧' | '℩' | '℮'
        | '↕'..='↙' | '↜'..='↟' | '↡' | '↢' | '↤' | '↥' | '↧'..='↭' | '↯'..='⇍' | '⇐' | '⇑' | '⇓' | '⇕'..='⇳'
        | '⌀'..='⌇' | '⌌'..='⌟' | '⌢'..='⌨' | '⌫'..='⍻' | '⍽'..='⎚' | '⎴'..='⏛' | '⏢'..='␦' | '⑀'..='⑊' | '⒜'..='ⓩ'
        | '─'..='▶' | '▸'..='◀' | '◂'..='◷' | '☀'..='♮' | '♰'..='❧' | '➔'..='➿' | '⠀'..='⣿' | '⬀'..='⬯' | '⭅' | '⭆'
        | '⭍'..='⭳' | '⭶'..='⮕' | '⮘'..='⯈' | '⯊'..='⯾' | '〄' | '〒' | '〓' | '〠' | '〶' | '〷' | '〾' | '〿'
        | '\u{1F000}'..='\u{1F02B}' | '\u{1F030}'..='\u{1F093}' | '\u{1F0A0}'..='\u{1F0F5}' | '\u{1F110}'..='\u{1F16B}'
        | '\u{1F170}'..='\u{1F1AC}' | '\u{1F1E6}'..='\u{1F202}' | '\u{1F210}'..='\u{1F23B}' | '\u{1F300}'..='\u{1F3FA}'
        | '\u{1F400}'..='\u{1F6D4}' | '\u{1F6E0}'..='\u{1F6EC}' | '\u{1F6F0}'..='\u{1F6F9}' | '\u{1F700}'..='\u{1F773}'
        | '\u{1F780}'..='\u{1F7D8}' | '\u{1F800}'..='\u{1F8AD}' | '\u{1F900}'..='\u{1F9FF}' | '\u{1FA60}'..='\u{1FA6D}')
}

/// Suffixes split off after a digit (`(?<=[0-9])(?:units|currency)$`), longest first.
pub(crate) const UNITS_AND_CURRENCIES: &[&str] = &[
    "km/h", "km²", "km³", "m/s", "mbar", "dm²", "dm³", "cm²", "cm³", "mm²", "mm³", "US$", "kmh",
    "mph", "hPa", "km", "m²", "m³", "dm", "cm", "mm", "ha", "µm", "nm", "yd", "in", "ft", "kg",
    "mg", "µg", "lb", "oz", "Pa", "mb", "MB", "kb", "KB", "gb", "GB", "tb", "TB", "C$", "A$", "m",
    "g", "t", "T", "G", "M", "K", "%", "$", "£", "€", "¥", "฿", "₽", "₹", "₩", "₪", "₫", "₺", "₴",
    "₦", "₱", "км", "м", "см", "мм", "кг", "г",
];
