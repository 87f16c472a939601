use super::*;
use crate::words::Words;

/// 500 Chinese documents of the shared corpus with datatrove 0.10.1's decisions under
/// FineWeb-2's `cmn_Hani` configuration (`scripts/fineweb2-parity.py --fixture`).
const FIXTURE: &str =
    concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/filters/fineweb2_cmn_Hani.jsonl");

fn cmn() -> &'static Fineweb2Language {
    language("zh").expect("Chinese is configured")
}

#[test]
fn table_holds_fineweb2_values() {
    // configs/cmn_Hani.yml and deu_Latn.yml of huggingface/fineweb-2.
    let zh = cmn();
    assert_eq!((zh.code, zh.words), ("cmn_Hani", WordMode::DatatroveZh));
    assert_eq!((zh.dup_line_frac, zh.line_punct_thr, zh.new_line_ratio), (0.287, 0.106, 0.178));
    assert_eq!(zh.top_n_grams, [(2, 0.256), (3, 0.201), (4, 0.171)]);
    assert_eq!(zh.stop_words.len(), 22);
    assert!(zh.stop_words.contains(&"的") && zh.stop_words.contains(&"·"));
    assert_eq!(language("cmn_Hani"), Some(zh));
    let de = language("de").expect("German is configured");
    // German's minimum word length is 0: datatrove reads it as "off".
    assert_eq!(de.gopher_quality().min_avg_word_length, None);
    assert_eq!(de.gopher_quality().max_avg_word_length, Some(15.0));
    assert_eq!(language("nb").map(|l| l.code), Some("nob_Latn"));
    assert_eq!(language("no").map(|l| l.code), Some("nob_Latn"));
    assert_eq!(language("en"), None, "FineWeb-2 is the non-English part of the web");
    for lang in languages() {
        Fineweb2Filters::new(lang).unwrap_or_else(|e| panic!("{}: {e}", lang.code));
    }
}

#[test]
fn per_language_selection_and_fallback() -> Result<()> {
    let per = PerLanguage::new("fallback", |l| Ok(l.code))?;
    assert_eq!(per.select(Some("zh")).filter, &"cmn_Hani");
    assert_eq!(per.select(Some("zh")).code, Some("cmn_Hani"));
    assert_eq!(per.select(Some("ita_Latn")).filter, &"ita_Latn");
    assert_eq!(per.select(Some("en")).code, None);
    assert_eq!(per.select(None).filter, &"fallback");
    Ok(())
}

#[test]
fn chinese_is_judged_on_datatrove_words() -> Result<()> {
    // `npm:chinese-poetry:yuanqu/yuanqu.json#8592` in the shared corpus, kept by datatrove.
    let kept = "中吕・醉高歌过红绣鞋寄金莺儿\n贾固\n\n乐心儿比目连枝，肯意儿新婚燕尔。\n\
                画船开抛闪的人独自，遥望关西店儿。\n黄河水流不尽心事，中条山隔不断相思。\n\
                当记得夜深沉，人静情，自来时。\n来时节三两句话，去时节一篇诗，记在人心窝儿里直到死。";
    let f = Fineweb2Filters::new(cmn())?;
    assert_eq!(f.check(kept), None);
    // The rules see jieba's words, unadapted: the mean word length counts (1 to 5 code
    // points), and `・` is not a letter (Python's `isalpha`).
    let words = Words::new(kept, WordMode::DatatroveZh);
    assert_eq!(words.script, crate::words::Script::Spaced);
    assert_eq!(&words.tokens[..5], ["中", "吕", "・", "醉", "高歌"]);
    // `npm:chinese-poetry:yudingquantangshi/json/429.json#4`: 66 words, but of FineWeb-2's 22
    // stop words only 被 (datatrove drops it).
    let poem = "春眠\n白居易\n\n新浴肢體暢，獨寢神魂安。況因夜深坐，遂成日高眠。\n\
                春被薄亦暖，朝窗深更閑。卻忘人間事，似得枕上仙。\n\
                至適無夢想，大和難名言。全勝彭澤醉，欲敵曹溪禪。\n\
                何物呼我覺，伯勞聲關關。起來妻子笑，生計春茫然。";
    assert_eq!(f.check(poem), Some(("gopher_quality", "gopher_enough_stop_words")));
    Ok(())
}

#[derive(serde::Deserialize)]
struct Reference {
    id: String,
    text: String,
    keep: bool,
    filter: Option<String>,
    reason: Option<String>,
}

#[test]
fn agrees_with_datatrove_on_chinese() -> anyhow::Result<()> {
    let chain = Fineweb2Filters::new(cmn())?;
    let data = std::fs::read_to_string(FIXTURE)?;
    let (mut total, mut agree, mut kept, mut differ) = (0, 0, 0, Vec::new());
    for (line_no, line) in data.lines().enumerate() {
        let r: Reference = serde_json::from_str(line)
            .map_err(|e| anyhow::anyhow!("{FIXTURE}:{}: {e}", line_no + 1))?;
        let ours = chain.check(&r.text);
        let theirs = r.filter.as_deref().zip(r.reason.as_deref());
        assert_eq!(r.keep, theirs.is_none(), "{}", r.id);
        total += 1;
        kept += usize::from(r.keep);
        if ours == theirs {
            agree += 1;
        } else {
            differ.push(format!("{}: ours {ours:?}, datatrove {theirs:?}", r.id));
        }
    }
    assert_eq!(total, 500);
    assert!((20..=480).contains(&kept), "the fixture has both decisions: {kept} kept");
    // Every one: the one known difference on the whole slice (datatrove compares repeated
    // n-grams by their concatenation) is not among them.
    assert_eq!(agree, total, "{agree}/{total} agree:\n{}", differ.join("\n"));
    Ok(())
}
