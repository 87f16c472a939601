//! Site-chrome rules of `zh_quality` on real pages, after `zh_convert` as in the Chinese chain:
//! a Taiwanese blog page (the `pixnet` page of Mozilla Readability's test suite, Apache-2.0)
//! and the Chinese pages of the Common Crawl sample (`data/web/commoncrawl-sample.warc.gz`)
//! through the web crate's extractor.

use tokenmill_web::encoding::decode_html_with_url;
use tokenmill_web::extract::{ExtractOptions, Extractor};
use tokenmill_web::warc::{WarcOptions, open_warc};

use super::*;
use crate::zh_convert::{ZhConvert, ZhConvertConfig};

/// Slices of the whole `pixnet` page as `tokenmill_web::extract::html_to_text` renders it (what
/// a WET record carries): header links, the article's first and last lines, the post footer,
/// the comment form, the sidebar counters and the page footer.
const PIXNET: &str = include_str!("../../fixtures/zh-pixnet-page-slice.txt");

const WARC: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../data/web/commoncrawl-sample.warc.gz");

/// The lines `zh_quality` removes from `text` after `t2s` conversion, the text it keeps and
/// its verdict.
fn split_chrome(text: &str) -> (Vec<String>, String, Option<&'static str>) {
    let convert = ZhConvert::new(ZhConvertConfig::default()).expect("tables load");
    let quality = ZhQuality::new(ZhQualityConfig::default()).expect("valid config");
    let simplified = convert.apply(text).1;
    let removed: Vec<String> =
        simplified.lines().filter(|l| quality.is_chrome(l)).map(String::from).collect();
    let t = quality.apply(&simplified);
    assert_eq!(t.counts.chrome_lines, removed.len());
    (removed, t.text.into_owned(), t.dropped)
}

#[test]
fn chrome_of_a_real_taiwanese_blog_page_goes_and_the_article_stays() {
    let (removed, kept, dropped) = split_chrome(PIXNET);
    let chrome = [
        "登入",
        "跳到主文",
        "如果您喜欢\"史蒂文的家\"图文分享 邀请您到 FB 粉丝团 按个\"赞\"!",
        "上一篇文章与下一篇文章",
        "产生短网址 E-mail转寄",
        "此分类上一篇： 美树营地 - 探访老鹰溪 (下) 2011/12/18",
        "上一篇： 爱上喜翁露营_欢庆圣诞夜市趴",
        "下一篇： 走进莫内遇见落羽松_菁芳园",
        "▲top",
        "您尚未登入，将以访客身份留言。亦可登入留言",
        "送出留言",
        "浏览人次",
        "本日人气：613",
        "累积人气：2592077",
        "关闭视窗",
    ];
    assert_eq!(removed, chrome);
    // The article's lines, its campsite facts and the comments stay.
    for line in [
        "一波波接续性低温寒流报到 已将新竹尖石乡后山一带层层山峦披上嫣红的彩衣",
        "联络电话：03-584-7231 行动: 0937-141993",
        "营地地址：新竹县尖石乡玉峰村6邻20号",
        "真是个美丽的好地方，感谢分享～",
    ] {
        assert!(kept.lines().any(|l| l == line), "{line} was removed");
    }
    assert_eq!(dropped, None);
    // Logging in is chrome as a link, not in a manual's sentence (`^登入$`).
    let quality = ZhQuality::new(ZhQualityConfig::default()).expect("valid config");
    assert!(!quality.is_chrome("登入时间显示为月,天,小时和分钟"));
}

/// The extracted text of the sample WARC's page at `uri`.
fn extracted(uri: &str) -> String {
    let extractor = Extractor::new(ExtractOptions { include_title: true, ..Default::default() });
    for record in open_warc(WARC, WarcOptions::default()).expect("sample WARC opens") {
        let record = record.expect("record reads");
        if record.target_uri.as_deref() != Some(uri) {
            continue;
        }
        let http = record.http().expect("HTTP response");
        let html = decode_html_with_url(&http.body, http.charset.as_deref(), Some(uri));
        return extractor.extract(&html.text, Some(uri)).expect("main content").text;
    }
    panic!("{uri} not in the sample WARC");
}

#[test]
fn chrome_of_real_company_and_job_pages_goes_and_their_content_stays() {
    let (removed, kept, dropped) =
        split_chrome(&extracted("http://0615235.com/02mjqjo%7Bibotij2.btq?odmbtt=106&tdmbtt=121"));
    assert_eq!(
        removed,
        [
            "共4页 当前第1页 下一页 尾 页 转到:",
            "版权所有©上海聚一行工艺礼品有限公司",
            "备案号:沪ICP备11028026号"
        ]
    );
    assert_eq!(dropped, None);
    assert!(
        kept.contains("曾为（联想电脑）定制")
            && kept.contains("工厂地址：深圳市南山区南新路2065号")
    );
    let (removed, kept, dropped) = split_chrome(&extracted("http://0760.jxtdw.com/area/sanxiang/"));
    assert_eq!(
        removed,
        ["版权所有: 一览英才网· ·中山", "粤ICP备号 增值电信业务经营许可证:粤B2-20070017"]
    );
    assert_eq!(dropped, None);
    assert!(kept.contains("·中山 客服信箱： 0760@cn.jxtdw.com"));
}
