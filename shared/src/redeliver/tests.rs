use super::*;
use crate::git_api::RetryPolicy;
use crate::ports::fakes::FakeLedger;
use crate::ports::{BoxFuture, HttpClient, NextPage, OutboundRequest, OutboundResponse};
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;

const NOW: i64 = 1_800_000_000;

/// A GitHub hook in memory: its deliveries newest first, `page` to a page, paged by `cursor`
/// (the id the next page starts below); redelivery requests recorded and answered `redeliver`.
struct Hooks {
    deliveries: Mutex<Vec<Value>>,
    page: usize,
    redeliver: u16,
    requests: Mutex<Vec<(String, String)>>,
    /// The `authorization` header of each request, in order.
    auth: Mutex<Vec<String>>,
}

impl Hooks {
    fn new(deliveries: Vec<Value>) -> Self {
        let mut deliveries = deliveries;
        deliveries.sort_by_key(|d| std::cmp::Reverse(d["id"].as_u64()));
        Self {
            deliveries: Mutex::new(deliveries),
            page: 3,
            redeliver: 202,
            requests: Mutex::default(),
            auth: Mutex::default(),
        }
    }

    fn posts(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests.iter().filter(|(m, u)| m == "POST" && !u.ends_with("/access_tokens")).map(|(_, u)| u.clone()).collect()
    }

    fn gets(&self) -> usize {
        self.requests.lock().unwrap().iter().filter(|(m, _)| m == "GET").count()
    }
}

impl HttpClient for Hooks {
    fn send<'a>(&'a self, request: &'a OutboundRequest) -> BoxFuture<'a, Result<OutboundResponse, String>> {
        Box::pin(async move {
            self.requests.lock().unwrap().push((request.method.to_owned(), request.url.clone()));
            let auth = request.headers.iter().find(|(n, _)| *n == "authorization").map(|(_, v)| v.clone());
            self.auth.lock().unwrap().push(auth.unwrap_or_default());
            let answer = |status: u16, body: Value, next: Option<NextPage>| OutboundResponse {
                status,
                retry_after: None,
                next,
                body: body.to_string().into_bytes(),
                exceeded: false,
            };
            if request.url.ends_with("/access_tokens") {
                return Ok(answer(201, json!({ "token": "ghs_installation" }), None));
            }
            if request.method == "POST" {
                return Ok(answer(self.redeliver, json!({}), None));
            }
            let below = crate::git_api::endpoint::param_of(&request.url, "cursor").and_then(|c| c.parse::<u64>().ok());
            let all = self.deliveries.lock().unwrap().clone();
            let rest: Vec<Value> =
                all.into_iter().filter(|d| below.is_none_or(|b| d["id"].as_u64() < Some(b))).collect();
            let page: Vec<Value> = rest.iter().take(self.page).cloned().collect();
            let next = (rest.len() > self.page).then(|| {
                let last = page.last().and_then(|d| d["id"].as_u64()).unwrap_or_default();
                NextPage::Url(format!("https://api.github.com/elsewhere?per_page=100&cursor={last}"))
            });
            Ok(answer(200, Value::Array(page), next))
        })
    }
}

/// A delivery as GitHub lists it, `minutes` ago.
fn delivery(id: u64, guid: &str, status_code: u16, minutes: i64) -> Value {
    let at = aws_smithy_types::DateTime::from_secs(NOW - minutes * 60)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap();
    json!({ "id": id, "guid": guid, "delivered_at": at, "redelivery": false, "duration": 0.5,
            "status": if status_code == 200 { "OK" } else { "Service Unavailable" }, "status_code": status_code,
            "event": "push", "action": null, "installation_id": null, "repository_id": 1 })
}

fn credentials() -> Credentials {
    Credentials::parse(r#"{"github": {"token": "t", "hooks": ["repo:acme/app:12"]}}"#).unwrap()
}

fn sweeper(hooks: &Arc<Hooks>, ledger: Option<&Arc<FakeLedger>>) -> Sweeper {
    let policy = RetryPolicy { attempts: 1, timeout: Duration::from_secs(1), backoff: Duration::ZERO };
    let ledger = ledger.map(|l| l.clone() as Arc<dyn RedeliveryLedger>);
    Sweeper::new(GitApi::new(hooks.clone(), policy), ledger)
}

fn ids(redelivered: &[Redelivery]) -> Vec<u64> {
    redelivered.iter().map(|r| r.delivery_id).collect()
}

#[tokio::test]
async fn failed_deliveries_not_processed_here_are_redelivered_oldest_first() {
    let hooks = Arc::new(Hooks::new(vec![
        delivery(7, "g-a", 503, 5),
        delivery(6, "g-d", 502, 6), // a failed redelivery of g-d
        delivery(5, "g-b", 200, 10),
        delivery(4, "g-c", 503, 20), // answered 200 by Herald after GitHub gave up waiting
        delivery(3, "g-e", 500, 25),
        delivery(2, "g-e", 200, 26), // a later attempt of g-e succeeded... listed older here
        delivery(1, "g-d", 503, 30),
    ]));
    let ledger = Arc::new(FakeLedger::default());
    ledger.processed.lock().unwrap().push("delivery#github:g-c".into());
    let report = sweeper(&hooks, Some(&ledger)).sweep(&credentials(), SweepOptions::SCHEDULED, NOW).await;
    let hook = &report.hooks[0];
    assert_eq!(hook.hook, "repo:acme/app:12");
    assert_eq!(hook.listed, 7);
    // g-d (oldest attempt 1) by its newest attempt, then g-a; g-b and g-e succeeded, g-c was processed.
    assert_eq!(ids(&hook.redelivered), vec![6, 7]);
    assert_eq!(hook.processed, 1);
    assert_eq!(hook.redelivered[0].attempt, Some(1));
    assert_eq!(
        hooks.posts(),
        vec![
            "https://api.github.com/repos/acme/app/hooks/12/deliveries/6/attempts",
            "https://api.github.com/repos/acme/app/hooks/12/deliveries/7/attempts"
        ]
    );
    assert_eq!(hook.cursor, Some(7));
    assert_eq!(ledger.cursors.lock().unwrap().get("github#repo:acme/app:12"), Some(&7));
    // Paged by cursor: 7 deliveries, 3 a page.
    assert_eq!(hooks.gets(), 3);
}

#[tokio::test]
async fn the_cursor_ends_the_list_and_a_second_sweep_redelivers_nothing_new() {
    let hooks = Arc::new(Hooks::new(vec![delivery(2, "g-a", 503, 5), delivery(1, "g-b", 503, 6)]));
    let ledger = Arc::new(FakeLedger::default());
    let sweeper = sweeper(&hooks, Some(&ledger));
    let first = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW).await;
    assert_eq!(ids(&first.hooks[0].redelivered), vec![1, 2]);
    let second = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW + 600).await;
    assert_eq!(second.hooks[0].listed, 0);
    assert!(second.hooks[0].redelivered.is_empty());
    // A new failure after the cursor is the next sweep's.
    hooks.deliveries.lock().unwrap().insert(0, delivery(3, "g-c", 504, 1));
    let third = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW + 1200).await;
    assert_eq!(ids(&third.hooks[0].redelivered), vec![3]);
    assert_eq!(hooks.posts().len(), 3);
}

#[tokio::test]
async fn the_first_sweep_looks_back_three_hours_only() {
    let hooks = Arc::new(Hooks::new(vec![delivery(2, "g-new", 503, 170), delivery(1, "g-old", 503, 190)]));
    let ledger = Arc::new(FakeLedger::default());
    let report = sweeper(&hooks, Some(&ledger)).sweep(&credentials(), SweepOptions::SCHEDULED, NOW).await;
    assert_eq!(ids(&report.hooks[0].redelivered), vec![2]);
    assert_eq!(report.hooks[0].cursor, Some(2));
}

#[tokio::test]
async fn past_three_redeliveries_it_gives_up_and_says_so_once() {
    let hooks = Arc::new(Hooks::new(vec![delivery(1, "g-a", 503, 5)]));
    let ledger = Arc::new(FakeLedger::default());
    ledger.attempts.lock().unwrap().insert("redelivery#github:api.github.com:g-a".into(), MAX_ATTEMPTS);
    let without_cursor = SweepOptions { use_cursor: false, ..SweepOptions::SCHEDULED };
    let sweeper = sweeper(&hooks, Some(&ledger));
    let first = sweeper.sweep(&credentials(), without_cursor, NOW).await;
    assert_eq!(ids(&first.hooks[0].gave_up), vec![1]);
    assert!(first.hooks[0].redelivered.is_empty());
    let again = sweeper.sweep(&credentials(), without_cursor, NOW + 600).await;
    assert!(again.hooks[0].gave_up.is_empty(), "reported once");
    assert!(hooks.posts().is_empty());
}

#[tokio::test]
async fn at_most_fifty_a_sweep_and_the_cursor_waits_before_the_rest() {
    let deliveries: Vec<Value> = (1..=60).map(|i| delivery(i, &format!("g-{i}"), 503, 100 - i as i64)).collect();
    let mut hooks = Hooks::new(deliveries);
    hooks.page = 100;
    let hooks = Arc::new(hooks);
    let ledger = Arc::new(FakeLedger::default());
    let sweeper = sweeper(&hooks, Some(&ledger));
    let report = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW).await;
    let hook = &report.hooks[0];
    assert_eq!(ids(&hook.redelivered), (1..=50).collect::<Vec<_>>());
    assert_eq!(hook.waiting, 10);
    assert_eq!(hook.cursor, Some(50), "just before the oldest failure left");
    assert!(hook.bound.as_deref().unwrap().contains("at most 50"));
    let next = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW + 600).await;
    assert_eq!(ids(&next.hooks[0].redelivered), (51..=60).collect::<Vec<_>>());
    assert_eq!(next.hooks[0].cursor, Some(60));
}

#[tokio::test]
async fn a_refused_redelivery_waits_and_is_not_counted() {
    let mut hooks = Hooks::new(vec![delivery(2, "g-a", 503, 5), delivery(1, "g-b", 503, 6)]);
    hooks.redeliver = 500;
    let hooks = Arc::new(hooks);
    let ledger = Arc::new(FakeLedger::default());
    let report = sweeper(&hooks, Some(&ledger)).sweep(&credentials(), SweepOptions::SCHEDULED, NOW).await;
    let hook = &report.hooks[0];
    assert!(hook.redelivered.is_empty());
    assert_eq!(hook.waiting, 2);
    assert!(hook.error.as_deref().unwrap().contains("500"), "{:?}", hook.error);
    assert!(report.failed());
    // The server failed on the first: the second was not asked, and the cursor stays.
    assert_eq!(hooks.posts().len(), 1);
    assert_eq!(ledger.cursors.lock().unwrap().get("github#repo:acme/app:12"), None);
    assert_eq!(ledger.attempts.lock().unwrap().get("redelivery#github:api.github.com:g-b"), Some(&0));
}

#[tokio::test]
async fn a_dry_run_lists_and_asks_and_writes_nothing() {
    let hooks = Arc::new(Hooks::new(vec![delivery(1, "g-a", 503, 5)]));
    let ledger = Arc::new(FakeLedger::default());
    let dry = SweepOptions { dry_run: true, ..SweepOptions::SCHEDULED };
    let report = sweeper(&hooks, Some(&ledger)).sweep(&credentials(), dry, NOW).await;
    assert!(report.dry_run);
    assert_eq!(ids(&report.hooks[0].redelivered), vec![1]);
    assert!(hooks.posts().is_empty());
    assert!(ledger.cursors.lock().unwrap().is_empty());
    assert!(ledger.attempts.lock().unwrap().is_empty());
}

#[tokio::test]
async fn without_the_table_a_later_success_still_counts_as_processed() {
    let hooks =
        Arc::new(Hooks::new(vec![delivery(3, "g-a", 200, 1), delivery(2, "g-a", 503, 5), delivery(1, "g-b", 0, 6)]));
    let report = sweeper(&hooks, None)
        .sweep(&credentials(), SweepOptions { use_cursor: false, ..SweepOptions::SCHEDULED }, NOW)
        .await;
    // g-b got no answer at all (status_code 0: a timeout): it is redelivered, uncounted.
    assert_eq!(ids(&report.hooks[0].redelivered), vec![1]);
    assert_eq!(report.hooks[0].redelivered[0].attempt, None);
}

#[tokio::test]
async fn an_app_hook_is_asked_with_the_apps_jwt_at_its_own_path() {
    let pem = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/github-app/test-key-pkcs1.pem"),
    )
    .unwrap();
    let doc =
        json!({ "github": { "app_id": 42, "installation_id": 7, "private_key": pem, "hooks": ["app", "org:acme:9"] } });
    let credentials = Credentials::parse(&doc.to_string()).unwrap();
    let hooks = Arc::new(Hooks::new(vec![delivery(1, "g-a", 503, 5)]));
    let report =
        sweeper(&hooks, None).sweep(&credentials, SweepOptions { dry_run: true, ..SweepOptions::SCHEDULED }, NOW).await;
    let labels: Vec<&str> = report.hooks.iter().map(|h| h.hook.as_str()).collect();
    assert_eq!(labels, vec!["app", "org:acme:9"]);
    let urls: Vec<String> = hooks.requests.lock().unwrap().iter().map(|(_, u)| u.clone()).collect();
    assert!(urls.contains(&"https://api.github.com/app/hook/deliveries?per_page=100".to_owned()), "{urls:?}");
    // The org hook needs an installation token first (minted with the JWT), then its list.
    assert!(urls.iter().any(|u| u == "https://api.github.com/orgs/acme/hooks/9/deliveries?per_page=100"), "{urls:?}");
    let auth = hooks.auth.lock().unwrap().clone();
    let of = |url: &str| &auth[urls.iter().position(|u| u.starts_with(url)).unwrap()];
    // A JWT is three base64url parts; the installation token is the mint's answer.
    assert_eq!(of("https://api.github.com/app/hook/").split('.').count(), 3);
    assert_eq!(of("https://api.github.com/orgs/"), "Bearer ghs_installation");
}

#[tokio::test]
async fn a_delivery_the_server_refuses_counts_as_an_attempt_and_is_given_up_after_three() {
    let mut hooks = Hooks::new(vec![delivery(2, "g-old", 503, 5), delivery(1, "g-b", 503, 6)]);
    hooks.redeliver = 422;
    let hooks = Arc::new(hooks);
    let ledger = Arc::new(FakeLedger::default());
    let sweeper = sweeper(&hooks, Some(&ledger));
    for sweep in 1..=3 {
        let report = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW + sweep).await;
        let hook = &report.hooks[0];
        // Refused one by one, the others still asked; nothing moves the cursor past them.
        assert_eq!((hook.waiting, hook.error.as_deref()), (2, None), "sweep {sweep}: {hook:?}");
        assert_eq!(hook.cursor, None);
    }
    assert_eq!(hooks.posts().len(), 6);
    let fourth = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW + 4).await;
    assert_eq!(ids(&fourth.hooks[0].gave_up), vec![1, 2]);
    assert_eq!(fourth.hooks[0].cursor, Some(2), "given up: the cursor passes them");
    assert_eq!(hooks.posts().len(), 6);
}

#[tokio::test]
async fn a_dry_run_says_what_it_would_do_and_leaves_nothing_waiting() {
    let hooks = Arc::new(Hooks::new(vec![delivery(1, "g-a", 503, 5)]));
    let dry = SweepOptions { dry_run: true, ..SweepOptions::SCHEDULED };
    let report = sweeper(&hooks, None).sweep(&credentials(), dry, NOW).await;
    assert_eq!((report.hooks[0].redelivered.len(), report.hooks[0].waiting), (1, 0));
}

/// A backlog never freezes the sweep: 1,500 deliveries newer than the cursor, failures among
/// the oldest. Each sweep lists its 1,000 and keeps its place; the next goes on from there, so
/// every failure is redelivered within a few sweeps, the backlog is reported meanwhile, and the
/// cursor moves only once the walk has reached it. (The cursor froze before: every sweep listed
/// the newest 1,000 again.)
#[tokio::test]
async fn a_backlog_is_walked_to_the_cursor_and_every_failure_redelivered() {
    let mut deliveries = vec![delivery(1, "g-handled", 200, 200)];
    for id in 2..=1_501u64 {
        let failed = matches!(id, 3 | 4 | 250);
        deliveries.push(delivery(id, &format!("g-{id}"), if failed { 503 } else { 200 }, 100));
    }
    let mut hooks = Hooks::new(deliveries);
    hooks.page = 100;
    let hooks = Arc::new(hooks);
    let ledger = Arc::new(FakeLedger::default());
    ledger.cursors.lock().unwrap().insert("github#repo:acme/app:12".into(), 1);
    let sweeper = sweeper(&hooks, Some(&ledger));
    let first = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW).await;
    let hook = &first.hooks[0];
    assert_eq!(hook.listed, 1_000);
    assert!(hook.redelivered.is_empty(), "the failures are all older than the newest 1,000");
    assert!(hook.bound.as_deref().unwrap_or_default().starts_with("a backlog"), "{hook:?}");
    assert_eq!(ledger.cursors.lock().unwrap()["github#repo:acme/app:12"], 1, "the cursor waits for the walk");
    assert!(ledger.walks.lock().unwrap().contains_key("github#repo:acme/app:12"));
    // New deliveries meanwhile do not hold the walk back.
    hooks.deliveries.lock().unwrap().insert(0, delivery(1_502, "g-new", 503, 1));
    let second = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW + 600).await;
    let hook = &second.hooks[0];
    assert_eq!(ids(&hook.redelivered), vec![3, 4, 250], "{hook:?}");
    assert!(hook.bound.is_none(), "{hook:?}");
    assert_eq!(ledger.cursors.lock().unwrap()["github#repo:acme/app:12"], 1_501, "the walk's top");
    assert!(ledger.walks.lock().unwrap().is_empty(), "the walk is over");
    let third = sweeper.sweep(&credentials(), SweepOptions::SCHEDULED, NOW + 1_200).await;
    assert_eq!(ids(&third.hooks[0].redelivered), vec![1_502], "then the newest again");
}
