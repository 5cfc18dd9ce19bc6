//! Pipeline alerts (docs/alerts.md "Alerts"): what a CodePipeline or CloudTrail event means ([`event`]), which
//! alert rules it reaches and under which token (here, pure), what the AWS APIs add to it
//! ([`enrich`]) and how it reads for each kind of subscriber ([`render`]).

pub mod enrich;
pub mod event;
pub mod render;

use crate::config::{AlertRule, AlertToken, Config};

/// What an alert is about; the `kind` of the alert document and message attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Pipeline,
    Stage,
    Action,
    Approval,
    Audit,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pipeline => "pipeline",
            Self::Stage => "stage",
            Self::Action => "action",
            Self::Approval => "approval",
            Self::Audit => "audit",
        }
    }
}

/// How the most recent earlier finished execution of the same pipeline ended (stopped and
/// superseded executions are passed over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Previous {
    Succeeded,
    Failed,
    /// No earlier execution finished `Succeeded` or `Failed`.
    Nothing,
}

/// The tokens an event carries, most specific first. `previous` is `None` when the history
/// could not be read: `RECOVERED` and `FIRST_FAILURE` are then not claimed.
pub fn tokens(event: &event::PipelineEvent, previous: Option<Previous>) -> Vec<AlertToken> {
    match (&event.kind, event.state.as_deref()) {
        (Kind::Pipeline, Some(state)) => {
            let Some(token) = pipeline_token(state) else { return Vec::new() };
            match (token, previous) {
                // A rollback restores an earlier revision: that is not the pipeline fixed.
                (AlertToken::Succeeded, _) if event.rollback => vec![AlertToken::RolledBack, token],
                (AlertToken::Succeeded, Some(Previous::Failed)) => vec![AlertToken::Recovered, token],
                (AlertToken::Failed, Some(Previous::Succeeded)) => vec![AlertToken::FirstFailure, token],
                _ => vec![token],
            }
        }
        (Kind::Stage, Some("FAILED")) => vec![AlertToken::StageFailed],
        (Kind::Action, Some("FAILED")) => vec![AlertToken::ActionFailed],
        (Kind::Approval, _) => vec![AlertToken::Approval],
        (Kind::Audit, _) => vec![AlertToken::Audit],
        _ => Vec::new(),
    }
}

/// The tokens an event may carry once its history is known: which rules could want it.
pub fn possible_tokens(event: &event::PipelineEvent) -> Vec<AlertToken> {
    let mut all = tokens(event, Some(Previous::Failed));
    for token in tokens(event, Some(Previous::Succeeded)) {
        if !all.contains(&token) {
            all.push(token);
        }
    }
    all
}

/// Whether deciding `RECOVERED` / `FIRST_FAILURE` for this event needs the execution history.
pub fn needs_history(event: &event::PipelineEvent, rules: &[&AlertRule]) -> bool {
    let possible = possible_tokens(event);
    let conditional = [AlertToken::Recovered, AlertToken::FirstFailure];
    rules.iter().any(|rule| rule.on.iter().any(|t| conditional.contains(t) && possible.contains(t)))
}

fn pipeline_token(state: &str) -> Option<AlertToken> {
    Some(match state {
        "STARTED" => AlertToken::Started,
        "SUCCEEDED" => AlertToken::Succeeded,
        "FAILED" => AlertToken::Failed,
        "STOPPED" => AlertToken::Stopped,
        "STOPPING" => AlertToken::Stopping,
        "SUPERSEDED" => AlertToken::Superseded,
        "CANCELED" => AlertToken::Canceled,
        "RESUMED" => AlertToken::Resumed,
        _ => return None,
    })
}

/// The rules whose `pipelines` match the event's pipeline and that listen for a token it may
/// carry (before the history is known).
pub fn candidate_rules<'c>(config: &'c Config, event: &event::PipelineEvent) -> Vec<&'c AlertRule> {
    let possible = possible_tokens(event);
    config
        .alerts
        .iter()
        .filter(|rule| rule.pipelines.is_match(&event.pipeline) && rule.on.iter().any(|t| possible.contains(t)))
        .collect()
}

/// One rule reached, and the token it is reached under (the most specific one it listens for).
#[derive(Debug, Clone, Copy)]
pub struct Match<'c> {
    pub rule: &'c AlertRule,
    pub token: AlertToken,
}

/// The final matches, given the event's tokens (most specific first): one per rule at most.
pub fn matches<'c>(rules: &[&'c AlertRule], tokens: &[AlertToken]) -> Vec<Match<'c>> {
    rules
        .iter()
        .filter_map(|rule| tokens.iter().find(|t| rule.on.contains(t)).map(|&token| Match { rule, token }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::event::{parse_event, Input, PipelineEvent};
    use super::*;
    use serde_json::json;

    fn pipeline_event(state: &str) -> PipelineEvent {
        let raw = json!({
            "id": "e1", "detail-type": "CodePipeline Pipeline Execution State Change", "source": "aws.codepipeline",
            "account": "111122223333", "time": "2026-11-27T10:00:00Z", "region": "us-east-1",
            "detail": { "pipeline": "prod-api", "execution-id": "x1", "state": state, "version": 3.0 }
        });
        match parse_event(&raw) {
            Input::Event(e) => *e,
            Input::Ignored(why) => panic!("{why}"),
        }
    }

    fn config() -> Config {
        Config::from_json(
            r#"{"alerts": [
                {"name": "breaks", "pipelines": ["prod-*"], "on": ["FIRST_FAILURE", "RECOVERED"]},
                {"name": "all-failures", "pipelines": ["**"], "on": ["FAILED", "FIRST_FAILURE"]},
                {"name": "staging", "pipelines": ["staging-*"], "on": ["FAILED"]}
            ]}"#,
        )
        .unwrap()
    }

    #[test]
    fn recovery_and_first_failure_need_the_previous_outcome() {
        let ok = pipeline_event("SUCCEEDED");
        assert_eq!(tokens(&ok, Some(Previous::Failed)), [AlertToken::Recovered, AlertToken::Succeeded]);
        assert_eq!(tokens(&ok, Some(Previous::Succeeded)), [AlertToken::Succeeded]);
        assert_eq!(tokens(&ok, Some(Previous::Nothing)), [AlertToken::Succeeded]);
        assert_eq!(tokens(&ok, None), [AlertToken::Succeeded]);
        let failed = pipeline_event("FAILED");
        assert_eq!(tokens(&failed, Some(Previous::Succeeded)), [AlertToken::FirstFailure, AlertToken::Failed]);
        assert_eq!(tokens(&failed, Some(Previous::Failed)), [AlertToken::Failed]);
        assert!(tokens(&pipeline_event("SOMETHING_NEW"), None).is_empty());
    }

    #[test]
    fn each_rule_is_reached_once_under_its_most_specific_token() {
        let config = config();
        let failed = pipeline_event("FAILED");
        let rules = candidate_rules(&config, &failed);
        assert_eq!(rules.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(), ["breaks", "all-failures"]);
        assert!(needs_history(&failed, &rules));
        let first = matches(&rules, &tokens(&failed, Some(Previous::Succeeded)));
        assert_eq!(
            first.iter().map(|m| (m.rule.name.as_str(), m.token)).collect::<Vec<_>>(),
            [("breaks", AlertToken::FirstFailure), ("all-failures", AlertToken::FirstFailure)]
        );
        let again = matches(&rules, &tokens(&failed, Some(Previous::Failed)));
        assert_eq!(
            again.iter().map(|m| (m.rule.name.as_str(), m.token)).collect::<Vec<_>>(),
            [("all-failures", AlertToken::Failed)]
        );
    }

    #[test]
    fn a_plain_rule_needs_no_history() {
        let config = Config::from_json(r#"{"alerts":[{"name":"x","pipelines":["**"],"on":["SUCCEEDED"]}]}"#).unwrap();
        let ok = pipeline_event("SUCCEEDED");
        let rules = candidate_rules(&config, &ok);
        assert_eq!(rules.len(), 1);
        assert!(!needs_history(&ok, &rules));
        assert!(candidate_rules(&config, &pipeline_event("STARTED")).is_empty());
    }
}
