//! Commands from pull request comments: the grammar (docs/commands.md "Commands from the pull request").
//! A comment line that starts with `/herald` is a command, one per line, at most
//! [`MAX_PER_COMMENT`] per comment. Pure: which triggers a name may mean is the caller's to say.
//!
//! Also the reply's Markdown ([`reply`]); `command_executor` carries the commands out.

/// The most commands one comment may hold; the rest are refused, each saying why.
pub const MAX_PER_COMMENT: usize = 5;
/// The longest text of `approve` / `reject` kept (characters): CodePipeline's approval summary
/// holds 512, and the summary also names the person, repository and pull request.
pub const MAX_TEXT_CHARS: usize = 400;

/// What a command asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// Start the triggers, ignoring `paths` and `[skip ci]`, pinned to the head commit.
    Run,
    /// Retry the failed stage of the head commit's latest execution (or start again).
    Retry,
    /// Stop the head commit's running executions.
    Stop,
    Approve,
    Reject,
    /// Let a fork's head commit start the triggers that wait for it (`allow_forks: "on-approval"`).
    OkToTest,
}

impl Verb {
    pub const ALL: [Verb; 6] = [Verb::Run, Verb::Retry, Verb::Stop, Verb::Approve, Verb::Reject, Verb::OkToTest];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Run => "run",
            Self::Retry => "retry",
            Self::Stop => "stop",
            Self::Approve => "approve",
            Self::Reject => "reject",
            Self::OkToTest => "ok-to-test",
        }
    }

    pub fn parse(word: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == word)
    }
}

/// One command, as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub verb: Verb,
    /// The triggers named (empty: every trigger the command applies to).
    pub triggers: Vec<String>,
    /// `approve` / `reject`: the words after the trigger, cut to [`MAX_TEXT_CHARS`].
    pub text: Option<String>,
}

/// A command line, understood or refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    Command(Command),
    /// The line as written (cut), and why nothing will be done for it.
    Refused {
        line: String,
        reason: String,
    },
}

/// The command lines of `body`, in order. `is_trigger(name)` says whether `name` is one of the
/// repository's triggers: `run`, `retry` and `stop` refuse other names; for `approve` and
/// `reject` the first word is a trigger only when it names one, otherwise it is text. Only prose
/// holds commands ([`prose_lines`]): code, HTML comments and `<pre>` blocks, and quoted lines, do
/// not. At most [`MAX_REFUSED_LISTED`] refused lines are listed, then one saying how many more.
pub fn parse(body: &str, is_trigger: impl Fn(&str) -> bool) -> Vec<Line> {
    let mut out = Vec::new();
    let (mut commands, mut refused, mut unlisted) = (0, 0, 0);
    for line in prose_lines(body) {
        let line = line.as_str();
        let Some(rest) = command_rest(line) else { continue };
        let parsed = if commands >= MAX_PER_COMMENT {
            Err(format!("a comment holds at most {MAX_PER_COMMENT} commands"))
        } else {
            one(rest, &is_trigger)
        };
        match parsed {
            Ok(command) => {
                commands += 1;
                out.push(Line::Command(command));
            }
            Err(_) if refused >= MAX_REFUSED_LISTED => unlisted += 1,
            Err(reason) => {
                refused += 1;
                out.push(Line::Refused { line: shown(line), reason });
            }
        }
    }
    if unlisted > 0 {
        out.push(Line::Refused {
            line: "…".into(),
            reason: format!(
                "and {unlisted} more /herald line(s), not read: at most {MAX_REFUSED_LISTED} refusals are listed"
            ),
        });
    }
    out
}

/// The most refused lines one comment's answer lists: a comment of thousands of `/herald` lines
/// must not make thousands of log lines, nor a claim record past DynamoDB's 400 KB.
pub const MAX_REFUSED_LISTED: usize = 5;

/// The lines of `body` that are prose, trimmed: not inside a fenced code block (``` or ~~~, any
/// length, closed by the same character at least as long), not an indented code line (4 spaces
/// or a tab), not inside an HTML comment or a `<pre>` block (text around them on a line stays).
pub fn prose_lines(body: &str) -> Vec<String> {
    let visible = without_hidden(body);
    let mut out = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    for raw in visible.lines() {
        let line = raw.trim();
        if let Some((c, n)) = fence {
            let run = line.chars().take_while(|&x| x == c).count();
            if run >= n && line[run * c.len_utf8()..].trim().is_empty() {
                fence = None;
            }
            continue;
        }
        let indent: usize = raw.chars().take_while(|c| c.is_whitespace()).map(|c| if c == '\t' { 4 } else { 1 }).sum();
        if indent >= 4 {
            continue;
        }
        if let Some(c) = ['`', '~'].into_iter().find(|&c| line.chars().take_while(|&x| x == c).count() >= 3) {
            fence = Some((c, line.chars().take_while(|&x| x == c).count()));
            continue;
        }
        if !line.is_empty() {
            out.push(line.to_owned());
        }
    }
    out
}

/// `body` with its HTML comments and `<pre>` blocks blanked, their line breaks kept (an
/// unclosed one hides the rest).
fn without_hidden(body: &str) -> String {
    let lower = body.to_ascii_lowercase();
    let mut out = String::with_capacity(body.len());
    let mut at = 0;
    while at < body.len() {
        let comment = lower[at..].find("<!--").map(|i| (at + i, "-->"));
        let pre = lower[at..].find("<pre").map(|i| (at + i, "</pre>"));
        let next = match (comment, pre) {
            (Some(c), Some(p)) => Some(if c.0 <= p.0 { c } else { p }),
            (c, p) => c.or(p),
        };
        let Some((open, close)) = next else {
            out.push_str(&body[at..]);
            break;
        };
        out.push_str(&body[at..open]);
        let end = lower[open..].find(close).map_or(body.len(), |i| open + i + close.len());
        out.extend(body[open..end].chars().filter(|&c| c == '\n'));
        at = end;
    }
    out
}

/// What follows `/herald` on a command line; `None` for any other line (`/heraldry` included).
fn command_rest(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("/herald")?;
    (rest.is_empty() || rest.starts_with(char::is_whitespace)).then(|| rest.trim())
}

fn one(rest: &str, is_trigger: &impl Fn(&str) -> bool) -> Result<Command, String> {
    let words: Vec<&str> = rest.split_whitespace().collect();
    let Some((&word, args)) = words.split_first() else {
        return Err(format!("no command after /herald ({})", verbs()));
    };
    let verb = Verb::parse(&word.to_ascii_lowercase())
        .ok_or_else(|| format!("unknown command {:?} ({})", shown(word), verbs()))?;
    match verb {
        Verb::OkToTest if !args.is_empty() => Err("ok-to-test takes no arguments".into()),
        Verb::OkToTest => Ok(Command { verb, triggers: Vec::new(), text: None }),
        Verb::Approve | Verb::Reject => {
            let (triggers, text) = match args.split_first() {
                Some((&first, text)) if is_trigger(first) => (vec![first.to_owned()], text),
                _ => (Vec::new(), args),
            };
            let text = text.join(" ");
            let text = (!text.is_empty()).then(|| crate::template::truncate_chars(&text, MAX_TEXT_CHARS).to_owned());
            Ok(Command { verb, triggers, text })
        }
        Verb::Run | Verb::Retry | Verb::Stop => {
            if let Some(unknown) = args.iter().find(|a| !is_trigger(a)) {
                return Err(format!("no trigger named {:?} for this repository", shown(unknown)));
            }
            let mut triggers: Vec<String> = Vec::new();
            for a in args {
                if !triggers.iter().any(|t| t == a) {
                    triggers.push((*a).to_owned());
                }
            }
            Ok(Command { verb, triggers, text: None })
        }
    }
}

fn verbs() -> String {
    Verb::ALL.map(Verb::as_str).join(", ")
}

/// A line or word as a reply may show it: at most 80 characters.
fn shown(text: &str) -> String {
    crate::template::truncate_chars(text, 80).to_owned()
}

/// What one command did, for the reply and the webhook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    /// The command as written (`/herald retry api`).
    pub command: String,
    /// `started`, `retried`, `stopped`, `approved`, `rejected`, `refused`, `failed`, `nothing`.
    pub outcome: &'static str,
    /// What happened or why not, in words (the answer's `reason`).
    pub what: String,
    pub trigger: Option<String>,
    pub pipeline: Option<String>,
    pub execution_id: Option<String>,
    /// The execution's console page.
    pub link: Option<String>,
    /// A failure worth a retry (AWS or the Git server failed).
    pub transient: bool,
}

/// The reply comment, in Markdown: one row per command. Every cell is Herald's words or escaped:
/// nothing from a comment survives as a link, a mention, HTML or a new column.
pub fn reply(done: &[Done]) -> String {
    let mut out = String::from("| command | what happened | pipeline | link |\n|---|---|---|---|\n");
    for d in done {
        // The link is Herald's own console URL, built from the region and execution id.
        let link =
            d.link.as_deref().map(|l| format!("[execution]({})", l.replace(['|', ' ', ')'], ""))).unwrap_or_default();
        out.push_str(&format!(
            "| {} | {} | {} | {link} |\n",
            code_cell(&d.command),
            cell(&d.what),
            cell(d.pipeline.as_deref().unwrap_or_default())
        ));
    }
    out
}

/// Text safe inside a Markdown table cell: one line, every character Markdown or GitHub gives a
/// meaning to (links, emphasis, mentions, autolinks, HTML, column separators) escaped.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '(' | ')' | '!' | '#' | '|' | '~' | '@' | ':' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A command as written, as code in a table cell: no backtick to end it early, and its pipes
/// escaped (GitHub splits a table row at a pipe even inside code).
fn code_cell(text: &str) -> String {
    let one_line = text.replace(['\n', '\r'], " ").replace('`', "'");
    format!("`{}`", one_line.replace('|', "\\|"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn triggers(name: &str) -> bool {
        matches!(name, "api" | "web")
    }

    fn commands(body: &str) -> Vec<Line> {
        parse(body, triggers)
    }

    fn command(verb: Verb, triggers: &[&str], text: Option<&str>) -> Line {
        Line::Command(Command {
            verb,
            triggers: triggers.iter().map(|t| t.to_string()).collect(),
            text: text.map(str::to_owned),
        })
    }

    #[test]
    fn each_command_is_read_with_its_triggers_and_text() {
        assert_eq!(commands("/herald run"), [command(Verb::Run, &[], None)]);
        assert_eq!(commands("/herald run api web api"), [command(Verb::Run, &["api", "web"], None)]);
        assert_eq!(commands("  /herald retry api  "), [command(Verb::Retry, &["api"], None)]);
        assert_eq!(commands("/herald stop"), [command(Verb::Stop, &[], None)]);
        assert_eq!(commands("/herald ok-to-test"), [command(Verb::OkToTest, &[], None)]);
        assert_eq!(commands("/herald APPROVE"), [command(Verb::Approve, &[], None)]);
        // The first word is a trigger only when it names one.
        assert_eq!(commands("/herald approve api ship it"), [command(Verb::Approve, &["api"], Some("ship it"))]);
        assert_eq!(commands("/herald approve ship it"), [command(Verb::Approve, &[], Some("ship it"))]);
        assert_eq!(commands("/herald reject web  too   risky"), [command(Verb::Reject, &["web"], Some("too risky"))]);
    }

    #[test]
    fn only_command_lines_count_and_others_are_text() {
        let body = "Looks good.\n\n/herald run api\n> /herald stop\n```\n/herald stop\n```\nthanks /herald run\n/heraldry\n/herald retry";
        assert_eq!(commands(body), [command(Verb::Run, &["api"], None), command(Verb::Retry, &[], None)]);
        assert!(commands("no commands here").is_empty());
        assert!(commands("").is_empty());
    }

    #[test]
    fn mistakes_are_refused_each_with_its_reason() {
        let refused = |body: &str| match &commands(body)[0] {
            Line::Refused { reason, .. } => reason.clone(),
            other => panic!("{body}: {other:?}"),
        };
        assert_eq!(refused("/herald"), "no command after /herald (run, retry, stop, approve, reject, ok-to-test)");
        assert!(refused("/herald deploy").starts_with("unknown command \"deploy\""));
        assert_eq!(refused("/herald run api other"), "no trigger named \"other\" for this repository");
        assert_eq!(refused("/herald ok-to-test api"), "ok-to-test takes no arguments");
    }

    #[test]
    fn a_comment_holds_at_most_five_commands() {
        let body = "/herald run\n".repeat(7);
        let lines = commands(&body);
        assert_eq!(lines.len(), 7);
        assert!(lines[..5].iter().all(|l| matches!(l, Line::Command(_))));
        for line in &lines[5..] {
            assert!(matches!(line, Line::Refused { reason, .. } if reason == "a comment holds at most 5 commands"));
        }
    }

    /// A 64 KB comment of `/herald` lines lists 5 refusals and one line saying how many more.
    #[test]
    fn at_most_five_refused_lines_are_listed() {
        let body = "/herald bogus\n".repeat(4000);
        let lines = commands(&body);
        assert_eq!(lines.len(), MAX_REFUSED_LISTED + 1);
        let Line::Refused { reason, .. } = &lines[MAX_REFUSED_LISTED] else { panic!("{lines:?}") };
        assert!(reason.starts_with("and 3995 more /herald line(s)"), "{reason}");
    }

    /// Code, HTML comments and <pre> hold no command; prose around them does.
    #[test]
    fn commands_inside_code_and_comments_do_nothing() {
        let body = "intro\n\n    /herald stop\n\n\t/herald stop\n````\n/herald stop\n```\n/herald stop\n````\n~~~\n/herald stop\n~~~\n\
                    <!-- /herald stop\n/herald stop -->\n<pre>\n/herald stop\n</pre>\n<PRE>/herald stop</PRE>\n\
                    > /herald stop\n/herald run <!-- hidden -->\n";
        let lines = commands(body);
        assert_eq!(lines, [command(Verb::Run, &[], None)], "{lines:?}");
    }

    #[test]
    fn the_reply_is_one_table_row_per_command_and_cells_stay_cells() {
        let done = [
            Done {
                command: "/herald retry api".into(),
                outcome: "retried",
                what: "retried stage Build".into(),
                pipeline: Some("api-pipeline".into()),
                link: Some("https://console.aws.amazon.com/x".into()),
                trigger: Some("api".into()),
                execution_id: Some("e-1".into()),
                transient: false,
            },
            Done {
                command: "/herald approve".into(),
                outcome: "refused",
                what: "only approvers may approve | <b>x</b>\nsecond line".into(),
                pipeline: None,
                link: None,
                trigger: None,
                execution_id: None,
                transient: false,
            },
        ];
        let text = reply(&done);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "| command | what happened | pipeline | link |");
        assert_eq!(lines[2], "| `/herald retry api` | retried stage Build | api-pipeline | [execution](https://console.aws.amazon.com/x) |");
        assert_eq!(
            lines[3],
            "| `/herald approve` | only approvers may approve \\| &lt;b&gt;x&lt;/b&gt; second line |  |  |"
        );
        // A command line that carries table syntax and a link stays one code cell.
        let attack = Done {
            command: "/herald x | | [execution](https://evil.example/login) @octocat".into(),
            outcome: "refused",
            what: "unknown command \"x | [login](https://evil.example) @octocat <img src=x>\"".into(),
            pipeline: None,
            link: None,
            trigger: None,
            execution_id: None,
            transient: false,
        };
        let row = reply(&[attack]).lines().nth(2).unwrap().to_owned();
        assert!(row.starts_with("| `/herald x \\| \\| [execution](https://evil.example/login) @octocat` | "), "{row}");
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells.len(), 4, "four columns, whatever the comment held: {row}");
        assert!(
            cells[1].contains("\\[login\\]\\(https\\://evil.example\\)") && cells[1].contains("\\@octocat"),
            "{row}"
        );
        assert!(!cells[1].contains("<img"), "{row}");
        assert_eq!(lines.len(), 4);
    }

    #[test]
    fn long_text_is_cut_at_a_character_boundary() {
        let body = format!("/herald approve {}", "é".repeat(1000));
        let Line::Command(c) = &commands(&body)[0] else { panic!() };
        assert_eq!(c.text.as_ref().unwrap().chars().count(), MAX_TEXT_CHARS);
        let Line::Refused { line, .. } = &commands(&format!("/herald {}", "x".repeat(500)))[0] else { panic!() };
        assert_eq!(line.chars().count(), 80);
    }
}
