//! `alert_path`: the pure part of one alert — read a CodePipeline "FAILED" event, match it
//! against 20 alert rules, build the alert document with a full enrichment and render the SNS
//! message (email, SMS, Chatbot and document texts) — next to its largest piece alone.

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use herald::alert::enrich::{Enrichment, Failure, Revision};
use herald::alert::event::{parse_event, Input};
use herald::alert::render::Alert;
use herald::alert::{candidate_rules, matches, tokens, Previous};
use herald::config::Config;
use herald::ports::ExecutionTrigger;
use serde_json::Value;

fn event() -> Value {
    let path = format!("{}/../events/pipeline-notifier/pipeline-failed.json", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample")).expect("JSON")
}

fn config() -> Config {
    let rules: Vec<String> = (0..20)
        .map(|i| format!(r#"{{"name":"team-{i}","pipelines":["team{i}-*","prod-*"],"on":["FIRST_FAILURE","RECOVERED","FAILED"]}}"#))
        .collect();
    Config::from_json(&format!(r#"{{"alerts":[{}]}}"#, rules.join(","))).expect("config")
}

fn enrichment() -> Enrichment {
    Enrichment {
        revision: Some(Revision {
            commit: Some("9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
            message: Some("Speed up the image resizer\n\n".to_owned() + &"Details of the change. ".repeat(40)),
            url: Some("https://github.com/acme/api/commit/9fceb02d0ae598e95dc970b74767f19372d61af8".into()),
        }),
        trigger: Some(ExecutionTrigger { trigger_type: "Webhook".into(), detail: Some("acme/api".into()) }),
        failure: Some(Failure {
            stage: Some("Build".into()),
            action: Some("Compile".into()),
            summary: Some("error[E0308]: mismatched types\n".repeat(30)),
            external_url: Some(
                "https://console.aws.amazon.com/codebuild/home?region=us-east-1#/builds/x/view/new".into(),
            ),
        }),
        duration_seconds: Some(312),
        previous: Some(Previous::Succeeded),
        superseded_by: None,
        failed_calls: vec![],
    }
}

fn bench(c: &mut Criterion) {
    let raw = event();
    let config = config();
    let enrichment = enrichment();
    let topic = "arn:aws:sns:us-east-1:111122223333:alerts";
    c.bench_function("alert path (parse, match 20 rules, render 20 messages)", |b| {
        b.iter(|| {
            let Input::Event(event) = parse_event(black_box(&raw)) else { panic!("ignored") };
            let rules = candidate_rules(&config, &event);
            let found = matches(&rules, &tokens(&event, enrichment.previous));
            let messages: Vec<_> = found.iter().map(|m| Alert::new(m, &event, &enrichment).to_sns(topic)).collect();
            black_box(messages)
        })
    });
    let Input::Event(event) = parse_event(&raw) else { panic!("ignored") };
    let rules = candidate_rules(&config, &event);
    let found = matches(&rules, &tokens(&event, enrichment.previous));
    let alert = Alert::new(&found[0], &event, &enrichment);
    c.bench_function("render one SNS message", |b| b.iter(|| black_box(alert.to_sns(topic))));
}

criterion_group!(benches, bench);
criterion_main!(benches);
