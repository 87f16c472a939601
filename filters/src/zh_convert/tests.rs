//! Tests of `zh_convert`.

use super::*;

#[test]
fn detects_and_converts() {
    let c = ZhConvert::new(ZhConvertConfig::default()).expect("tables load");
    let (script, text) = c.apply("這是一個關於電腦軟體的說明。");
    assert_eq!(script, ZhScript::Traditional);
    assert_eq!(text, "这是一个关于电脑软体的说明。");
    let (script, text) = c.apply("这是一个关于电脑软件的说明。");
    assert_eq!(script, ZhScript::Simplified);
    assert!(matches!(text, Cow::Borrowed(_)));
    assert_eq!(c.detect("Hello"), ZhScript::None);
}
