//! Commit statuses end to end (docs/statuses.md "Commit statuses"): the real `git-webhook` and
//! `pipeline-notifier` binaries, moto, and for every Git server a fake of its status API that
//! checks each request against that server's documentation. A push starts a pipeline and the
//! server gets `pending`; the execution's FAILED event turns it into a failure naming the
//! failing action, SUCCEEDED into a success.

use herald_tests::events::body_of;
use herald_tests::git_servers::{self, Auth, Event, FakeGitServer, Server};
use herald_tests::moto::Moto;
use herald_tests::runtime::{Lambda, Outcome};
use herald_tests::sample;
use serde_json::{json, Value};

const SECRET: &str = "herald-status-secret";
const PIPELINE: &str = "status-app";

/// One trigger for every repository, reporting statuses; the moto shim makes each execution
/// fail at Build / Compile.
const CONFIG: &str = r#"{"triggers": [{"name": "status", "pipeline": "status-app", "git": {"repository": "**"},
  "status": true,
  "variables": {"MOTO_EXECUTION_STATUS": "Failed", "MOTO_FAILED_ACTION": "Build/Compile", "MOTO_FAILURE": "error: 3 tests failed"}}]}"#;

/// A signed push from `server` pointing its API at the fake `fake`.
fn push(server: Server, fake: &str, delivery: &str) -> Value {
    git_servers::delivery(server, Event::Push, fake, delivery, SECRET)
}

/// The CodePipeline event `file` for `execution_id` of the test pipeline.
fn pipeline_event(file: &str, execution_id: &str) -> Value {
    let mut event = sample(&format!("pipeline-notifier/{file}"));
    event["detail"]["pipeline"] = json!(PIPELINE);
    event["detail"]["execution-id"] = json!(execution_id);
    event["id"] = json!(format!("{file}-{execution_id}"));
    event
}

struct Setup {
    moto: Moto,
    webhook: Lambda,
    notifier: Lambda,
}

async fn setup(credentials: &Value) -> Setup {
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", PIPELINE]);
    moto.ctl(&["create-table", "herald-dedup"]);
    let topic =
        moto.ctl(&["topic-to-queue", "herald-alerts", "herald-alerts-inbox"])["topic_arn"].as_str().unwrap().to_owned();
    let credentials = credentials.to_string();
    let common = [
        ("HERALD_CONFIG", CONFIG),
        ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ("HERALD_STATUS_SECRET", credentials.as_str()),
    ];
    let mut env = common.to_vec();
    env.push(("HERALD_WEBHOOK_SECRET", SECRET));
    let webhook = Lambda::start("git-webhook", &moto.endpoint, &env).await;
    let mut env = common.to_vec();
    env.push(("HERALD_TOPIC_ARN", &topic));
    let notifier = Lambda::start("pipeline-notifier", &moto.endpoint, &env).await;
    Setup { moto, webhook, notifier }
}

impl Setup {
    /// Sends a push; answers the id of the execution it started.
    async fn start(&mut self, server: Server, fake: &FakeGitServer, delivery: &str) -> String {
        let response = self.webhook.invoke(push(server, &fake.url, delivery)).await.response();
        let answer = body_of(&response);
        assert_eq!(response["statusCode"], 200, "{server:?}: {answer}");
        let started = &answer["started"][0];
        assert_eq!(started["pipeline"], PIPELINE, "{server:?}: {answer}");
        assert_eq!(answer["statuses"][0]["outcome"], "posted", "{server:?}: {answer} {:?}", fake.arrivals());
        started["execution_id"].as_str().unwrap().to_owned()
    }

    async fn notify(&mut self, file: &str, execution_id: &str) -> Outcome {
        self.notifier.invoke(pipeline_event(file, execution_id)).await
    }
}

/// (server, its pending word, its failure word, its success word)
const SERVERS: [(Server, &str, &str, &str); 6] = [
    (Server::GitHub, "pending", "failure", "success"),
    (Server::GitLab, "running", "failed", "success"),
    (Server::BitbucketCloud, "INPROGRESS", "FAILED", "SUCCESSFUL"),
    (Server::BitbucketServer, "INPROGRESS", "FAILED", "SUCCESSFUL"),
    (Server::Gitea, "pending", "failure", "success"),
    (Server::AzureDevOps, "pending", "failed", "succeeded"),
];

fn auth_for(server: Server) -> Auth {
    match server {
        Server::BitbucketCloud => Auth::Basic("herald-bot".into(), "app-password-1".into()),
        other => Auth::Token(format!("{}-token-1", other.key())),
    }
}

#[tokio::test]
async fn every_server_sees_pending_then_the_outcome() {
    let mut fakes = Vec::new();
    let mut credentials = serde_json::Map::new();
    for (server, ..) in SERVERS {
        let fake = FakeGitServer::start(server, auth_for(server)).await;
        let (key, value) = fake.credential_entry();
        credentials.insert(key, value);
        fakes.push(fake);
    }
    let mut s = setup(&Value::Object(credentials)).await;
    for ((server, pending, failure, success), fake) in SERVERS.iter().zip(&fakes) {
        let execution_id = s.start(*server, fake, &format!("delivery-{server:?}")).await;
        let accepted = fake.wait_accepted(1).await;
        assert_eq!(accepted[0]["state"], *pending, "{server:?}: {:?}", fake.arrivals());

        let out = s.notify("pipeline-failed.json", &execution_id).await.response();
        assert_eq!(out["statuses"][0]["outcome"], "posted", "{server:?}: {out}");
        let accepted = fake.wait_accepted(2).await;
        assert_eq!(accepted[1]["state"], *failure, "{server:?}");
        assert_eq!(
            accepted[1]["description"], "status-app failed at Build / Compile: error: 3 tests failed",
            "{server:?}: the failing action, from ListActionExecutions"
        );
        let link = accepted[1].get("target_url").or(accepted[1].get("url")).or(accepted[1].get("targetUrl")).unwrap();
        assert!(
            link.as_str()
                .unwrap()
                .ends_with(&format!("/pipelines/{PIPELINE}/executions/{execution_id}/timeline?region=us-east-1")),
            "{link}"
        );

        s.notify("pipeline-succeeded.json", &execution_id).await.response();
        let accepted = fake.wait_accepted(3).await;
        assert_eq!(accepted[2]["state"], *success, "{server:?}");
        assert!(fake.arrivals().iter().all(|a| a.problem.is_none()), "{server:?}: {:?}", fake.arrivals());
    }
    // An execution Herald did not start gets no status.
    let other = s.moto.ctl(&["start-execution", PIPELINE, "Failed"])["execution_id"].as_str().unwrap().to_owned();
    s.notify("pipeline-failed.json", &other).await.response();
    for fake in &fakes {
        assert_eq!(fake.arrivals().len(), 3, "nothing more arrived");
    }
    let logs = s.webhook.stop().await + &s.notifier.stop().await;
    for (server, ..) in SERVERS {
        let token = match auth_for(server) {
            Auth::Token(t) => t,
            Auth::Basic(_, p) => p,
            Auth::GitHubApp { .. } => unreachable!(),
        };
        assert!(!logs.contains(&token), "a credential reached the logs");
    }
}

#[tokio::test]
async fn a_500_is_retried_and_a_401_is_logged_and_counted() {
    let fake = FakeGitServer::start(Server::GitHub, Auth::Token("ghp-1".into())).await;
    let (key, value) = fake.credential_entry();
    let mut s = setup(&json!({ key: value })).await;
    let execution_id = s.start(Server::GitHub, &fake, "d-retry").await;

    fake.answer_next(&[500]);
    let out = s.notify("pipeline-failed.json", &execution_id).await.response();
    assert_eq!(out["statuses"][0]["outcome"], "posted", "{out}");
    let arrivals = fake.arrivals();
    assert_eq!(arrivals.iter().map(|a| a.status).collect::<Vec<_>>(), [201, 500, 201]);

    fake.answer_next(&[401]);
    let out = s.notify("pipeline-succeeded.json", &execution_id).await.response();
    assert_eq!(out["statuses"][0]["outcome"], "failed", "a permanent failure is not retried: {out}");
    assert_eq!(fake.arrivals().len(), 4);

    fake.answer_next(&[503, 503, 503]);
    match s.notify("pipeline-succeeded.json", &execution_id).await {
        Outcome::Error(e) => assert_eq!(e["errorType"], "Herald.RetryableStatusFailure", "{e}"),
        Outcome::Response(r) => panic!("a server down was acknowledged: {r}"),
    }
    let logs = s.notifier.stop().await;
    assert!(logs.contains("answered 401"), "the server's status code is logged");
    let failed_metric = logs.lines().any(|l| l.contains("\"StatusFailed\"") && l.contains("\"permanent\""));
    assert!(failed_metric, "StatusFailed counted:\n{logs}");
}

#[tokio::test]
async fn a_github_app_mints_its_installation_token_at_the_fake_github() {
    let (pem, public_key) = git_servers::test_app_key();
    let fake = FakeGitServer::start(
        Server::GitHub,
        Auth::GitHubApp { installation_id: 77, public_key, token: "ghs_installation".into() },
    )
    .await;
    let credentials = json!({ format!("github:{}", fake.host): { "app_id": 123456, "installation_id": 77, "private_key": pem, "api_url": fake.api_url() } });
    let mut s = setup(&credentials).await;
    s.start(Server::GitHub, &fake, "d-app").await;
    let arrivals = fake.arrivals();
    assert_eq!(arrivals[0].path, "/app/installations/77/access_tokens");
    assert_eq!((arrivals[0].status, arrivals[1].status), (201, 201), "{arrivals:?}");
    let logs = s.webhook.stop().await;
    let key_line = pem.lines().nth(1).unwrap();
    assert!(!logs.contains("ghs_installation") && !logs.contains(key_line), "no token or key in the logs");
}

#[tokio::test]
async fn credentials_from_secrets_manager_are_read_at_cold_start_and_used() {
    use herald_tests::faults::FaultProxy;
    let fake = FakeGitServer::start(Server::GitLab, Auth::Token("glpat-sm".into())).await;
    let (key, value) = fake.credential_entry();
    let moto = Moto::start();
    moto.ctl(&["create-pipeline", PIPELINE]);
    moto.ctl(&["create-table", "herald-dedup"]);
    let arn = moto.ctl(&["create-secret", "herald-git-credentials", &json!({ key: value }).to_string()])["arn"]
        .as_str()
        .unwrap()
        .to_owned();
    let topic = moto.ctl(&["topic-to-queue", "herald-alerts", "inbox"])["topic_arn"].as_str().unwrap().to_owned();
    let proxy = FaultProxy::start(&moto.endpoint).await;
    let env = [
        ("HERALD_CONFIG", CONFIG),
        ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ("HERALD_STATUS_SECRET_ARN", arn.as_str()),
        ("HERALD_TOPIC_ARN", topic.as_str()),
    ];
    let mut notifier = Lambda::start("pipeline-notifier", &proxy.endpoint, &env).await;
    let mut webhook_env = env.to_vec();
    webhook_env.push(("HERALD_WEBHOOK_SECRET", SECRET));
    let mut webhook = Lambda::start("git-webhook", &proxy.endpoint, &webhook_env).await;
    for _ in 0..200 {
        if notifier.init_time().is_some() && webhook.init_time().is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let read = proxy.calls().iter().filter(|c| *c == "GetSecretValue").count();
    assert_eq!(read, 2, "both functions read the credentials at cold start: {:?}", proxy.calls());

    let response = webhook.invoke(push(Server::GitLab, &fake.url, "d-sm")).await.response();
    let answer = body_of(&response);
    assert_eq!(answer["statuses"][0]["outcome"], "posted", "{answer}");
    let execution_id = answer["started"][0]["execution_id"].as_str().unwrap().to_owned();
    let out = notifier.invoke(pipeline_event("pipeline-succeeded.json", &execution_id)).await.response();
    assert_eq!(out["statuses"][0]["outcome"], "posted", "{out}");
    let states: Vec<Value> = fake.wait_accepted(2).await.iter().map(|s| s["state"].clone()).collect();
    assert_eq!(states, [json!("running"), json!("success")]);
    assert_eq!(proxy.calls().iter().filter(|c| *c == "GetSecretValue").count(), 2, "cached, not read per status");
}
