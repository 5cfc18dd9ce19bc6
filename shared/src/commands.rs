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
/// `reject` the first word is a trigger only when it names one, otherwise it is text. Lines in
/// fenced code blocks and quoted lines are not commands (a comment may quote one).
pub fn parse(body: &str, is_trigger: impl Fn(&str) -> bool) -> Vec<Line> {
    let mut out = Vec::new();
    let mut fenced = false;
    for raw in body.lines() {
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let Some(rest) = command_rest(line) else { continue };
        if out.len() >= MAX_PER_COMMENT {
            out.push(Line::Refused {
                line: shown(line),
                reason: format!("a comment holds at most {MAX_PER_COMMENT} commands"),
            });
            continue;
        }
        out.push(match one(rest, &is_trigger) {
            Ok(command) => Line::Command(command),
            Err(reason) => Line::Refused { line: shown(line), reason },
        });
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

/// The reply comment, in Markdown: one row per command.
pub fn reply(done: &[Done]) -> String {
    let mut out = String::from("| command | what happened | pipeline | link |\n|---|---|---|---|\n");
    for d in done {
        let link = d.link.as_deref().map(|l| format!("[execution]({})", cell(l))).unwrap_or_default();
        out.push_str(&format!(
            "| `{}` | {} | {} | {link} |\n",
            d.command.replace('`', "'"),
            cell(&d.what),
            cell(d.pipeline.as_deref().unwrap_or_default())
        ));
    }
    out
}

/// Text safe inside a Markdown table cell: no line breaks, no column separators, no HTML.
fn cell(text: &str) -> String {
    text.replace(['\n', '\r'], " ").replace('|', "\\|").replace('<', "&lt;").replace('>', "&gt;")
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
