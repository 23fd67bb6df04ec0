//! The reports page's charts, drawn on the server as SVG: no script, no chart library, nothing
//! from a CDN, and the page's strict CSP still holds (colours come from classes in `app.css`,
//! never from inline styles, so dark mode follows the system like every other page).
//!
//! Each chart is one `<svg role="img">` with a `<title>` and a `<desc>` that reads out every
//! value, and a `<title>` on each bar and point for a pointer to hover. Every text in it is
//! escaped here, and every coordinate is a finite number: a missing or non-finite value is a
//! gap, never `NaN` in the output.

use std::fmt::Write;

/// The drawing's coordinate space; the SVG scales to its box.
const WIDTH: f64 = 440.0;
const HEIGHT: f64 = 240.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = WIDTH - 10.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = HEIGHT - 30.0;
/// At most this many labels under the x axis; the others are left out (every bar and point
/// still has its own title).
const MAX_X_LABELS: usize = 6;

/// One series: a label for the legend, the class that colours it (`c-...`), and one value per
/// x position (`None` where there is nothing to show).
pub struct Series {
    pub label: String,
    pub class: String,
    pub values: Vec<Option<f64>>,
}

/// A legend entry, for the page to list beside the chart.
pub struct Legend {
    pub label: String,
    pub class: String,
}

/// A drawn chart: the SVG markup (escaped; safe to put in the page as is) and its legend.
pub struct Chart {
    pub svg: String,
    pub legend: Vec<Legend>,
}

/// What a chart is about: its element id (unique on the page), title, the unit of its values
/// (`min`, `%`, `incidents`) and the labels of its x positions.
pub struct Frame<'a> {
    pub id: &'a str,
    pub title: &'a str,
    pub unit: &'a str,
    pub x_labels: &'a [String],
}

use super::markdown::escape;

/// A class name as given, keeping only what a class may hold here (`a-z`, `0-9`, `-`).
fn class(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-')
        .collect()
}

/// A value that may be drawn: finite and not below zero.
fn drawable(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite()).map(|v| v.max(0.0))
}

/// A coordinate as written: one decimal, and never `NaN` or infinite.
fn coord(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.1}")
    } else {
        "0".into()
    }
}

/// A value as a person reads it: whole numbers without decimals, others with up to two.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return "–".into();
    }
    if (v - v.round()).abs() < 1e-9 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// The y axis: a top at or above `max` and a step that divides it into at most five round
/// parts (1, 2 or 5 times a power of ten; whole steps when `whole`). An empty or zero range
/// still gets an axis from 0 to 1.
fn scale(max: f64, whole: bool) -> (f64, f64) {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        return (1.0, if whole { 1.0 } else { 0.25 });
    };
    let raw = max / 4.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let steps: &[f64] = if whole {
        &[1.0, 2.0, 5.0, 10.0]
    } else {
        &[1.0, 2.0, 2.5, 5.0, 10.0]
    };
    let mut step = steps
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * magnitude);
    if whole {
        step = step.ceil().max(1.0);
    }
    let top = (max / step).ceil() * step;
    (top.max(step), step)
}

/// The x positions' centres and the width of each band.
fn bands(n: usize) -> (f64, Vec<f64>) {
    let band = (RIGHT - LEFT) / n.max(1) as f64;
    let centres = (0..n).map(|i| LEFT + band * (i as f64 + 0.5)).collect();
    (band, centres)
}

fn y_of(v: f64, top: f64) -> f64 {
    let y = BOTTOM - (v / top) * (BOTTOM - TOP);
    if y.is_finite() {
        y.clamp(TOP, BOTTOM)
    } else {
        BOTTOM
    }
}

/// The opening of a chart: the root element, its title and description, the unit and the
/// horizontal grid with the y axis' labels.
fn open(frame: &Frame<'_>, desc: &str, top: f64, step: f64) -> String {
    let id = class(frame.id);
    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg class="chart" id="{id}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{id}-t {id}-d" xmlns="http://www.w3.org/2000/svg"><title id="{id}-t">{}</title><desc id="{id}-d">{}</desc>"#,
        escape(frame.title),
        escape(desc)
    );
    let _ = write!(
        s,
        r#"<text class="unit" x="4" y="14">{}</text>"#,
        escape(frame.unit)
    );
    let ticks = (top / step).round().clamp(1.0, 20.0) as usize;
    for i in 0..=ticks {
        let v = step * i as f64;
        let y = y_of(v, top);
        let _ = write!(
            s,
            r#"<line class="grid" x1="{}" x2="{}" y1="{}" y2="{}"/><text class="tick" x="{}" y="{}" text-anchor="end">{}</text>"#,
            coord(LEFT),
            coord(RIGHT),
            coord(y),
            coord(y),
            coord(LEFT - 6.0),
            coord(y + 4.0),
            escape(&number(v))
        );
    }
    s
}

/// The x axis' line and labels, and the end of the chart.
fn close(mut s: String, frame: &Frame<'_>) -> String {
    let n = frame.x_labels.len();
    let (_, centres) = bands(n);
    let every = n.div_ceil(MAX_X_LABELS).max(1);
    let _ = write!(
        s,
        r#"<line class="axis" x1="{}" x2="{}" y1="{}" y2="{}"/>"#,
        coord(LEFT),
        coord(RIGHT),
        coord(BOTTOM),
        coord(BOTTOM)
    );
    for (i, (label, x)) in frame.x_labels.iter().zip(&centres).enumerate() {
        if i % every == 0 {
            let _ = write!(
                s,
                r#"<text class="tick" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                coord(*x),
                coord(BOTTOM + 18.0),
                escape(label)
            );
        }
    }
    if n == 0 {
        let _ = write!(
            s,
            r#"<text class="none" x="{}" y="{}" text-anchor="middle">No data for this period</text>"#,
            coord((LEFT + RIGHT) / 2.0),
            coord((TOP + BOTTOM) / 2.0)
        );
    }
    s.push_str("</svg>");
    s
}

/// Reads every value out, for the chart's description: `Jan 5: MTTA 4 min, MTTR 62 min.`
fn describe(frame: &Frame<'_>, series: &[Series]) -> String {
    let mut d = String::new();
    for (i, x) in frame.x_labels.iter().enumerate() {
        let values: Vec<String> = series
            .iter()
            .map(|s| match drawable(s.values.get(i).copied().flatten()) {
                Some(v) => format!("{} {} {}", s.label, number(v), frame.unit),
                None => format!("{} none", s.label),
            })
            .collect();
        let _ = write!(d, "{x}: {}. ", values.join(", "));
    }
    if d.is_empty() {
        d.push_str("No data for this period.");
    }
    d.trim_end().to_string()
}

fn legend(series: &[Series]) -> Vec<Legend> {
    series
        .iter()
        .map(|s| Legend {
            label: s.label.clone(),
            class: class(&s.class),
        })
        .collect()
}

/// Lines, one per series, with a dot at each value; a missing value breaks its line.
pub fn lines(frame: &Frame<'_>, series: &[Series]) -> Chart {
    let max = series
        .iter()
        .flat_map(|s| s.values.iter().copied().filter_map(drawable))
        .fold(0.0, f64::max);
    let (top, step) = scale(max, false);
    let mut s = open(frame, &describe(frame, series), top, step);
    let (_, centres) = bands(frame.x_labels.len());
    for line in series {
        let cls = class(&line.class);
        let points: Vec<Option<(f64, f64)>> = centres
            .iter()
            .enumerate()
            .map(|(i, x)| drawable(line.values.get(i).copied().flatten()).map(|v| (*x, v)))
            .collect();
        for run in points.split(|p| p.is_none()).filter(|r| r.len() > 1) {
            let path: Vec<String> = run
                .iter()
                .flatten()
                .map(|(x, v)| format!("{},{}", coord(*x), coord(y_of(*v, top))))
                .collect();
            let _ = write!(
                s,
                r#"<polyline class="line {cls}" points="{}"/>"#,
                path.join(" ")
            );
        }
        for (i, p) in points.iter().enumerate() {
            if let Some((x, v)) = p {
                let _ = write!(
                    s,
                    r#"<circle class="dot {cls}" cx="{}" cy="{}" r="4.5"><title>{}</title></circle>"#,
                    coord(*x),
                    coord(y_of(*v, top)),
                    escape(&format!(
                        "{}: {} {} {}",
                        frame.x_labels.get(i).map(String::as_str).unwrap_or(""),
                        line.label,
                        number(*v),
                        frame.unit
                    ))
                );
            }
        }
    }
    Chart {
        svg: close(s, frame),
        legend: legend(series),
    }
}

/// Bars stacked from the first series up, one stack per x position; a missing value is 0.
/// With one series this is a plain bar chart. `whole` keeps the axis on whole numbers (counts).
pub fn stacked_bars(frame: &Frame<'_>, series: &[Series], whole: bool) -> Chart {
    let n = frame.x_labels.len();
    let totals: Vec<f64> = (0..n)
        .map(|i| {
            series
                .iter()
                .filter_map(|s| drawable(s.values.get(i).copied().flatten()))
                .sum()
        })
        .collect();
    let max = totals.iter().copied().fold(0.0, f64::max);
    bars_to(frame, series, scale(max, whole))
}

/// Bars of one series on an axis from 0 to at least `at_least` (100 for a percentage).
pub fn bars(frame: &Frame<'_>, one: &Series, at_least: f64) -> Chart {
    let max = one
        .values
        .iter()
        .copied()
        .filter_map(drawable)
        .fold(at_least.max(0.0), f64::max);
    bars_to(frame, std::slice::from_ref(one), scale(max, false))
}

fn bars_to(frame: &Frame<'_>, series: &[Series], (top, step): (f64, f64)) -> Chart {
    let mut s = open(frame, &describe(frame, series), top, step);
    let (band, centres) = bands(frame.x_labels.len());
    let width = (band * 0.7).max(1.0);
    for (i, x) in centres.iter().enumerate() {
        let mut base = 0.0;
        for bar in series {
            let Some(v) = drawable(bar.values.get(i).copied().flatten()) else {
                continue;
            };
            if v <= 0.0 {
                continue;
            }
            let (y0, y1) = (y_of(base, top), y_of(base + v, top));
            base += v;
            let _ = write!(
                s,
                r#"<rect class="bar {}" x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>"#,
                class(&bar.class),
                coord(x - width / 2.0),
                coord(y1),
                coord(width),
                coord((y0 - y1).max(0.0)),
                escape(&format!(
                    "{}: {} {} {}",
                    frame.x_labels.get(i).map(String::as_str).unwrap_or(""),
                    bar.label,
                    number(v),
                    frame.unit
                ))
            );
        }
    }
    Chart {
        svg: close(s, frame),
        legend: legend(series),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("W{i}")).collect()
    }

    fn frame<'a>(x: &'a [String]) -> Frame<'a> {
        Frame {
            id: "c",
            title: "Time to acknowledge",
            unit: "min",
            x_labels: x,
        }
    }

    fn series(label: &str, values: Vec<Option<f64>>) -> Series {
        Series {
            label: label.into(),
            class: "c-ack".into(),
            values,
        }
    }

    /// Every number in the markup's attributes parses and is finite.
    fn assert_finite(svg: &str) {
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        for attr in [
            " x=\"",
            " y=\"",
            " x1=\"",
            " y1=\"",
            " width=\"",
            " height=\"",
            " cx=\"",
            " cy=\"",
        ] {
            for (at, _) in svg.match_indices(attr) {
                let rest = &svg[at + attr.len()..];
                let v = &rest[..rest.find('"').unwrap()];
                let v: f64 = v.parse().unwrap_or_else(|_| panic!("{attr}{v} in {svg}"));
                assert!(v.is_finite());
            }
        }
        for (at, _) in svg.match_indices("points=\"") {
            let rest = &svg[at + 8..];
            for pair in rest[..rest.find('"').unwrap()].split(' ') {
                for v in pair.split(',') {
                    assert!(v.parse::<f64>().unwrap().is_finite(), "{pair}");
                }
            }
        }
    }

    #[test]
    fn labels_titles_and_units_are_escaped() {
        let x = vec!["<b>\"Jan\" & 'Feb'</b>".to_string()];
        let f = Frame {
            id: "x\"><script>",
            title: "</title><script>alert(1)</script>",
            unit: "<min>",
            x_labels: &x,
        };
        let one = Series {
            label: "SEV<1>".into(),
            class: "c-sev-0\" onload=\"alert(1)".into(),
            values: vec![Some(2.0)],
        };
        for chart in [
            lines(&f, std::slice::from_ref(&one)),
            stacked_bars(&f, std::slice::from_ref(&one), true),
            bars(&f, &one, 100.0),
        ] {
            let svg = chart.svg;
            assert!(!svg.contains("<script"), "{svg}");
            assert!(!svg.contains("<b>") && !svg.contains("<min>") && !svg.contains("SEV<1>"));
            assert!(svg.contains("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
            assert!(svg.contains("&lt;b&gt;&quot;Jan&quot; &amp; &#39;Feb&#39;&lt;/b&gt;"));
            assert!(
                !svg.contains("onload="),
                "a class cannot carry an attribute: {svg}"
            );
            assert!(svg.contains(r#"id="xscript""#), "{svg}");
            assert_eq!(
                chart.legend[0].label, "SEV<1>",
                "the page's template escapes the legend"
            );
            assert_eq!(chart.legend[0].class, "c-sev-0onloadalert1");
        }
    }

    #[test]
    fn no_points_draws_an_empty_axis_that_says_so() {
        let x = labels(0);
        for svg in [
            lines(&frame(&x), &[series("MTTA", vec![])]).svg,
            stacked_bars(&frame(&x), &[series("SEV1", vec![])], true).svg,
            bars(&frame(&x), &series("CFR", vec![]), 100.0).svg,
        ] {
            assert_finite(&svg);
            assert!(svg.contains("No data for this period"), "{svg}");
            assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
            assert!(svg.contains("role=\"img\"") && svg.contains("<title id=\"c-t\">"));
        }
    }

    #[test]
    fn all_zero_or_missing_values_still_give_a_finite_scale() {
        let x = labels(3);
        let zero = series("MTTA", vec![Some(0.0), None, Some(0.0)]);
        let svg = lines(&frame(&x), std::slice::from_ref(&zero)).svg;
        assert_finite(&svg);
        assert_eq!(svg.matches("<circle").count(), 2, "one dot per value");
        assert!(!svg.contains("<polyline"), "no two values are neighbours");
        let svg = stacked_bars(&frame(&x), &[zero], true).svg;
        assert_finite(&svg);
        assert!(!svg.contains("<rect"), "a zero is no bar");
        assert_eq!(scale(0.0, true), (1.0, 1.0));
        assert_eq!(scale(f64::NAN, false), (1.0, 0.25));
    }

    #[test]
    fn one_point_sits_in_the_middle() {
        let x = labels(1);
        let svg = lines(&frame(&x), &[series("MTTA", vec![Some(7.5)])]).svg;
        assert_finite(&svg);
        let middle = coord((LEFT + RIGHT) / 2.0);
        assert!(svg.contains(&format!("cx=\"{middle}\"")), "{svg}");
        assert!(svg.contains("W0: MTTA 7.5 min"), "the point has its title");
        let svg = bars(&frame(&x), &series("CFR", vec![Some(50.0)]), 100.0).svg;
        assert_finite(&svg);
        // Half of a 0..100 axis.
        let half = coord(y_of(50.0, 100.0));
        assert!(svg.contains(&format!("y=\"{half}\"")), "{svg}");
    }

    #[test]
    fn many_points_break_lines_at_gaps_and_thin_the_labels() {
        let x = labels(52);
        let values = (0..52)
            .map(|i| (i % 10 != 3).then_some(f64::from(i) * 1.5))
            .collect();
        let svg = lines(&frame(&x), &[series("MTTR", values)]).svg;
        assert_finite(&svg);
        assert_eq!(svg.matches("<circle").count(), 52 - 5);
        // Gaps at 3, 13, 23, 33, 43 split the line into six runs.
        assert_eq!(svg.matches("<polyline").count(), 6);
        let shown = x
            .iter()
            .filter(|l| svg.contains(&format!(">{l}</text>")))
            .count();
        assert!((4..=MAX_X_LABELS).contains(&shown), "{shown} labels");
        // The axis reaches the largest value, 76.5.
        let (top, step) = scale(76.5, false);
        assert!(
            (76.5..=100.0).contains(&top) && step == 20.0,
            "{top} {step}"
        );
    }

    #[test]
    fn stacks_add_up_and_bad_values_are_gaps() {
        let x = labels(2);
        let a = Series {
            label: "SEV1".into(),
            class: "c-sev-0".into(),
            values: vec![Some(1.0), Some(f64::NAN)],
        };
        let b = Series {
            label: "SEV2".into(),
            class: "c-sev-1".into(),
            values: vec![Some(3.0), Some(f64::INFINITY)],
        };
        let svg = stacked_bars(&frame(&x), &[a, b], true).svg;
        assert_finite(&svg);
        assert_eq!(svg.matches("<rect").count(), 2, "{svg}");
        // The stack of 1 + 3 reaches 4 on an axis of 0..4 (whole steps of 1).
        assert_eq!(scale(4.0, true), (4.0, 1.0));
        assert!(svg.contains(&format!("y=\"{}\"", coord(TOP))), "{svg}");
        assert!(svg.contains("W0: SEV1 1 min, SEV2 3 min. W1: SEV1 none, SEV2 none."));
    }

    #[test]
    fn numbers_read_plainly() {
        assert_eq!(number(3.0), "3");
        assert_eq!(number(2.5), "2.5");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(1.0 / 3.0), "0.33");
        assert_eq!(number(f64::NAN), "–");
        assert_eq!(scale(7.0, true), (8.0, 2.0));
        assert_eq!(scale(0.3, true), (1.0, 1.0));
        assert_eq!(scale(100.0, false), (100.0, 25.0));
    }
}
