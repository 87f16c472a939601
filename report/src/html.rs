//! The page: a header with the run's totals, then one section per chart, each chart followed
//! by its numbers as a table.

use std::fmt::Write as _;

use crate::fmt::{bytes, escape, num, pct};
use crate::model::{Log2Histogram, NodeRow, RunReport};
use crate::svg::{self, Bar, FunnelRow, Mark, Series};

const STYLE: &str = "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;\
background:#f6f7f9;color:#1d2430}main{max-width:820px;margin:0 auto;padding:16px 20px 40px}\
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:28px 0 6px;border-bottom:1px solid \
#d8dce3;padding-bottom:4px}.sub{color:#5b6472;margin:0 0 12px}.cards{display:flex;flex-wrap:wrap;\
gap:8px}.card{background:#fff;border:1px solid #d8dce3;border-radius:6px;padding:6px 12px;\
min-width:120px}.card b{display:block;font-size:17px}.card span{color:#5b6472;font-size:12px}\
svg{max-width:100%;height:auto;background:#fff;border:1px solid #e3e6eb;border-radius:4px}\
svg text{font:12px system-ui,sans-serif;fill:#1d2430}svg .tick{font-size:11px;fill:#5b6472}\
table{border-collapse:collapse;margin:8px 0;background:#fff;font-size:13px}td,th{border:1px \
solid #e3e6eb;padding:3px 8px;text-align:right}th{background:#eef0f4}td:first-child,\
th:first-child{text-align:left}.note{color:#5b6472;font-size:12px}.bad{color:#b0263b}";

/// Renders the whole page.
pub(crate) fn page(r: &RunReport) -> String {
    let mut s = String::with_capacity(64 << 10);
    let _ = write!(
        s,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>tokenmill report: {t}</title><style>{STYLE}</style></head><body><main>",
        t = escape(&r.title)
    );
    header(&mut s, r);
    funnel(&mut s, &r.nodes);
    drops(&mut s, &r.nodes);
    languages(&mut s, &r.languages);
    lengths(&mut s, r.lengths_before.as_ref(), r.lengths_after.as_ref());
    dedup(&mut s, r);
    shards(&mut s, r);
    throughput(&mut s, r);
    loss(&mut s, r);
    s.push_str("</main></body></html>\n");
    s
}

fn header(s: &mut String, r: &RunReport) {
    let status_class = if r.status == "complete" { "" } else { " class=\"bad\"" };
    let _ = write!(
        s,
        "<h1>tokenmill run report</h1><p class=\"sub\">{t} &middot; tokenmill {v} &middot; \
         <span{status_class}>{st}</span></p><div class=\"cards\">",
        t = escape(&r.title),
        v = escape(&r.tool_version),
        st = escape(&r.status),
    );
    let sources: u64 = r.nodes.iter().filter(|n| n.is_source).map(|n| n.docs_in).sum();
    let tokens: u64 = r.shards.iter().map(|s| s.tokens).sum();
    let mb_s = r.decoded_bytes as f64 / 1e6 / r.elapsed_secs.max(1e-9);
    let mut cards = vec![
        (format!("{:.1} s", r.elapsed_secs), "wall time".to_string()),
        (num(r.input_files), "input files".to_string()),
        (bytes(r.decoded_bytes), format!("decoded input ({mb_s:.1} MB/s)")),
        (num(sources), "documents read".to_string()),
    ];
    if !r.shards.is_empty() {
        cards.push((num(tokens), format!("tokens in {}", plural(r.shards.len(), "shard"))));
    }
    let rss = r.peak_rss_bytes.map_or("unknown".to_string(), bytes);
    cards.push((rss, "peak memory (max RSS)".to_string()));
    cards.push((r.threads.to_string(), "threads".to_string()));
    for (value, what) in cards {
        let _ = write!(s, "<div class=\"card\"><b>{}</b><span>{}</span></div>", value, what);
    }
    s.push_str("</div>");
}

fn funnel(s: &mut String, nodes: &[NodeRow]) {
    if nodes.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"funnel\">Documents and bytes through the pipeline</h2>");
    s.push_str(
        "<p class=\"note\">Per node: green is what it passed on, red what it removed \
         (documents dropped, or bytes cut from the text).</p>",
    );
    let label = |n: &NodeRow| format!("{} ({})", n.name, n.kind);
    let docs: Vec<FunnelRow> = nodes
        .iter()
        .map(|n| FunnelRow { label: label(n), input: n.docs_in, output: n.docs_out })
        .collect();
    s.push_str(&svg::funnel(&docs, num));
    let text: Vec<FunnelRow> = nodes
        .iter()
        .filter(|n| n.bytes_in > 0 || n.bytes_out > 0)
        .map(|n| FunnelRow { label: label(n), input: n.bytes_in, output: n.bytes_out })
        .collect();
    if !text.is_empty() {
        s.push_str("<p class=\"note\">Text bytes:</p>");
        s.push_str(&svg::funnel(&text, bytes));
    }
    s.push_str(
        "<table id=\"funnel-table\"><tr><th>node</th><th>type</th><th>docs in</th>\
         <th>docs out</th><th>dropped</th><th>bytes in</th><th>bytes out</th><th>tokens</th></tr>",
    );
    for n in nodes {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td></tr>",
            escape(&n.name),
            escape(&n.kind),
            num(n.docs_in),
            num(n.docs_out),
            num(n.dropped_total()),
            num(n.bytes_in),
            num(n.bytes_out),
            num(n.tokens_out),
        );
    }
    s.push_str("</table>");
}

fn drops(s: &mut String, nodes: &[NodeRow]) {
    let mut bars = Vec::new();
    for n in nodes {
        for (rule, count) in &n.dropped {
            bars.push(Bar {
                label: format!("{}: {rule}", n.name),
                value: *count as f64,
                text: format!("{} ({} of its input)", num(*count), pct(*count, n.docs_in)),
            });
        }
    }
    if bars.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"drops\">Documents dropped, by rule</h2>");
    s.push_str(&svg::hbars(&bars, "#d1495b"));
}

fn languages(s: &mut String, langs: &[(String, u64)]) {
    if langs.is_empty() {
        return;
    }
    let total: u64 = langs.iter().map(|(_, n)| n).sum();
    s.push_str("<h2 id=\"languages\">Languages</h2>");
    let _ = write!(
        s,
        "<p class=\"note\">{} documents identified by the <code>language</code> stage(s); the 20 \
         most frequent languages.</p>",
        num(total)
    );
    let mut bars: Vec<Bar> = langs
        .iter()
        .take(20)
        .map(|(l, n)| Bar {
            label: l.clone(),
            value: *n as f64,
            text: format!("{} ({})", num(*n), pct(*n, total)),
        })
        .collect();
    let rest: u64 = langs.iter().skip(20).map(|(_, n)| n).sum();
    if rest > 0 {
        let text = format!("{} ({})", num(rest), pct(rest, total));
        bars.push(Bar { label: "other".into(), value: rest as f64, text });
    }
    s.push_str(&svg::hbars(&bars, "#2b6cb0"));
}

fn lengths(s: &mut String, before: Option<&Log2Histogram>, after: Option<&Log2Histogram>) {
    if before.is_none() && after.is_none() {
        return;
    }
    let empty = Log2Histogram::default();
    let (b, a) = (before.unwrap_or(&empty), after.unwrap_or(&empty));
    let count = |h: &Log2Histogram, i: usize| h.buckets.get(i).copied().unwrap_or(0);
    let n = b.buckets.len().max(a.buckets.len());
    let first = (0..n).find(|&i| count(b, i) > 0 || count(a, i) > 0).unwrap_or(0);
    // Axis ticks name each bucket's lower bound; the table gives both bounds.
    let labels: Vec<String> = (first..n).map(|i| short(Log2Histogram::bounds(i).0)).collect();
    // Shares, so that the few documents left after filtering compare with the many read.
    let shares = |h: &Log2Histogram| -> Vec<f64> {
        let total = h.total().max(1) as f64;
        (first..n).map(|i| count(h, i) as f64 * 100.0 / total).collect()
    };
    s.push_str("<h2 id=\"lengths\">Document length (characters)</h2>");
    let _ = write!(
        s,
        "<p class=\"note\">Share of documents per power-of-two bucket of length (each bucket \
         from the length it is labelled with to just under twice that). Before: {} \
         documents as read; after: {} documents after the last filter (as tokenized or \
         written).</p>",
        num(b.total()),
        num(a.total())
    );
    let series = [
        Series { name: "before filtering", color: "#9aa5b4", values: shares(b) },
        Series { name: "after filtering", color: "#3a8f5c", values: shares(a) },
    ];
    s.push_str(&svg::columns(&labels, &series, |v| format!("{v:.1}%")));
    s.push_str(
        "<table id=\"lengths-table\"><tr><th>characters</th><th>before</th><th>after</th></tr>",
    );
    for i in first..n {
        let _ = write!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            bucket_label(i, |v| v.to_string()),
            num(count(b, i)),
            num(count(a, i))
        );
    }
    s.push_str("</table>");
}

/// `1 shard`, `2 shards`.
fn plural(n: usize, noun: &str) -> String {
    match n {
        1 => format!("1 {noun}"),
        _ => format!("{} {noun}s", num(n as u64)),
    }
}

/// A log2 bucket's range as text, its bounds written by `show`: `0`, `1`, `2-3`, `1024-2047`.
fn bucket_label(i: usize, show: fn(u64) -> String) -> String {
    match Log2Histogram::bounds(i) {
        (lo, hi) if lo == hi => show(lo),
        (lo, hi) => format!("{}-{}", show(lo), show(hi)),
    }
}

/// A bucket bound for a chart axis: `511`, `1k`, `64k`, `2M` (binary multiples; an upper bound
/// from 1023 on is rounded up, 2047 is `2k`).
fn short(n: u64) -> String {
    let n = if (1023..u64::MAX).contains(&n) && (n + 1).is_power_of_two() { n + 1 } else { n };
    match n {
        0..1024 => n.to_string(),
        1024..1_048_576 => format!("{}k", n >> 10),
        _ => format!("{}M", n >> 20),
    }
}

fn dedup(s: &mut String, r: &RunReport) {
    for d in &r.dedup {
        let _ = write!(
            s,
            "<h2 id=\"dedup-{id}\">Deduplication: {name}</h2><p>{removed} of {docs} documents \
             removed (<b>{share}</b>), {clusters} clusters of near-duplicates{largest}.</p>",
            id = escape(&d.name),
            name = escape(&d.name),
            removed = num(d.removed),
            docs = num(d.documents),
            share = pct(d.removed, d.documents),
            clusters = num(d.clusters),
            largest = match d.clusters {
                0 => String::new(),
                _ => format!(", the largest of {} documents", num(d.largest_cluster)),
            },
        );
        if !d.cluster_sizes.is_empty() {
            let bars: Vec<Bar> = d
                .cluster_sizes
                .iter()
                .map(|(size, n)| Bar {
                    label: format!("size {size}"),
                    value: *n as f64,
                    text: format!("{} clusters", num(*n)),
                })
                .collect();
            s.push_str("<p class=\"note\">Clusters by size (documents per cluster):</p>");
            s.push_str(&svg::hbars(&bars, "#8e5ea2"));
        }
    }
}

fn shards(s: &mut String, r: &RunReport) {
    if r.shards.is_empty() {
        return;
    }
    let tokens: Vec<u64> = r.shards.iter().map(|x| x.tokens).collect();
    let total: u64 = tokens.iter().sum();
    let (min, max) =
        (tokens.iter().min().copied().unwrap_or(0), tokens.iter().max().copied().unwrap_or(0));
    let docs: u64 = r.shards.iter().map(|x| x.documents).sum();
    let _ = write!(
        s,
        "<h2 id=\"shards\">Tokens per shard</h2><p>{} tokens and {} documents in {} \
         (smallest {}, largest {} tokens).</p>",
        num(total),
        num(docs),
        plural(r.shards.len(), "shard"),
        num(min),
        num(max)
    );
    let labels: Vec<String> = r.shards.iter().map(|x| x.name.clone()).collect();
    let values = tokens.iter().map(|&t| t as f64).collect();
    let series = [Series { name: "tokens", color: "#d08c2e", values }];
    s.push_str(&svg::columns(&labels, &series, |v| num(v.round() as u64)));
}

fn throughput(s: &mut String, r: &RunReport) {
    let bars: Vec<Bar> = r
        .nodes
        .iter()
        .filter(|n| n.compute_secs > 0.0 && n.docs_in > 0 && !n.is_sink)
        .map(|n| {
            let secs = n.compute_secs.max(1e-9);
            let mb = n.bytes_in as f64 / 1e6 / secs;
            Bar {
                label: n.name.clone(),
                value: mb,
                text: format!(
                    "{mb:.1} MB/s, {} docs/s, {:.2} s",
                    num((n.docs_in as f64 / secs).round() as u64),
                    n.compute_secs
                ),
            }
        })
        .collect();
    if bars.is_empty() {
        return;
    }
    s.push_str("<h2 id=\"throughput\">Throughput per node</h2>");
    s.push_str(
        "<p class=\"note\">Text megabytes (and documents) received per second of the node's own \
         compute time, summed over threads: one core's speed at that node.</p>",
    );
    s.push_str(&svg::hbars(&bars, "#2b8a8a"));
    let rss = r.peak_rss_bytes.map_or("unknown".to_string(), bytes);
    let _ = write!(s, "<p>Peak memory of the process (max RSS): <b>{rss}</b>.</p>");
}

fn loss(s: &mut String, r: &RunReport) {
    let Some(l) = &r.loss else { return };
    s.push_str("<h2 id=\"loss\">Training check: loss curve</h2>");
    let verdict = match l.passed {
        Some(true) => "passed",
        Some(false) => "<span class=\"bad\">failed</span>",
        None => "not judged",
    };
    let last = l.losses.last().copied().unwrap_or(f64::NAN);
    let _ = write!(
        s,
        "<p><code>tokenmill verify --train</code> {verdict}: {} logged steps, final training \
         loss {last:.3} nats.</p>",
        l.losses.len()
    );
    let mut marks = Vec::new();
    if let Some(e) = l.unigram_entropy {
        marks.push(Mark { value: e, color: "#b0263b", name: "unigram entropy" });
    }
    if let Some(h) = l.heldout_loss {
        marks.push(Mark { value: h, color: "#3a8f5c", name: "held-out loss" });
    }
    s.push_str(&svg::line(&l.losses, &marks, "training step (logged); loss in nats"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axis_labels_are_short_and_tables_exact() {
        assert_eq!(short(Log2Histogram::bounds(11).0), "1k");
        assert_eq!(bucket_label(11, short), "1k-2k");
        assert_eq!(bucket_label(11, |v| v.to_string()), "1024-2047");
        assert_eq!(bucket_label(0, short), "0");
        assert_eq!(bucket_label(2, short), "2-3");
        assert_eq!(bucket_label(10, short), "512-1k");
        assert_eq!(bucket_label(21, short), "1M-2M");
        assert_eq!(short(u64::MAX), format!("{}M", u64::MAX >> 20));
    }
}
