use std::path::Path;

use super::*;

const HEAD: &str =
    "version = 1\n[[source]]\nname = \"web\"\ntype = \"jsonl\"\npaths = [\"in/*.jsonl\"]\n";

fn compile_str(body: &str) -> Result<Plan, Vec<String>> {
    let text = format!("{HEAD}{body}");
    compile(&text, Path::new("p.toml")).map_err(|d| d.errors().map(|e| e.to_string()).collect())
}

const TOK: &str =
    "[[stage]]\nname = \"tok\"\ntype = \"tokenize\"\ninputs = [\"web\"]\ntokenizer = \"t.json\"\n";

#[test]
fn a_linear_pipeline_compiles_in_order() {
    let plan = compile_str(
        "[[stage]]\nname = \"len\"\ntype = \"length\"\ninputs = [\"web\"]\nmin_chars = 5\n\
         [[stage]]\nname = \"tok\"\ntype = \"tokenize\"\ninputs = [\"len\"]\ntokenizer = \"t.json\"\n\
         [[sink]]\nname = \"out\"\ntype = \"megatron\"\ninputs = [\"tok\"]\npath = \"o\"\n\
         [[sink]]\nname = \"rej\"\ntype = \"jsonl\"\ninputs = [\"len.rejected\"]\npath = \"r\"\n",
    )
    .expect("compiles");
    let names: Vec<&str> = plan.reachable[0].iter().map(|&i| plan.nodes[i].name.as_str()).collect();
    assert_eq!(names, ["len", "tok", "rej", "out"]);
    assert!(plan.warnings.0.is_empty(), "{}", plan.warnings);
}

#[test]
fn every_error_is_reported_at_once() {
    let errs = compile_str(&format!(
        "{TOK}[[sink]]\nname = \"a\"\ntype = \"megatron\"\ninputs = [\"tokk\"]\npath = \"o\"\n\
         [[sink]]\nname = \"b\"\ntype = \"jsonl\"\ninputs = [\"tok\"]\npath = \"o/\"\n\
         [[sink]]\nname = \"c\"\ntype = \"megatron\"\ninputs = [\"web\"]\npath = \"x\"\n"
    ))
    .expect_err("must fail");
    assert_eq!(errs.len(), 4, "{errs:#?}");
    assert!(
        errs.iter().any(|e| e.contains("unknown input node `tokk`; did you mean `tok`?")),
        "{errs:#?}"
    );
    assert!(
        errs.iter()
            .any(|e| e.contains("`b` (jsonl) takes documents, but `tok` (tokenize) gives tokens")),
        "{errs:#?}"
    );
    assert!(errs.iter().any(|e| e.contains("sinks `a` and `b` both write to `o/`")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("put a `tokenize` stage in between")), "{errs:#?}");
    // Errors point at the `inputs` line of the offending node.
    assert!(errs.iter().any(|e| e.starts_with("p.toml:14:1:")), "{errs:#?}");
}

#[test]
fn cycles_are_printed() {
    let errs = compile_str(
        "[[stage]]\nname = \"a\"\ntype = \"length\"\ninputs = [\"web\", \"b\"]\n\
         [[stage]]\nname = \"b\"\ntype = \"length\"\ninputs = [\"a\"]\n\
         [[sink]]\nname = \"out\"\ntype = \"jsonl\"\ninputs = [\"b\"]\npath = \"o\"\n",
    )
    .expect_err("cycle");
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].contains("cycle in the pipeline: a -> b -> a")
            || errs[0].contains("cycle in the pipeline: b -> a -> b"),
        "{errs:?}"
    );
}

#[test]
fn rejected_port_only_on_filters_and_sinks_are_not_inputs() {
    let errs = compile_str(&format!(
        "{TOK}[[sink]]\nname = \"s\"\ntype = \"jsonl\"\ninputs = [\"web.rejected\"]\npath = \"a\"\n\
         [[sink]]\nname = \"t\"\ntype = \"jsonl\"\ninputs = [\"s\"]\npath = \"b\"\n\
         [[sink]]\nname = \"u\"\ntype = \"megatron\"\ninputs = [\"tok\"]\npath = \"c\"\n"
    ))
    .expect_err("bad ports");
    assert!(errs.iter().any(|e| e.contains("`web` (jsonl) drops nothing")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.contains("input `s` is a sink")), "{errs:#?}");
}

#[test]
fn fan_in_and_fan_out() {
    let text = "version = 1\n\
        [[source]]\nname = \"a\"\ntype = \"jsonl\"\npaths = [\"a\"]\n\
        [[source]]\nname = \"b\"\ntype = \"parquet\"\npaths = [\"b\"]\n\
        [[stage]]\nname = \"len\"\ntype = \"length\"\ninputs = [\"a\", \"b\"]\n\
        [[sink]]\nname = \"x\"\ntype = \"jsonl\"\ninputs = [\"len\"]\npath = \"x\"\n\
        [[sink]]\nname = \"y\"\ntype = \"parquet\"\ninputs = [\"len\", \"a\"]\npath = \"y\"\n";
    let plan = compile(text, Path::new("p.toml")).expect("compiles");
    assert_eq!(plan.passes, vec![vec![0, 1]]);
    let names = |s: usize| {
        plan.reachable[s].iter().map(|&i| plan.nodes[i].name.clone()).collect::<Vec<_>>()
    };
    assert_eq!(names(0), ["len", "x", "y"]);
    assert_eq!(names(1), ["len", "x", "y"]);
}

#[test]
fn bad_sql_is_a_compile_error() {
    let text = "version = 1\n[[source]]\nname = \"web\"\ntype = \"jsonl\"\npaths = [\"a\"]\nwhere = \"lang = = 'en'\"\n\
        [[sink]]\nname = \"x\"\ntype = \"jsonl\"\ninputs = [\"web\"]\npath = \"x\"\n";
    let errs = compile(text, Path::new("p.toml")).expect_err("bad sql");
    let first = errs.errors().next().expect("one error").to_string();
    assert!(
        first.starts_with("p.toml:6:1: error: source `web`: invalid `where` expression"),
        "{first}"
    );
}

#[test]
fn unused_outputs_warn() {
    let plan = compile_str("[[sink]]\nname = \"x\"\ntype = \"jsonl\"\ninputs = [\"web\"]\npath = \"x\"\n[[stage]]\nname = \"l\"\ntype = \"length\"\ninputs = [\"web\"]\n")
        .expect("compiles");
    assert_eq!(plan.warnings.warnings().count(), 1);
    assert!(plan.warnings.to_string().contains("the output of `l` goes nowhere"));
}

#[test]
fn barriers_split_the_run_into_passes() {
    let plan = compile_str(
        "[[stage]]\nname = \"len\"\ntype = \"length\"\ninputs = [\"web\"]\n\
         [[stage]]\nname = \"exact\"\ntype = \"exact_dedup\"\ninputs = [\"len\"]\n\
         [[stage]]\nname = \"fuzzy\"\ntype = \"minhash_dedup\"\ninputs = [\"exact\"]\n\
         [[sink]]\nname = \"out\"\ntype = \"jsonl\"\ninputs = [\"fuzzy\", \"len.rejected\"]\npath = \"o\"\n",
    )
    .expect("compiles");
    let id = |n: &str| plan.node_id(n).expect("node");
    assert_eq!(plan.passes, vec![vec![id("web")], vec![id("exact")], vec![id("fuzzy")]]);
    let names = |e: usize| {
        plan.reachable[e].iter().map(|&i| plan.nodes[i].name.clone()).collect::<Vec<_>>()
    };
    // A batch stops at the first barrier it meets; the sink is fed from two passes.
    assert_eq!(names(id("web")), ["len", "exact", "out"]);
    assert_eq!(names(id("exact")), ["fuzzy"]);
    assert_eq!(names(id("fuzzy")), ["out"]);
}

#[test]
fn text_filter_stages_compile_with_published_defaults() {
    let plan = compile_str(
        "[[stage]]\nname = \"gq\"\ntype = \"gopher_quality\"\ninputs = [\"web\"]\nmin_doc_words = 10\nwords = \"english\"\n\
         [[stage]]\nname = \"lang\"\ntype = \"language\"\ninputs = [\"gq\"]\nlanguages = [\"en\", \"zh\"]\n\
         [[sink]]\nname = \"out\"\ntype = \"jsonl\"\ninputs = [\"lang\", \"gq.rejected\"]\npath = \"o\"\n",
    )
    .expect("compiles");
    let StageSpec::GopherQuality(gq) = &plan.spec.stages[0] else {
        panic!("{:?}", plan.spec.stages[0])
    };
    assert_eq!(
        (gq.min_doc_words, gq.max_doc_words, gq.min_stop_words),
        (Some(10), Some(100_000), Some(2))
    );
    let StageSpec::Language(lang) = &plan.spec.stages[1] else {
        panic!("{:?}", plan.spec.stages[1])
    };
    assert_eq!((lang.min_score, lang.model.as_ref()), (0.65, None));
    let errs = compile_str("[[stage]]\ntype = \"pii\"\ninputs = [\"web\"]\nemail = \"x\"\n")
        .expect_err("must fail");
    assert!(errs.iter().any(|e| e.contains("unknown field `email`")), "{errs:#?}");
}

#[test]
fn warc_record_types_are_checked() {
    let compile_source = |source: &str| {
        let text = format!(
            "version = 1\n[[source]]\nname = \"crawl\"\n{source}\n\
             [[sink]]\nname = \"out\"\ntype = \"jsonl\"\ninputs = [\"crawl\"]\npath = \"o\"\n"
        );
        compile(&text, Path::new("p.toml")).map(drop).map_err(|d| d.to_string())
    };
    assert!(
        compile_source(
            "type = \"warc\"\npaths = [\"a.warc.gz\"]\nrecords = [\"response\", \"resource\"]"
        )
        .is_ok()
    );
    let typo = compile_source("type = \"warc\"\npaths = [\"a.warc.gz\"]\nrecords = [\"respnse\"]")
        .expect_err("typo");
    assert!(typo.contains("p.toml:6:") && typo.contains("unknown record type `respnse`"), "{typo}");
    let empty =
        compile_source("type = \"wet\"\npaths = [\"a.wet\"]\nrecords = []").expect_err("empty");
    assert!(empty.contains("`records` is empty"), "{empty}");
    let jsonl = compile_source("type = \"jsonl\"\npaths = [\"a.jsonl\"]\nrecords = [\"response\"]")
        .expect_err("jsonl");
    assert!(jsonl.contains("applies to `warc` and `wet` sources"), "{jsonl}");
}

#[test]
fn a_broken_node_does_not_make_its_inputs_look_unused() {
    let text = format!(
        "{HEAD}[[stage]]\nname = \"len\"\ntype = \"length\"\ninputs = [\"web\"]\nmin_chars = \"x\"\n\
         [[sink]]\nname = \"out\"\ntype = \"jsonl\"\ninputs = [\"len\"]\npath = \"o\"\n"
    );
    let all = compile(&text, Path::new("p.toml")).expect_err("min_chars is mistyped").to_string();
    assert!(all.contains("stage `len`"), "{all}");
    assert!(!all.contains("goes nowhere"), "a false warning: {all}");
}

#[test]
fn a_typo_of_a_broken_node_is_still_suggested() {
    let text = format!(
        "{HEAD}[[stage]]\nname = \"tok\"\ntype = \"tokenze\"\ninputs = [\"web\"]\n\
         [[sink]]\nname = \"o\"\ntype = \"jsonl\"\ninputs = [\"tokk\"]\npath = \"o\"\n"
    );
    let all = compile(&text, Path::new("p.toml")).expect_err("two errors").to_string();
    assert!(all.contains("did you mean `tokenize`?"), "{all}");
    assert!(all.contains("unknown input node `tokk`; did you mean `tok`?"), "{all}");
}
