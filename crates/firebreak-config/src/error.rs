//! The errors a configuration file can have, each with file, line, column and key path.
//!
//! [`ConfigErrors`] prints one line per problem (`firebreak.yaml:12:5: key: message`) and
//! is also a [`miette::Diagnostic`] that shows each problem under the offending source line.

use std::fmt;
use std::sync::Arc;

use miette::{Diagnostic, LabeledSpan, NamedSource, SourceCode};

/// One problem in a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The file name as given to [`crate::parse`] or the path given to [`crate::load`].
    pub file: String,
    /// 1-based line; 0 when the problem has no position (e.g. the file could not be read).
    pub line: u64,
    /// 1-based column; 0 when the problem has no position.
    pub column: u64,
    /// Where in the document, e.g. `severities[1].update_every`; empty for the whole file.
    pub path: String,
    /// What is wrong and what was expected.
    pub message: String,
    /// Byte offset and length in the source, when known, for pretty rendering.
    pub(crate) span: Option<(usize, usize)>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.file)?;
        if self.line > 0 {
            write!(f, ":{}:{}", self.line, self.column)?;
        }
        f.write_str(": ")?;
        if !self.path.is_empty() {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Diagnostic for ConfigError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("firebreak::config"))
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        let (offset, len) = self.span?;
        let label = if self.path.is_empty() {
            "here".to_string()
        } else {
            self.path.clone()
        };
        Some(Box::new(std::iter::once(LabeledSpan::new(
            Some(label),
            offset,
            len,
        ))))
    }
}

/// Every problem found in a configuration file, in document order.
#[derive(Debug, Clone)]
pub struct ConfigErrors {
    errors: Vec<ConfigError>,
    source: Arc<NamedSource<String>>,
}

impl ConfigErrors {
    pub(crate) fn new(file_name: &str, source: &str, mut errors: Vec<ConfigError>) -> Self {
        errors.sort_by_key(|e| (e.line, e.column));
        ConfigErrors {
            errors,
            source: Arc::new(NamedSource::new(file_name, source.to_string())),
        }
    }

    /// The problems, ordered by line and column. Never empty.
    pub fn errors(&self) -> &[ConfigError] {
        &self.errors
    }

    pub fn len(&self) -> usize {
        self.errors.len()
    }

    /// Always false: a `ConfigErrors` holds at least one error.
    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.errors.iter()
    }

    /// Renders every problem with the offending source lines, for a terminal.
    pub fn render_pretty(&self) -> String {
        let mut out = String::new();
        let handler =
            miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor());
        // Writing to a String cannot fail.
        let _ = handler.render_report(&mut out, &Pretty(self));
        out
    }
}

/// [`ConfigErrors`] with a one-line summary as its message, so the pretty report
/// does not repeat every problem above the source snippets.
#[derive(Debug)]
struct Pretty<'a>(&'a ConfigErrors);

impl fmt::Display for Pretty<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.errors.len();
        let s = if n == 1 { "" } else { "s" };
        write!(f, "{n} problem{s} in {}", self.0.source.name())
    }
}

impl std::error::Error for Pretty<'_> {}

impl Diagnostic for Pretty<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.0.code()
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        self.0.source_code()
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        self.0.related()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;
    fn into_iter(self) -> Self::IntoIter {
        self.errors.iter()
    }
}

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigErrors {}

impl Diagnostic for ConfigErrors {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new("firebreak::config"))
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(format!(
            "{} problem(s) in {}; fix them and reload",
            self.errors.len(),
            self.source.name()
        )))
    }

    fn source_code(&self) -> Option<&dyn SourceCode> {
        Some(self.source.as_ref())
    }

    fn related<'a>(&'a self) -> Option<Box<dyn Iterator<Item = &'a dyn Diagnostic> + 'a>> {
        Some(Box::new(self.errors.iter().map(|e| e as &dyn Diagnostic)))
    }
}
