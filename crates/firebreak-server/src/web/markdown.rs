//! A postmortem section's Markdown as the postmortem page shows it: the small part of
//! CommonMark and GitHub's tables that postmortems use (paragraphs, `###` headings, lists,
//! quotes, the draft's "To fill in" prompts, fenced code, tables, `**strong**`, `*emphasis*`,
//! `` `code` `` and links), with the blameless findings marked where they are.
//!
//! It is safe by construction rather than by cleaning: every character of the text is escaped,
//! raw HTML is shown as text, and a link is made only to `http:`, `https:` or `mailto:`. Marks
//! travel through the parse as private-use characters placed at the findings' character
//! offsets (the text's own private-use characters are replaced first), and become `<mark>`
//! elements last, closed and reopened at each block's edge so the markup stays balanced.

use std::fmt::Write;

/// The prefix of a prompt line (`> **To fill in:** ...`), as the domain writes it.
use firebreak_domain::postmortem::PROMPT;

/// Where a mark ends; a mark starts with `MARK_BASE + its index`.
const MARK_END: char = '\u{E000}';
const MARK_BASE: u32 = 0xE001;
/// The most marks one section gets; later findings are listed but not marked.
const MAX_MARKS: usize = 1024;

/// A phrase to mark: character offsets into the Markdown, and the note its `title` shows.
pub struct Mark<'a> {
    pub start: usize,
    pub end: usize,
    pub note: &'a str,
}

fn is_sentinel(c: char) -> bool {
    c == MARK_END || (MARK_BASE..MARK_BASE + MAX_MARKS as u32).contains(&(c as u32))
}

fn mark_index(c: char) -> Option<usize> {
    let n = c as u32;
    (MARK_BASE..MARK_BASE + MAX_MARKS as u32)
        .contains(&n)
        .then(|| (n - MARK_BASE) as usize)
}

fn escape_into(out: &mut String, c: char) {
    match c {
        '&' => out.push_str("&amp;"),
        '<' => out.push_str("&lt;"),
        '>' => out.push_str("&gt;"),
        '"' => out.push_str("&quot;"),
        '\'' => out.push_str("&#39;"),
        c => out.push(c),
    }
}

/// Escapes text for HTML (and XML) content and attribute values.
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        escape_into(&mut out, c);
    }
    out
}

/// The text with each mark's start and end put in as sentinels. Marks that overlap one already
/// placed, or reach past the text, are left out.
fn with_sentinels(markdown: &str, marks: &[Mark<'_>]) -> String {
    let mut order: Vec<usize> = (0..marks.len().min(MAX_MARKS)).collect();
    order.sort_by_key(|&i| (marks[i].start, marks[i].end));
    let len = markdown.chars().count();
    let mut starts = std::collections::BTreeMap::new();
    let mut ends = std::collections::BTreeSet::new();
    let mut reached = 0;
    for i in order {
        let m = &marks[i];
        if m.start < reached || m.start >= m.end || m.end > len {
            continue;
        }
        starts.insert(m.start, i);
        ends.insert(m.end);
        reached = m.end;
    }
    let mut out = String::with_capacity(markdown.len() + marks.len() * 6);
    for (at, c) in markdown.chars().enumerate() {
        if ends.contains(&at) {
            out.push(MARK_END);
        }
        if let Some(i) = starts.get(&at) {
            out.push(char::from_u32(MARK_BASE + *i as u32).unwrap_or(MARK_END));
        }
        // The text's own private-use characters would read as marks.
        out.push(if is_sentinel(c) { '\u{FFFD}' } else { c });
    }
    if ends.contains(&len) {
        out.push(MARK_END);
    }
    out
}

/// Turns the sentinels of one block's HTML into `<mark>` elements, reopening a mark the block
/// before left open and closing whatever is open at the block's end.
fn marks_in(html: &str, open: &mut Option<usize>, marks: &[Mark<'_>]) -> String {
    let tag = |i: usize| {
        format!(
            "<mark title=\"{}\">",
            escape(marks.get(i).map_or("", |m| m.note))
        )
    };
    let mut out = String::with_capacity(html.len() + 16);
    if let Some(i) = *open {
        out.push_str(&tag(i));
    }
    for c in html.chars() {
        if c == MARK_END {
            if open.take().is_some() {
                out.push_str("</mark>");
            }
        } else if let Some(i) = mark_index(c) {
            if open.is_some() {
                out.push_str("</mark>");
            }
            out.push_str(&tag(i));
            *open = Some(i);
        } else {
            out.push(c);
        }
    }
    if open.is_some() {
        out.push_str("</mark>");
    }
    out
}

/// The section's Markdown as HTML, with `marks` marked.
pub fn render(markdown: &str, marks: &[Mark<'_>]) -> String {
    let text = with_sentinels(markdown, marks);
    let lines: Vec<&str> = text.split('\n').collect();
    let mut out = String::new();
    let mut open = None;
    let mut i = 0;
    while i < lines.len() {
        let (block, next) = block_at(&lines, i);
        i = next.max(i + 1);
        if !block.is_empty() {
            out.push_str(&marks_in(&block, &mut open, marks));
            out.push('\n');
        }
    }
    out
}

/// The text of a line without the sentinels, for telling what kind of line it is.
fn bare(line: &str) -> String {
    line.chars().filter(|c| !is_sentinel(*c)).collect()
}

fn fence_of(line: &str) -> Option<(char, usize)> {
    let t = bare(line);
    let t = t.trim_start();
    let c = t.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = t.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((c, n))
}

fn heading_of(line: &str) -> Option<(usize, &str)> {
    let t = line.trim_start();
    let level = t.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &t[level..];
    (rest.is_empty() || rest.starts_with(' ')).then(|| (level, rest.trim()))
}

/// A list item's marker: whether it is ordered, and the text after it.
fn item_of(line: &str) -> Option<(bool, &str)> {
    let t = line.trim_start();
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = t.strip_prefix(bullet) {
            return Some((false, rest));
        }
    }
    let digits = t.chars().take_while(|c| c.is_ascii_digit()).count();
    if (1..=9).contains(&digits) {
        let rest = &t[digits..];
        if let Some(rest) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some((true, rest));
        }
    }
    None
}

fn is_rule(line: &str) -> bool {
    let t: String = bare(line).chars().filter(|c| !c.is_whitespace()).collect();
    t.len() >= 3 && (t.chars().all(|c| c == '-') || t.chars().all(|c| c == '*'))
}

fn is_table_separator(line: &str) -> bool {
    let t = bare(line);
    let t = t.trim().trim_matches('|');
    !t.is_empty()
        && t.split('|').all(|cell| {
            let c = cell.trim();
            let c = c.strip_prefix(':').unwrap_or(c);
            let c = c.strip_suffix(':').unwrap_or(c);
            !c.is_empty() && c.chars().all(|x| x == '-')
        })
}

/// A table row's cells: split at `|` that is not escaped (`\|`) and not in a code span.
fn cells(line: &str) -> Vec<String> {
    let t = line.trim();
    let t = t.strip_prefix('|').unwrap_or(t);
    let t = if t.ends_with('|') && !t.ends_with("\\|") {
        &t[..t.len() - 1]
    } else {
        t
    };
    let mut out = Vec::new();
    let mut cell = String::new();
    let mut chars = t.chars().peekable();
    let mut ticks = 0;
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek() == Some(&'|') => {
                cell.push('|');
                chars.next();
            }
            '`' => {
                let mut n = 1;
                while chars.peek() == Some(&'`') {
                    chars.next();
                    n += 1;
                }
                cell.push_str(&"`".repeat(n));
                ticks = if ticks == n {
                    0
                } else if ticks == 0 {
                    n
                } else {
                    ticks
                };
            }
            '|' if ticks == 0 => out.push(std::mem::take(&mut cell)),
            c => cell.push(c),
        }
    }
    out.push(cell);
    out
}

/// Whether a line starts a block other than a paragraph, so a paragraph ends before it.
fn starts_block(lines: &[&str], i: usize) -> bool {
    let line = lines[i];
    let b = bare(line);
    fence_of(line).is_some()
        || heading_of(&b).is_some()
        || b.trim_start().starts_with('>')
        || item_of(&b).is_some()
        || is_rule(line)
        || (b.contains('|') && lines.get(i + 1).is_some_and(|n| is_table_separator(n)))
}

/// The block that starts at line `i`, as HTML with sentinels still in, and the line after it.
fn block_at(lines: &[&str], i: usize) -> (String, usize) {
    let line = lines[i];
    let b = bare(line);
    if b.trim().is_empty() {
        return (String::new(), i + 1);
    }
    if let Some((mark, len)) = fence_of(line) {
        let mut j = i + 1;
        let mut code = String::new();
        while j < lines.len() {
            if fence_of(lines[j]).is_some_and(|(m, n)| m == mark && n >= len)
                && bare(lines[j]).trim().chars().all(|c| c == mark)
            {
                j += 1;
                break;
            }
            for c in lines[j].chars() {
                escape_into(&mut code, c);
            }
            code.push('\n');
            j += 1;
        }
        return (format!("<pre><code>{code}</code></pre>"), j);
    }
    if let Some((level, _)) = heading_of(&b) {
        let t = line.trim_start();
        let text = t.trim_start_matches('#').trim();
        // The section's title is the `h2`; its own headings come below it.
        let h = level.clamp(3, 6);
        return (format!("<h{h}>{}</h{h}>", inline(text)), i + 1);
    }
    if is_rule(line) {
        return ("<hr>".into(), i + 1);
    }
    if b.contains('|') && lines.get(i + 1).is_some_and(|n| is_table_separator(n)) {
        return table(lines, i);
    }
    if b.trim_start().starts_with('>') {
        return quote(lines, i);
    }
    if let Some((ordered, _)) = item_of(&b) {
        return list(lines, i, ordered);
    }
    let mut j = i;
    let mut parts = Vec::new();
    while j < lines.len()
        && !bare(lines[j]).trim().is_empty()
        && (j == i || !starts_block(lines, j))
    {
        parts.push(inline(lines[j].trim()));
        j += 1;
    }
    (format!("<p>{}</p>", parts.join("<br>")), j)
}

fn table(lines: &[&str], i: usize) -> (String, usize) {
    let head = cells(lines[i]);
    // The box scrolls sideways on a phone, so it takes the keyboard's focus too.
    let mut out = String::from("<div class=\"md-table\" tabindex=\"0\"><table><thead><tr>");
    for h in &head {
        let _ = write!(out, "<th scope=\"col\">{}</th>", inline(h.trim()));
    }
    out.push_str("</tr></thead><tbody>");
    let mut j = i + 2;
    while j < lines.len() && bare(lines[j]).contains('|') && !bare(lines[j]).trim().is_empty() {
        out.push_str("<tr>");
        let row = cells(lines[j]);
        for k in 0..head.len().max(row.len()) {
            let cell = row.get(k).map(|c| c.trim()).unwrap_or("");
            let _ = write!(out, "<td>{}</td>", inline(cell));
        }
        out.push_str("</tr>");
        j += 1;
    }
    out.push_str("</tbody></table></div>");
    (out, j)
}

fn quote(lines: &[&str], i: usize) -> (String, usize) {
    let strip = |line: &str| {
        let t = line.trim_start();
        let t = t.strip_prefix('>').unwrap_or(t);
        t.strip_prefix(' ').unwrap_or(t).to_string()
    };
    let first = strip(lines[i]);
    // A prompt is a block of its own: each one is a question to answer.
    let prompt_body = PROMPT.trim_start_matches('>').trim_start();
    if bare(&first).starts_with(prompt_body) {
        let rest = first.replacen(prompt_body, "", 1);
        return (
            format!(
                "<p class=\"prompt\"><strong>To fill in:</strong> {}</p>",
                inline(rest.trim())
            ),
            i + 1,
        );
    }
    let mut j = i;
    let mut parts = Vec::new();
    while j < lines.len() && bare(lines[j]).trim_start().starts_with('>') {
        let s = strip(lines[j]);
        if j > i && bare(&s).starts_with(prompt_body) {
            break;
        }
        parts.push(inline(s.trim()));
        j += 1;
    }
    (
        format!("<blockquote><p>{}</p></blockquote>", parts.join("<br>")),
        j,
    )
}

fn list(lines: &[&str], i: usize, ordered: bool) -> (String, usize) {
    let mut items: Vec<String> = Vec::new();
    let mut j = i;
    while j < lines.len() {
        let b = bare(lines[j]);
        if b.trim().is_empty() {
            break;
        }
        // A mark may start right at the marker; the line without it still says what it is.
        let found = item_of(lines[j])
            .or_else(|| item_of(&b))
            .map(|(o, t)| (o, t.trim().to_string()));
        match found {
            Some((o, text)) if o == ordered => items.push(text),
            Some(_) => break,
            // An indented line continues the item above; anything else ends the list.
            None if lines[j].starts_with([' ', '\t']) && !items.is_empty() => {
                if let Some(last) = items.last_mut() {
                    last.push(' ');
                    last.push_str(lines[j].trim());
                }
            }
            None => break,
        }
        j += 1;
    }
    let tag = if ordered { "ol" } else { "ul" };
    let mut out = format!("<{tag}>");
    for item in &items {
        let _ = write!(out, "<li>{}</li>", inline(item));
    }
    let _ = write!(out, "</{tag}>");
    (out, j)
}

/// A link target that may be followed: `http:`, `https:` or `mailto:` and nothing that could
/// end the attribute early (it is escaped anyway).
fn safe_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    (lower.starts_with("https://") || lower.starts_with("http://") || lower.starts_with("mailto:"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_sentinel(c))
}

/// Inline Markdown as HTML: code spans, `**strong**`, `*emphasis*`, links; everything else
/// escaped. Unclosed markers are text.
fn inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len() + 8);
    let mut strong = false;
    let mut em = false;
    let mut i = 0;
    let find = |from: usize, pat: &[char]| -> Option<usize> {
        (from..chars.len().saturating_sub(pat.len() - 1)).find(|&k| chars[k..k + pat.len()] == *pat)
    };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1).is_some_and(|n| n.is_ascii_punctuation()) => {
                escape_into(&mut out, chars[i + 1]);
                i += 2;
            }
            '`' => {
                let n = chars[i..].iter().take_while(|x| **x == '`').count();
                let ticks = vec!['`'; n];
                let close = (i + n..chars.len().saturating_sub(n - 1)).find(|&k| {
                    chars[k..k + n] == *ticks
                        && chars.get(k + n) != Some(&'`')
                        && (k == 0 || chars[k - 1] != '`')
                });
                match close {
                    Some(k) => {
                        let inner: String = chars[i + n..k].iter().collect();
                        let inner =
                            if inner.len() > 2 && inner.starts_with(' ') && inner.ends_with(' ') {
                                &inner[1..inner.len() - 1]
                            } else {
                                inner.as_str()
                            };
                        let _ = write!(out, "<code>{}</code>", escape(inner));
                        i = k + n;
                    }
                    None => {
                        out.push_str(&"`".repeat(n));
                        i += n;
                    }
                }
            }
            '*' if chars.get(i + 1) == Some(&'*') => {
                if strong {
                    out.push_str("</strong>");
                    strong = false;
                } else if find(i + 2, &['*', '*']).is_some()
                    && chars.get(i + 2).is_some_and(|n| !n.is_whitespace())
                {
                    out.push_str("<strong>");
                    strong = true;
                } else {
                    out.push_str("**");
                }
                i += 2;
            }
            '*' => {
                if em {
                    out.push_str("</em>");
                    em = false;
                } else if find(i + 1, &['*']).is_some()
                    && chars.get(i + 1).is_some_and(|n| !n.is_whitespace())
                {
                    out.push_str("<em>");
                    em = true;
                } else {
                    out.push('*');
                }
                i += 1;
            }
            '[' => match link_at(&chars, i) {
                Some((text, url, next)) if safe_url(&url) => {
                    let _ = write!(
                        out,
                        "<a href=\"{}\" rel=\"noopener noreferrer\">{}</a>",
                        escape(&url),
                        inline(&text)
                    );
                    i = next;
                }
                _ => {
                    out.push('[');
                    i += 1;
                }
            },
            c => {
                escape_into(&mut out, c);
                i += 1;
            }
        }
    }
    if em {
        out.push_str("</em>");
    }
    if strong {
        out.push_str("</strong>");
    }
    out
}

/// `[text](url)` at `i`: its text, its target, and where it ends.
fn link_at(chars: &[char], i: usize) -> Option<(String, String, usize)> {
    let mut depth = 0;
    let mut k = i;
    let close = loop {
        match chars.get(k)? {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    break k;
                }
            }
            _ => {}
        }
        k += 1;
    };
    if chars.get(close + 1) != Some(&'(') {
        return None;
    }
    let end = (close + 2..chars.len()).find(|&k| chars[k] == ')')?;
    let text: String = chars[i + 1..close].iter().collect();
    let url: String = chars[close + 2..end].iter().collect();
    Some((text, url.trim().to_string(), end + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn md(s: &str) -> String {
        render(s, &[])
    }

    #[test]
    fn text_and_raw_html_are_escaped() {
        let html = md("<script>alert(1)</script> & <img src=x onerror=alert(2)>");
        assert!(
            !html.contains("<script") && !html.contains("<img"),
            "{html}"
        );
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;img"));
        let html = md("**<b>bold</b>** `<i>` [<x>](https://example.com/\"onmouseover=\"x)");
        assert!(!html.contains("<b>") && !html.contains("<i>") && !html.contains("<x>"));
        assert!(!html.contains("\"onmouseover"), "{html}");
    }

    #[test]
    fn only_web_and_mail_links_are_links() {
        let html = md(
            "[ok](https://example.com/a?b=1&c=2) [bad](javascript:alert(1)) [data](data:text/html,x)",
        );
        assert!(
            html.contains(
                "<a href=\"https://example.com/a?b=1&amp;c=2\" rel=\"noopener noreferrer\">ok</a>"
            ),
            "{html}"
        );
        assert!(
            !html.contains("href=\"javascript") && !html.contains("href=\"data"),
            "{html}"
        );
        assert!(html.contains("[bad](javascript:alert(1))"), "{html}");
    }

    #[test]
    fn the_drafts_blocks_render() {
        let html = md(
            "**Severity:** SEV1\n**Services:** checkout\n\n> **To fill in:** What did customers see?\n\n### Notes\n\n- one *two*\n- `three`\n\n| Time | What |\n|---|---|\n| 10:00 | deploy \\| v42 |\n| 10:05 | `a|b` |\n\n```\n<raw> **not bold**\n```",
        );
        assert!(
            html.contains(
                "<p><strong>Severity:</strong> SEV1<br><strong>Services:</strong> checkout</p>"
            ),
            "{html}"
        );
        assert!(
            html.contains(
                "<p class=\"prompt\"><strong>To fill in:</strong> What did customers see?</p>"
            ),
            "{html}"
        );
        assert!(html.contains("<h3>Notes</h3>"), "{html}");
        assert!(
            html.contains("<ul><li>one <em>two</em></li><li><code>three</code></li></ul>"),
            "{html}"
        );
        assert!(
            html.contains("<th scope=\"col\">Time</th>") && html.contains("<td>deploy | v42</td>"),
            "{html}"
        );
        assert!(html.contains("<td><code>a|b</code></td>"), "{html}");
        assert!(
            html.contains("<pre><code>&lt;raw&gt; **not bold**\n</code></pre>"),
            "{html}"
        );
    }

    #[test]
    fn unclosed_markers_stay_text() {
        assert_eq!(md("2 * 3 = 6 and **half"), "<p>2 * 3 = 6 and **half</p>\n");
        assert_eq!(md("a ` tick"), "<p>a ` tick</p>\n");
    }

    #[test]
    fn marks_sit_at_character_offsets_and_stay_balanced() {
        let text = "Café: it was **human error** again.";
        let start = text.chars().position(|c| c == 'h').unwrap();
        let marks = [Mark {
            start,
            end: start + 11,
            note: "blames \"people\"",
        }];
        let html = render(text, &marks);
        assert!(
            html.contains(
                "<strong><mark title=\"blames &quot;people&quot;\">human error</mark></strong>"
            ),
            "{html}"
        );
        // A mark across a paragraph break is closed and reopened.
        let text = "human\n\nerror";
        let html = render(
            text,
            &[Mark {
                start: 0,
                end: 12,
                note: "n",
            }],
        );
        assert_eq!(html.matches("<mark").count(), 2, "{html}");
        assert_eq!(html.matches("</mark>").count(), 2, "{html}");
        // The text's own private-use characters cannot open a mark.
        let html = render("a \u{E001}b\u{E000}", &[]);
        assert!(!html.contains("<mark"), "{html}");
        // Out of range and overlapping marks are dropped.
        let marks = [
            Mark {
                start: 0,
                end: 4,
                note: "",
            },
            Mark {
                start: 2,
                end: 6,
                note: "",
            },
            Mark {
                start: 5,
                end: 99,
                note: "",
            },
        ];
        let html = render("abcdefg", &marks);
        assert_eq!(html, "<p><mark title=\"\">abcd</mark>efg</p>\n");
    }
}
