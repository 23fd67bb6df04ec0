//! Refreshing a draft: the facts Firebreak filled in move on with the incident (mitigated,
//! resolved, more timeline), and what people wrote never does.
//!
//! A section is Firebreak's while its text is exactly what Firebreak last generated for it:
//! the draft (the first version), or a later refresh that replaced it. Only those sections are
//! regenerated; a section anyone changed, even by one character, is theirs and is kept as it
//! is. What Firebreak last generated is read back from the saved versions, so no text is
//! stored twice.

use std::collections::BTreeMap;

use super::Section;

/// One saved version, oldest first: whether Firebreak generated it (the draft, or a refresh)
/// and its sections.
#[derive(Debug, Clone, Copy)]
pub struct Saved<'a> {
    pub generated: bool,
    pub sections: &'a [Section],
}

/// What Firebreak last generated for each section, replaying `history` (every saved version,
/// oldest first; the first is the draft). A refresh regenerated a section only when its text
/// before the refresh was still what Firebreak had generated, so only then does its text count
/// as generated.
pub fn last_generated(history: &[Saved<'_>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = history.split_first() else {
        return BTreeMap::new();
    };
    let mut generated: BTreeMap<String, String> = first
        .sections
        .iter()
        .map(|s| (s.key.clone(), s.markdown.clone()))
        .collect();
    let mut before = first.sections;
    for saved in rest {
        if saved.generated {
            for s in saved.sections {
                let untouched = before
                    .iter()
                    .find(|b| b.key == s.key)
                    .is_some_and(|b| generated.get(&b.key) == Some(&b.markdown));
                if untouched {
                    generated.insert(s.key.clone(), s.markdown.clone());
                }
            }
        }
        before = saved.sections;
    }
    generated
}

/// The sections of `history`'s last version with Firebreak's own sections replaced by `fresh`
/// (a new draft from the record as it is now), and the keys of those that changed, in order.
/// A section someone edited is kept as it is; a section `fresh` does not have is kept too.
pub fn refresh(history: &[Saved<'_>], fresh: &[Section]) -> (Vec<Section>, Vec<String>) {
    let Some(last) = history.last() else {
        return (Vec::new(), Vec::new());
    };
    let generated = last_generated(history);
    let mut changed = Vec::new();
    let sections = last
        .sections
        .iter()
        .map(|s| {
            let ours = generated.get(&s.key) == Some(&s.markdown);
            match fresh.iter().find(|f| f.key == s.key) {
                Some(f) if ours && f.markdown != s.markdown => {
                    changed.push(s.key.clone());
                    Section {
                        markdown: f.markdown.clone(),
                        ..s.clone()
                    }
                }
                _ => s.clone(),
            }
        })
        .collect();
    (sections, changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sections(texts: &[(&'static str, &str)]) -> Vec<Section> {
        texts
            .iter()
            .map(|&(k, t)| Section::new(k, t.to_string()))
            .collect()
    }

    fn saved(generated: bool, s: &[Section]) -> Saved<'_> {
        Saved {
            generated,
            sections: s,
        }
    }

    #[test]
    fn only_untouched_sections_are_refreshed() {
        let draft = sections(&[
            ("summary", "Duration: still open"),
            ("impact", "Resolved: not recorded"),
            ("timeline", "rows"),
        ]);
        // Someone filled in the summary.
        let edited = sections(&[
            ("summary", "Duration: still open\n\nWe lost the cache."),
            ("impact", "Resolved: not recorded"),
            ("timeline", "rows"),
        ]);
        let fresh = sections(&[
            ("summary", "Duration: 1h"),
            ("impact", "Resolved: 04:00"),
            ("timeline", "rows"),
        ]);
        let history = [saved(true, &draft), saved(false, &edited)];
        let (out, changed) = refresh(&history, &fresh);
        assert_eq!(changed, ["impact"]);
        assert_eq!(
            out[0].markdown,
            "Duration: still open\n\nWe lost the cache."
        );
        assert_eq!(out[1].markdown, "Resolved: 04:00");
        assert_eq!(out[2].markdown, "rows");
    }

    #[test]
    fn a_refreshed_section_stays_firebreaks_and_an_edited_one_stays_theirs() {
        let draft = sections(&[("impact", "v1"), ("summary", "s1")]);
        // A person edits the summary, then a refresh replaces only the impact.
        let edited = sections(&[("impact", "v1"), ("summary", "mine")]);
        let refreshed = sections(&[("impact", "v2"), ("summary", "mine")]);
        let history = [
            saved(true, &draft),
            saved(false, &edited),
            saved(true, &refreshed),
        ];
        let generated = last_generated(&history);
        assert_eq!(generated["impact"], "v2");
        assert_eq!(generated["summary"], "s1");
        let (out, changed) = refresh(&history, &sections(&[("impact", "v3"), ("summary", "s3")]));
        assert_eq!(changed, ["impact"]);
        assert_eq!(out[0].markdown, "v3");
        assert_eq!(out[1].markdown, "mine");
        // A person's text that happens to equal the fresh text changes nothing.
        let (_, changed) = refresh(
            &history,
            &sections(&[("impact", "v2"), ("summary", "mine")]),
        );
        assert!(changed.is_empty());
    }

    #[test]
    fn a_section_edited_after_a_refresh_is_kept() {
        let draft = sections(&[("impact", "v1")]);
        let refreshed = sections(&[("impact", "v2")]);
        let edited = sections(&[("impact", "v2 and what customers saw")]);
        let history = [
            saved(true, &draft),
            saved(true, &refreshed),
            saved(false, &edited),
        ];
        let (out, changed) = refresh(&history, &sections(&[("impact", "v3")]));
        assert!(changed.is_empty());
        assert_eq!(out[0].markdown, "v2 and what customers saw");
    }
}
