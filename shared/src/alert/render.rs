//! The alert as people and programs read it (docs/alerts.md "Alerts"): the alert document, the subject, the
//! email / SMS / Amazon Q Developer (Chatbot) texts, and the SNS message that carries them.

use super::enrich::{Enrichment, Failure, Revision};
use super::event::{Audit, PipelineEvent};
use super::Match;
use crate::config::AlertToken;
use crate::ports::ExecutionTrigger;
use crate::ports::SnsMessage;
use crate::template::{first_line, truncate_chars};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write;

/// The alert document's schema name.
pub const SCHEMA: &str = "herald.alert/v1";
/// SNS's limit for a whole message (body, subject and attributes): 256 KiB.
pub const SNS_MAX_BYTES: usize = 256 * 1024;
/// The longest subject SNS accepts is 100; Herald keeps one below.
pub const MAX_SUBJECT_CHARS: usize = 99;
/// An SMS is one short line.
pub const MAX_SMS_CHARS: usize = 160;

/// The alert document (`sqs` and `lambda` subscribers): every key present, `null` when it
/// does not apply.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Alert {
    pub schema: &'static str,
    pub alert_rule: String,
    pub kind: &'static str,
    pub token: AlertToken,
    pub pipeline: String,
    pub execution_id: Option<String>,
    pub state: Option<String>,
    pub stage: Option<String>,
    pub action: Option<String>,
    pub region: String,
    pub account: String,
    pub time: String,
    pub console_url: String,
    pub revision: Option<Revision>,
    pub trigger: Option<ExecutionTrigger>,
    pub failure: Option<Failure>,
    pub duration_seconds: Option<i64>,
    pub audit: Option<Audit>,
    /// The EventBridge event's id: not part of the document; it tells alerts apart.
    #[serde(skip)]
    pub event_id: String,
}

/// Characters escaped in console URL path segments.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'@');

/// The CodePipeline console page of the execution (or of the pipeline, without one).
pub fn console_url(region: &str, pipeline: &str, execution_id: Option<&str>) -> String {
    let region = utf8_percent_encode(region, SEGMENT);
    let pipeline = utf8_percent_encode(pipeline, SEGMENT);
    let base = format!("https://{region}.console.aws.amazon.com/codesuite/codepipeline/pipelines/{pipeline}");
    match execution_id {
        Some(id) => format!("{base}/executions/{}/timeline?region={region}", utf8_percent_encode(id, SEGMENT)),
        None => format!("{base}/view?region={region}"),
    }
}

impl Alert {
    /// The document for one matched rule.
    pub fn new(matched: &Match<'_>, event: &PipelineEvent, enrichment: &Enrichment) -> Self {
        Self {
            schema: SCHEMA,
            alert_rule: matched.rule.name.clone(),
            kind: event.kind.as_str(),
            token: matched.token,
            pipeline: event.pipeline.clone(),
            execution_id: event.execution_id.clone(),
            state: event.state.clone(),
            stage: event.stage.clone(),
            action: event.action.clone(),
            region: event.region.clone(),
            account: event.account.clone(),
            time: event.time.clone(),
            console_url: console_url(&event.region, &event.pipeline, event.execution_id.as_deref()),
            revision: enrichment.revision.clone(),
            trigger: enrichment.trigger.clone(),
            failure: enrichment.failure.clone(),
            duration_seconds: enrichment.duration_seconds,
            audit: event.audit.clone(),
            event_id: event.id.clone(),
        }
    }

    fn short_execution(&self) -> Option<&str> {
        self.execution_id.as_deref().map(|id| truncate_chars(id, 8))
    }

    fn stage_action(&self) -> Option<String> {
        place(&self.stage, &self.action)
    }

    /// One sentence: what happened.
    pub fn headline(&self) -> String {
        let p = &self.pipeline;
        let at = self.stage_action().unwrap_or_default();
        match self.token {
            AlertToken::Started => format!("Pipeline {p} started"),
            AlertToken::Succeeded => format!("Pipeline {p} succeeded"),
            AlertToken::Failed => format!("Pipeline {p} failed"),
            AlertToken::FirstFailure => format!("Pipeline {p} failed; the run before it had succeeded"),
            AlertToken::Recovered => format!("Pipeline {p} is green again: it succeeded after a failed run"),
            AlertToken::RolledBack => format!("Pipeline {p} rolled back to an earlier successful revision"),
            AlertToken::Stopped => format!("Pipeline {p} was stopped"),
            AlertToken::Stopping => format!("Pipeline {p} is stopping"),
            AlertToken::Superseded => format!("Pipeline {p} was superseded by a newer execution"),
            AlertToken::Canceled => format!("Pipeline {p} was canceled"),
            AlertToken::Resumed => format!("Pipeline {p} resumed"),
            AlertToken::StageFailed => format!("Stage {at} of pipeline {p} failed"),
            AlertToken::ActionFailed => format!("Action {at} of pipeline {p} failed"),
            AlertToken::Approval => format!("Approval {at} of pipeline {p} is waiting for a decision"),
            AlertToken::Audit => match &self.audit {
                Some(a) => format!("{} on pipeline {p} by {}", a.api, actor_name(a.actor.as_deref())),
                None => format!("Change to pipeline {p}"),
            },
        }
    }

    /// `FAILED: prod-api (exec 3f2a9c1e)`: printable ASCII, at most 99 characters.
    pub fn subject(&self) -> String {
        let mut subject = format!("{}: {}", self.token.as_str(), self.pipeline);
        match (self.token, &self.audit) {
            (AlertToken::Audit, Some(a)) => {
                let _ = write!(subject, " {} by {}", a.api, actor_name(a.actor.as_deref()));
            }
            (token, _) => {
                if matches!(token, AlertToken::StageFailed | AlertToken::ActionFailed | AlertToken::Approval) {
                    if let Some(at) = self.stage_action() {
                        let _ = write!(subject, " {at}");
                    }
                }
                if let Some(id) = self.short_execution() {
                    let _ = write!(subject, " (exec {id})");
                }
            }
        }
        printable_ascii(&subject, MAX_SUBJECT_CHARS)
    }

    /// The rows of the readable text: label and value.
    fn rows(&self) -> Vec<(&'static str, String)> {
        let mut rows = vec![("Pipeline", self.pipeline.clone())];
        if let Some(id) = &self.execution_id {
            rows.push(("Execution", id.clone()));
        }
        if let Some(a) = &self.audit {
            rows.push(("Change", a.summary.clone()));
            rows.push(("By", a.actor.clone().unwrap_or_else(|| "unknown".into())));
            if let Some(ip) = &a.source_ip {
                rows.push(("From", ip.clone()));
            }
            if let Some(error) = &a.error {
                rows.push(("Result", format!("the call failed: {error}")));
            }
        }
        if let Some(f) = &self.failure {
            if let Some(at) = place(&f.stage, &f.action) {
                rows.push(("Failed at", at));
            }
            if let Some(summary) = &f.summary {
                rows.push(("Error", summary.clone()));
            }
            if let Some(url) = &f.external_url {
                rows.push(("Log", url.clone()));
            }
        } else if matches!(self.token, AlertToken::Approval) {
            if let Some(at) = self.stage_action() {
                rows.push(("Waiting at", at));
            }
        }
        if let Some(r) = &self.revision {
            let mut commit = r.commit.as_deref().map(|c| truncate_chars(c, 12).to_owned()).unwrap_or_default();
            if let Some(message) = &r.message {
                let _ = write!(commit, " \"{}\"", first_line(message));
            }
            rows.push(("Commit", commit.trim().to_owned()));
            if let Some(url) = &r.url {
                rows.push(("", url.clone()));
            }
        }
        if let Some(t) = &self.trigger {
            let detail = t.detail.as_deref().filter(|d| !d.is_empty());
            rows.push(("Trigger", detail.map_or(t.trigger_type.clone(), |d| format!("{} ({d})", t.trigger_type))));
        }
        if let Some(seconds) = self.duration_seconds {
            rows.push(("Duration", duration_text(seconds)));
        }
        rows.push(("Console", self.console_url.clone()));
        rows
    }

    /// The `default` and `email` text.
    pub fn email_text(&self) -> String {
        let mut text = format!("{}: {}\n\n", self.token.as_str(), self.headline());
        for (label, value) in self.rows() {
            // Continuation lines line up under the value.
            let _ = writeln!(text, "{label:<10} {}", value.trim_end().replace('\n', "\n           "));
        }
        let _ = write!(
            text,
            "\nAlert rule \"{}\" · account {} · {} · {}\nSent by Herald.\n",
            self.alert_rule, self.account, self.region, self.time
        );
        text
    }

    /// The `sms` text: one short line.
    pub fn sms_text(&self) -> String {
        let mut line = format!("Herald {}: {}", self.token.as_str(), self.headline());
        if let Some(summary) = self.failure.as_ref().and_then(|f| f.summary.as_deref()) {
            let _ = write!(line, ": {}", first_line(summary));
        }
        if let Some(id) = self.short_execution() {
            let _ = write!(line, " (exec {id})");
        }
        truncate_chars(&line.replace(['\n', '\r'], " "), MAX_SMS_CHARS).to_owned()
    }

    /// The `https` text: an Amazon Q Developer in chat applications custom notification.
    pub fn chatbot(&self) -> serde_json::Value {
        let mut description = String::new();
        for (label, value) in self.rows() {
            if label == "Console" || value.starts_with("https://") {
                continue;
            }
            let value = if label == "Error" { format!("```{value}```") } else { value };
            if label.is_empty() {
                let _ = writeln!(description, "{value}");
            } else {
                let _ = writeln!(description, "*{label}:* {value}");
            }
        }
        let mut next_steps = vec![format!("<{}|Open in the CodePipeline console>", self.console_url)];
        if let Some(url) = self.failure.as_ref().and_then(|f| f.external_url.as_deref()) {
            next_steps.push(format!("<{url}|Read the failed action's log>"));
        }
        if let Some(url) = self.revision.as_ref().and_then(|r| r.url.as_deref()) {
            next_steps.push(format!("<{url}|See the commit>"));
        }
        let pipeline_arn = format!("arn:aws:codepipeline:{}:{}:{}", self.region, self.account, self.pipeline);
        json!({
            "version": "1.0",
            "source": "custom",
            // One per alert (rule, event, token): two alerts of one execution are two notifications.
            "id": crate::token::deterministic(&[&self.alert_rule, &self.event_id, self.token.as_str()]),
            "content": {
                "textType": "client-markdown",
                "title": format!("{} {}", emoji(self.token), self.headline()),
                "description": description.trim_end(),
                "nextSteps": next_steps,
                "keywords": [self.pipeline, self.token],
            },
            "metadata": {
                "threadId": self.execution_id.as_deref().unwrap_or(&self.pipeline),
                "summary": self.subject(),
                "eventType": self.token.as_str().replace('_', "-"),
                "relatedResources": [pipeline_arn],
            }
        })
    }

    /// Cuts every free-text field to `max` characters (used when a message would not fit).
    fn cut_fields(&mut self, max: usize) {
        let mut fields: Vec<&mut String> = vec![&mut self.pipeline, &mut self.console_url];
        let optional = [&mut self.execution_id, &mut self.stage, &mut self.action, &mut self.state];
        fields.extend(optional.into_iter().filter_map(Option::as_mut));
        if let Some(r) = &mut self.revision {
            fields.extend([&mut r.commit, &mut r.message, &mut r.url].into_iter().filter_map(Option::as_mut));
        }
        if let Some(t) = &mut self.trigger {
            fields.push(&mut t.trigger_type);
            fields.extend(t.detail.as_mut());
        }
        if let Some(f) = &mut self.failure {
            let optional = [&mut f.stage, &mut f.action, &mut f.summary, &mut f.external_url];
            fields.extend(optional.into_iter().filter_map(Option::as_mut));
        }
        if let Some(a) = &mut self.audit {
            fields.push(&mut a.summary);
            fields.extend([&mut a.actor, &mut a.source_ip, &mut a.error].into_iter().filter_map(Option::as_mut));
        }
        for field in fields {
            let end = truncate_chars(field, max).len();
            field.truncate(end);
        }
    }

    fn message_body(&self) -> String {
        let document = serde_json::to_string(self).unwrap_or_default();
        let email = self.email_text();
        json!({
            "default": email,
            "email": email,
            "sms": self.sms_text(),
            "https": self.chatbot().to_string(),
            "sqs": document,
            "lambda": document,
        })
        .to_string()
    }

    /// The SNS message for `topic_arn`: under 256 KB whatever the event held (long texts cut at
    /// a character boundary).
    pub fn to_sns(&self, topic_arn: &str) -> SnsMessage {
        let mut alert = self.clone();
        let mut message = alert.message_body();
        for max in [2000, 500, 100, 20] {
            if message.len() + 4096 < SNS_MAX_BYTES {
                break;
            }
            alert.cut_fields(max);
            message = alert.message_body();
        }
        let mut attributes = vec![
            ("pipeline", printable_ascii(&alert.pipeline, 256)),
            ("kind", alert.kind.to_owned()),
            ("alert_rule", alert.alert_rule.clone()),
        ];
        if let Some(state) = &alert.state {
            attributes.insert(1, ("state", state.clone()));
        }
        SnsMessage { topic_arn: topic_arn.to_owned(), subject: alert.subject(), message, attributes }
    }
}

/// `Build / Compile`, `Build`, or nothing.
fn place(stage: &Option<String>, action: &Option<String>) -> Option<String> {
    match (stage, action) {
        (Some(s), Some(a)) => Some(format!("{s} / {a}")),
        (Some(s), None) => Some(s.clone()),
        _ => None,
    }
}

/// `arn:aws:sts::1:assumed-role/Admin/alice` → `alice`.
fn actor_name(actor: Option<&str>) -> &str {
    match actor {
        Some(arn) => arn.rsplit(['/', ':']).next().filter(|s| !s.is_empty()).unwrap_or(arn),
        None => "unknown",
    }
}

fn emoji(token: AlertToken) -> &'static str {
    match token {
        AlertToken::Failed | AlertToken::FirstFailure | AlertToken::StageFailed | AlertToken::ActionFailed => ":x:",
        AlertToken::Succeeded | AlertToken::Recovered => ":white_check_mark:",
        AlertToken::RolledBack => ":rewind:",
        AlertToken::Approval => ":raised_hand:",
        AlertToken::Audit => ":memo:",
        AlertToken::Stopped | AlertToken::Stopping | AlertToken::Canceled | AlertToken::Superseded => {
            ":double_vertical_bar:"
        }
        AlertToken::Started | AlertToken::Resumed => ":arrow_forward:",
    }
}

/// `5m 12s`, `1h 02m`, `42s`.
pub fn duration_text(seconds: i64) -> String {
    match seconds {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m {:02}s", s / 60, s % 60),
        s => format!("{}h {:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// Printable ASCII only (others become `?`, line breaks spaces), at most `max` characters.
pub fn printable_ascii(text: &str, max: usize) -> String {
    text.chars()
        .map(|c| match c {
            ' '..='~' => c,
            '\n' | '\r' | '\t' => ' ',
            _ => '?',
        })
        .take(max)
        .collect::<String>()
        .trim_end()
        .to_owned()
}

#[cfg(test)]
mod tests;
