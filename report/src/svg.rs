//! Hand-written SVG charts: horizontal bars, grouped columns, a line chart. Every number a
//! chart shows is also written as text (in the chart or in the table beside it).

use std::fmt::Write as _;

use crate::fmt::escape;

/// Chart width in pixels; the page scales charts down on narrow screens.
const WIDTH: f64 = 760.0;

/// One horizontal bar: label, value, and the text written after the bar.
#[derive(Debug, Clone)]
pub(crate) struct Bar {
    pub(crate) label: String,
    pub(crate) value: f64,
    pub(crate) text: String,
}

/// Horizontal bars, one per row, scaled to the largest value.
pub(crate) fn hbars(bars: &[Bar], color: &str) -> String {
    let row = 22.0;
    let (label_w, text_w) = (250.0, 230.0);
    let bar_w = WIDTH - label_w - text_w;
    let height = row * bars.len() as f64 + 8.0;
    let max = bars.iter().map(|b| b.value).fold(0.0, f64::max).max(f64::MIN_POSITIVE);
    let mut s = open(height);
    for (i, b) in bars.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let w = (b.value / max * bar_w).max(if b.value > 0.0 { 1.0 } else { 0.0 });
        let _ = write!(
            s,
            r#"<text x="{lx}" y="{ty}" text-anchor="end" class="lbl">{label}</text><rect x="{x}" y="{y}" width="{w:.1}" height="{h}" fill="{color}"/><text x="{tx:.1}" y="{ty}" class="val">{text}</text>"#,
            lx = label_w - 6.0,
            ty = y + 14.0,
            label = escape(&b.label),
            x = label_w,
            h = row - 6.0,
            tx = label_w + w + 6.0,
            text = escape(&b.text),
        );
    }
    s.push_str("</svg>");
    s
}

/// One node of a funnel: what it received and what it passed on (documents or bytes).
#[derive(Debug, Clone)]
pub(crate) struct FunnelRow {
    pub(crate) label: String,
    pub(crate) input: u64,
    pub(crate) output: u64,
}

/// A funnel: a bar per node as wide as its input, green for what it passed on, red for what it
/// removed, the amounts (formatted by `show`) written beside it.
pub(crate) fn funnel(rows: &[FunnelRow], show: fn(u64) -> String) -> String {
    let row = 26.0;
    let (label_w, text_w) = (190.0, 200.0);
    let bar_w = WIDTH - label_w - text_w;
    let max = rows.iter().map(|r| r.input.max(r.output)).max().unwrap_or(0).max(1) as f64;
    let mut s = open(row * rows.len() as f64 + 8.0);
    for (i, r) in rows.iter().enumerate() {
        let y = 4.0 + row * i as f64;
        let kept = r.output as f64 / max * bar_w;
        let gone = r.input.saturating_sub(r.output) as f64 / max * bar_w;
        let text = match r.input.saturating_sub(r.output) {
            0 => show(r.output),
            d => format!("{} \u{2212}{}", show(r.output), show(d)),
        };
        let _ = write!(
            s,
            r##"<text x="{lx}" y="{ty}" text-anchor="end" class="lbl">{label}</text><rect x="{x}" y="{y}" width="{kept:.1}" height="{h}" fill="#3a8f5c"/><rect x="{gx:.1}" y="{y}" width="{gone:.1}" height="{h}" fill="#d1495b"/><text x="{tx:.1}" y="{ty}" class="val">{text}</text>"##,
            lx = label_w - 6.0,
            ty = y + 16.0,
            label = escape(&r.label),
            x = label_w,
            h = row - 6.0,
            gx = label_w + kept,
            tx = label_w + kept + gone + 6.0,
            text = escape(&text),
        );
    }
    s.push_str("</svg>");
    s
}

/// One series of a column chart: its name, colour and a value per category.
#[derive(Debug, Clone)]
pub(crate) struct Series<'a> {
    pub(crate) name: &'a str,
    pub(crate) color: &'a str,
    pub(crate) values: Vec<f64>,
}

/// Grouped columns: one group per category label, one column per series; a legend on top and
/// the largest value (formatted by `show`) on the y axis.
pub(crate) fn columns(labels: &[String], series: &[Series<'_>], show: fn(f64) -> String) -> String {
    let (left, top, bottom, height) = (60.0, 26.0, 46.0, 240.0);
    let plot_w = WIDTH - left - 10.0;
    let plot_h = height - top - bottom;
    let max = series.iter().flat_map(|s| s.values.iter().copied()).fold(0.0, f64::max);
    let max = if max > 0.0 { max } else { 1.0 };
    let group = plot_w / labels.len().max(1) as f64;
    let col = (group * 0.8 / series.len().max(1) as f64).max(1.0);
    let mut s = open(height);
    let mut lx = left;
    for se in series {
        let _ = write!(
            s,
            r#"<rect x="{lx}" y="6" width="12" height="12" fill="{c}"/><text x="{tx}" y="16" class="lbl">{n}</text>"#,
            c = se.color,
            tx = lx + 16.0,
            n = escape(se.name),
        );
        lx += 16.0 + 8.0 * se.name.chars().count() as f64 + 24.0;
    }
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{b}" stroke="#888"/><line x1="{left}" y1="{b}" x2="{r}" y2="{b}" stroke="#888"/><text x="{tx}" y="{ty}" text-anchor="end" class="val">{m}</text><text x="{tx}" y="{b}" text-anchor="end" class="val">0</text>"##,
        b = top + plot_h,
        r = left + plot_w,
        tx = left - 4.0,
        ty = top + 10.0,
        m = show(max),
    );
    let step = (labels.len() / 16).max(1);
    for (i, label) in labels.iter().enumerate() {
        let gx = left + group * i as f64 + group * 0.1;
        for (k, se) in series.iter().enumerate() {
            let v = se.values.get(i).copied().unwrap_or(0.0);
            let h = v / max * plot_h;
            let _ = write!(
                s,
                r#"<rect x="{x:.1}" y="{y:.1}" width="{col:.1}" height="{h:.1}" fill="{c}"><title>{n} {label}: {v}</title></rect>"#,
                x = gx + col * k as f64,
                y = top + plot_h - h,
                c = se.color,
                n = escape(se.name),
                label = escape(label),
                v = show(v),
            );
        }
        if i % step == 0 {
            let _ = write!(
                s,
                r#"<text x="{x:.1}" y="{y}" text-anchor="middle" class="tick">{l}</text>"#,
                x = gx + group * 0.4,
                y = top + plot_h + 14.0,
                l = escape(label),
            );
        }
    }
    s.push_str("</svg>");
    s
}

/// A horizontal reference line of a line chart.
#[derive(Debug, Clone)]
pub(crate) struct Mark<'a> {
    pub(crate) value: f64,
    pub(crate) color: &'a str,
    pub(crate) name: &'a str,
}

/// A line chart of `values` over their index, with labelled horizontal marks.
pub(crate) fn line(values: &[f64], marks: &[Mark<'_>], x_name: &str) -> String {
    let (left, top, bottom, height) = (60.0, 14.0, 36.0, 260.0);
    let plot_w = WIDTH - left - 150.0;
    let plot_h = height - top - bottom;
    let finite = values.iter().chain(marks.iter().map(|m| &m.value)).filter(|v| v.is_finite());
    let (mut lo, mut hi) = (0.0f64, f64::MIN);
    for &v in finite {
        (lo, hi) = (lo.min(v), hi.max(v));
    }
    let hi = if hi > lo { hi + (hi - lo) * 0.05 } else { lo + 1.0 };
    let span = hi - lo;
    let x = |i: usize| left + plot_w * i as f64 / (values.len().max(2) - 1) as f64;
    let y = |v: f64| top + plot_h * (1.0 - (v - lo) / span);
    let mut s = open(height);
    let _ = write!(
        s,
        r##"<line x1="{left}" y1="{top}" x2="{left}" y2="{b}" stroke="#888"/><line x1="{left}" y1="{b}" x2="{r}" y2="{b}" stroke="#888"/><text x="{tx}" y="{ty:.1}" text-anchor="end" class="val">{hi:.2}</text><text x="{tx}" y="{b}" text-anchor="end" class="val">{lo:.2}</text><text x="{mx:.1}" y="{xl}" text-anchor="middle" class="tick">{xn}</text>"##,
        b = top + plot_h,
        r = left + plot_w,
        tx = left - 4.0,
        ty = top + 10.0,
        mx = left + plot_w / 2.0,
        xl = top + plot_h + 24.0,
        xn = escape(x_name),
    );
    let points: Vec<String> = values
        .iter()
        .enumerate()
        .filter(|(_, v)| v.is_finite())
        .map(|(i, &v)| format!("{:.1},{:.1}", x(i), y(v)))
        .collect();
    let _ = write!(
        s,
        r##"<polyline fill="none" stroke="#2b6cb0" stroke-width="2" points="{}"/>"##,
        points.join(" ")
    );
    for m in marks.iter().filter(|m| m.value.is_finite()) {
        let _ = write!(
            s,
            r#"<line x1="{left}" y1="{yy:.1}" x2="{r}" y2="{yy:.1}" stroke="{c}" stroke-dasharray="6 4"/><text x="{tx}" y="{ty:.1}" class="val" fill="{c}">{n} {v:.3}</text>"#,
            yy = y(m.value),
            r = left + plot_w,
            c = m.color,
            tx = left + plot_w + 6.0,
            ty = y(m.value) + 4.0,
            n = escape(m.name),
            v = m.value,
        );
    }
    s.push_str("</svg>");
    s
}

fn open(height: f64) -> String {
    format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height:.0}" viewBox="0 0 {WIDTH} {height:.0}" role="img">"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fmt::num;

    #[test]
    fn funnel_writes_kept_and_dropped_counts() {
        let rows = [
            FunnelRow { label: "src".into(), input: 1000, output: 1000 },
            FunnelRow { label: "len <x>".into(), input: 1000, output: 750 },
        ];
        let svg = funnel(&rows, num);
        assert!(svg.contains(">1,000<"), "{svg}");
        assert!(svg.contains(">750 \u{2212}250<"), "{svg}");
        assert!(svg.contains("len &lt;x&gt;"), "labels are escaped: {svg}");
        assert_eq!(svg.matches("<rect").count(), 4);
    }

    #[test]
    fn bars_scale_to_the_largest_value() {
        let bars = [
            Bar { label: "a".into(), value: 10.0, text: "10".into() },
            Bar { label: "b".into(), value: 5.0, text: "5".into() },
        ];
        let svg = hbars(&bars, "red");
        assert!(svg.contains(r#"width="280.0""#), "{svg}");
        assert!(svg.contains(r#"width="140.0""#), "{svg}");
    }

    #[test]
    fn columns_and_lines_survive_empty_and_flat_data() {
        let svg =
            columns(&[], &[Series { name: "x", color: "red", values: vec![] }], |v| format!("{v}"));
        assert!(svg.ends_with("</svg>"));
        let svg = line(&[2.0, 2.0], &[], "step");
        assert!(!svg.contains("NaN"), "{svg}");
        let svg = line(&[], &[Mark { value: 1.0, color: "red", name: "m" }], "step");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }
}
