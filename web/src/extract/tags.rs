//! Classes of HTML elements that the tree builder's rules refer to (names as in the HTML
//! standard's tree construction section).

/// Elements with no content and no end tag.
pub(crate) fn is_void(tag: &str) -> bool {
    matches!(
        tag,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
            | "basefont"
            | "bgsound"
            | "frame"
    )
}

/// Elements whose start tag closes an open `<p>` (`<table>` only outside quirks mode).
pub(crate) fn closes_p(tag: &str) -> bool {
    matches!(
        tag,
        "address"
            | "article"
            | "aside"
            | "blockquote"
            | "center"
            | "details"
            | "dialog"
            | "dir"
            | "div"
            | "dl"
            | "fieldset"
            | "figcaption"
            | "figure"
            | "footer"
            | "header"
            | "hgroup"
            | "main"
            | "menu"
            | "nav"
            | "ol"
            | "p"
            | "search"
            | "section"
            | "summary"
            | "ul"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "pre"
            | "listing"
            | "form"
            | "plaintext"
            | "xmp"
            | "hr"
            | "li"
            | "dd"
            | "dt"
    )
}

/// The standard's "special" elements: end tags of other elements do not close them.
pub(crate) fn is_special(tag: &str) -> bool {
    closes_p(tag)
        || is_void(tag)
        || matches!(
            tag,
            "applet"
                | "body"
                | "button"
                | "caption"
                | "colgroup"
                | "frameset"
                | "head"
                | "html"
                | "iframe"
                | "marquee"
                | "noembed"
                | "noframes"
                | "noscript"
                | "object"
                | "script"
                | "select"
                | "style"
                | "table"
                | "tbody"
                | "td"
                | "template"
                | "textarea"
                | "tfoot"
                | "th"
                | "thead"
                | "title"
                | "tr"
        )
}

/// Elements that belong in `<head>` when they come before the body.
pub(crate) fn is_head_tag(tag: &str) -> bool {
    matches!(
        tag,
        "title"
            | "meta"
            | "link"
            | "style"
            | "script"
            | "base"
            | "noscript"
            | "noframes"
            | "template"
            | "basefont"
            | "bgsound"
    )
}

/// HTML tags that end `<svg>`/`<math>` content when they appear inside it.
pub(crate) fn breaks_out_of_foreign(tag: &str) -> bool {
    matches!(
        tag,
        "b" | "big"
            | "blockquote"
            | "body"
            | "br"
            | "center"
            | "code"
            | "dd"
            | "div"
            | "dl"
            | "dt"
            | "em"
            | "embed"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "head"
            | "hr"
            | "i"
            | "img"
            | "li"
            | "listing"
            | "menu"
            | "meta"
            | "nobr"
            | "ol"
            | "p"
            | "pre"
            | "ruby"
            | "s"
            | "small"
            | "span"
            | "strong"
            | "strike"
            | "sub"
            | "sup"
            | "table"
            | "tt"
            | "u"
            | "ul"
            | "var"
    )
}

/// Elements whose content is raw text up to their end tag, and whether references decode.
pub(crate) fn raw_text(tag: &str) -> Option<(&'static str, bool)> {
    Some(match tag {
        "script" => ("script", false),
        "style" => ("style", false),
        "xmp" => ("xmp", false),
        "iframe" => ("iframe", false),
        "noembed" => ("noembed", false),
        "noframes" => ("noframes", false),
        "noscript" => ("noscript", false),
        "plaintext" => ("plaintext", false),
        "textarea" => ("textarea", true),
        "title" => ("title", true),
        _ => return None,
    })
}
