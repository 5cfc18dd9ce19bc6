//! Variable templates: `"{branch}-{commit_short}"` rendered over a change.

use std::borrow::Cow;

/// CodePipeline's limit on a variable value, in characters.
pub const MAX_VALUE_CHARS: usize = 1000;

/// A placeholder a template may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Provider,
    Event,
    Repository,
    Ref,
    Branch,
    Tag,
    Commit,
    CommitShort,
    Author,
    Message,
    PrNumber,
    PrAction,
    SourceBranch,
    TargetBranch,
    Delivery,
    CloneUrl,
    Bucket,
    Key,
    VersionId,
    Etag,
    EventId,
}

/// Which kind of trigger a template belongs to; each has its own placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Git,
    S3,
}

const GIT_FIELDS: &[(&str, Field)] = &[
    ("provider", Field::Provider),
    ("event", Field::Event),
    ("repository", Field::Repository),
    ("ref", Field::Ref),
    ("branch", Field::Branch),
    ("tag", Field::Tag),
    ("commit", Field::Commit),
    ("commit_short", Field::CommitShort),
    ("author", Field::Author),
    ("message", Field::Message),
    ("pr_number", Field::PrNumber),
    ("pr_action", Field::PrAction),
    ("source_branch", Field::SourceBranch),
    ("target_branch", Field::TargetBranch),
    ("delivery", Field::Delivery),
    ("clone_url", Field::CloneUrl),
];

const S3_FIELDS: &[(&str, Field)] = &[
    ("bucket", Field::Bucket),
    ("key", Field::Key),
    ("version_id", Field::VersionId),
    ("etag", Field::Etag),
    ("event_id", Field::EventId),
];

impl Source {
    fn fields(self) -> &'static [(&'static str, Field)] {
        match self {
            Source::Git => GIT_FIELDS,
            Source::S3 => S3_FIELDS,
        }
    }

    fn names(self) -> String {
        self.fields().iter().map(|(n, _)| format!("{{{n}}}")).collect::<Vec<_>>().join(" ")
    }
}

/// Something a template can be rendered over.
pub trait Fields {
    fn field(&self, field: Field) -> Cow<'_, str>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Field(Field),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    segments: Vec<Segment>,
}

/// A template that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("unknown placeholder {{{name}}}; known: {known}")]
    Unknown { name: String, known: String },
    #[error("unclosed '{{' at byte {0} (write '{{{{' for a literal brace)")]
    Unclosed(usize),
    #[error("unmatched '}}' at byte {0} (write '}}}}' for a literal brace)")]
    Unmatched(usize),
}

impl Template {
    /// Parses `text` for a trigger of kind `source`; `{{` and `}}` are literal braces.
    pub fn parse(text: &str, source: Source) -> Result<Self, TemplateError> {
        let mut segments = Vec::new();
        let mut literal = String::new();
        let mut rest = text.char_indices().peekable();
        while let Some((at, c)) = rest.next() {
            match c {
                '{' if rest.peek().map(|p| p.1) == Some('{') => {
                    rest.next();
                    literal.push('{');
                }
                '}' if rest.peek().map(|p| p.1) == Some('}') => {
                    rest.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::Unmatched(at)),
                '{' => {
                    let close = text[at..].find('}').ok_or(TemplateError::Unclosed(at))?;
                    let name = &text[at + 1..at + close];
                    let field = source
                        .fields()
                        .iter()
                        .find(|(n, _)| *n == name)
                        .map(|(_, f)| *f)
                        .ok_or_else(|| TemplateError::Unknown { name: name.to_owned(), known: source.names() })?;
                    if !literal.is_empty() {
                        segments.push(Segment::Literal(std::mem::take(&mut literal)));
                    }
                    segments.push(Segment::Field(field));
                    while rest.peek().is_some_and(|(i, _)| *i <= at + close) {
                        rest.next();
                    }
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            segments.push(Segment::Literal(literal));
        }
        Ok(Self { segments })
    }

    /// Renders over `fields`, cut to CodePipeline's limit at a character boundary.
    pub fn render(&self, fields: &dyn Fields) -> String {
        let mut out = String::new();
        for segment in &self.segments {
            match segment {
                Segment::Literal(text) => out.push_str(text),
                Segment::Field(field) => out.push_str(&fields.field(*field)),
            }
        }
        truncate_chars(&out, MAX_VALUE_CHARS).to_owned()
    }
}

impl Template {
    /// Renders over `fields` like [`Template::render`], or names the first placeholder that
    /// renders empty (a group key missing a part would merge unrelated changes).
    pub fn render_whole(&self, fields: &dyn Fields, source: Source) -> Result<String, &'static str> {
        for segment in &self.segments {
            if let Segment::Field(field) = segment {
                if fields.field(*field).is_empty() {
                    let name = source.fields().iter().find(|(_, f)| f == field).map_or("?", |(n, _)| *n);
                    return Err(name);
                }
            }
        }
        Ok(self.render(fields))
    }
}

/// The longest prefix of `text` with at most `max` characters.
pub fn truncate_chars(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

/// The first line of `text`.
pub fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim_end()
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;
    impl Fields for Fake {
        fn field(&self, field: Field) -> Cow<'_, str> {
            match field {
                Field::Branch => "main".into(),
                Field::Commit => "abc".into(),
                Field::Message => "é".repeat(1500).into(),
                _ => "".into(),
            }
        }
    }

    #[test]
    fn renders_placeholders_and_literals() {
        let t = Template::parse("{branch}-{commit} {{x}}", Source::Git).unwrap();
        assert_eq!(t.render(&Fake), "main-abc {x}");
        assert_eq!(Template::parse("{tag}", Source::Git).unwrap().render(&Fake), "");
    }

    #[test]
    fn cuts_at_a_character_boundary() {
        let out = Template::parse("{message}", Source::Git).unwrap().render(&Fake);
        assert_eq!(out.chars().count(), MAX_VALUE_CHARS);
        assert!(out.chars().all(|c| c == 'é'));
    }

    #[test]
    fn rejects_unknown_and_malformed() {
        let err = Template::parse("{brnch}", Source::Git).unwrap_err();
        assert!(err.to_string().starts_with("unknown placeholder {brnch}"), "{err}");
        assert!(matches!(Template::parse("{key}", Source::Git), Err(TemplateError::Unknown { .. })));
        assert!(Template::parse("{key}", Source::S3).is_ok());
        assert_eq!(Template::parse("a{branch", Source::Git), Err(TemplateError::Unclosed(1)));
        assert_eq!(Template::parse("a}", Source::Git), Err(TemplateError::Unmatched(1)));
    }

    #[test]
    fn first_lines() {
        assert_eq!(first_line("fix: a\n\nbody"), "fix: a");
        assert_eq!(first_line(""), "");
    }
}
