"""`make demo`: Herald on this machine, against the moto AWS emulator, nothing deployed.

Starts moto on a free loopback port, creates demo pipelines and stores the configuration in SSM,
runs the three functions as real Lambda binaries under cargo-lambda's runtime emulator (`cargo
lambda watch`), sends git-webhook signed sample deliveries over HTTP and s3-trigger S3 events,
prints the answers and the pipeline executions moto recorded, with their variables; then lets
pipeline `prod-api` fail and recover and prints the alerts pipeline-notifier sent, as the topic's
subscribers received them. Last, commit statuses: a push to a fake GitHub and a fake GitLab (the
integration tests' fakes of their status APIs) starts pipelines whose triggers say `"status":
true`; the GitLab push lists no files, so git-webhook asks the fake GitLab for them before its
path filter decides; each server receives `pending`, then the outcome (a failure naming the
failing action, a success). Then required checks: a path-filtered trigger that skips the push
posts its final passing status, a superseded execution ends as `error` naming the newer commit, a
late STARTED posts nothing, and a GitHub merge queue's `merge_group` (GitHub's own example
payload) starts a pipeline pinned to its head, whose result reaches that head. Stops everything it
started.
"""
import functools
import hashlib
import hmac
import http.server
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
SECRET = "herald-demo-secret"
# The secret document: the shared secret and a Standard Webhooks key for generic senders.
SECRETS = '{"secrets": ["herald-demo-secret", "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk="]}'
SAMPLES = ["github-push", "gitlab-push", "bitbucket-server-branch-deleted"]
PIPELINES = ["demo-github", "demo-gitlab", "demo-bitbucket-server", "demo-deploy", "demo-data",
             "monorepo-web", "monorepo-api"]
BUCKET = "acme-artifacts"
# Commit statuses at fake servers: the demo tokens, and the moto shim's variables that make the
# GitHub pipeline's execution fail at Build / Compile.
STATUS_TOKENS = {"github": "demo-github-token", "gitlab": "demo-gitlab-token"}
STATUS_COMMITS = {"github": "5e1f" * 10, "gitlab": "a11c" * 10}
# What the fake GitLab says the push changed: the GitLab trigger filters on app/**, and GitLab
# pushes over 20 commits do not list their files, so git-webhook asks.
GITLAB_FILES = ["app/models/user.rb", "README.md"]
FAILS = {"MOTO_EXECUTION_STATUS": "Failed", "MOTO_FAILED_ACTION": "Build/Compile",
         "MOTO_FAILURE": "error: test resize::rounds_down failed"}
ALERTS = [{"name": "prod", "pipelines": ["prod-*"], "on": ["FIRST_FAILURE", "RECOVERED", "APPROVAL", "AUDIT"]}]


# What the demo must show: each step checks its outcome here, and the demo exits 1 naming every
# one that did not happen (CI runs `make demo`: a demo that breaks does not land).
MISSED = []


def expect(ok, what):
    if not ok:
        MISSED.append(what)
        print(f"   !! expected: {what}")
    return ok


def step(text):
    """Says what comes before a step that may take a while."""
    print(text, flush=True)


class Inbox(http.server.BaseHTTPRequestHandler):
    """An HTTP subscriber of the alerts topic: SNS posts the `default` (readable) text here."""

    received = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        Inbox.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


@functools.cache
def target_dir():
    """Cargo's target folder, as cargo itself says (CARGO_TARGET_DIR, .cargo/config.toml)."""
    out = subprocess.run(["cargo", "metadata", "--format-version", "1", "--no-deps"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return pathlib.Path(json.loads(out)["target_directory"])


# A monorepo: one repository, a pipeline per service, each trigger filtered on its folder.
MONOREPO_TRIGGERS = [
    {"name": f"monorepo-{service}", "pipeline": f"monorepo-{service}",
     "git": {"repository": "acme/monorepo", "branches": ["main"], "paths": [f"services/{service}/**", "libs/**"]}}
    for service in ["web", "api"]
]


def show_config(config):
    print("configuration (what `herald validate` lists):")
    for t in config["triggers"]:
        rule = t.get("git") or t.get("s3") or {}
        where = rule.get("repository") or rule.get("bucket")
        paths = f" paths {', '.join(rule['paths'])}" if rule.get("paths") else ""
        print(f"   trigger {t['name']:<24} -> {t['pipeline']:<22} {where}{paths}")
    for a in config["alerts"]:
        print(f"   alert rule {a['name']} on {', '.join(a['on'])} for {', '.join(a['pipelines'])}")


def monorepo(url, servers):
    print("\n── monorepo: a push to acme/monorepo that changes services/web only")
    body = json.loads((ROOT / "events" / "git-webhook" / "payloads" / "github-push.json").read_text())
    body["repository"]["full_name"] = "acme/monorepo"
    body["repository"]["name"] = "monorepo"
    body["ref"] = "refs/heads/main"
    for commit in body["commits"]:
        commit.update({"added": ["services/web/src/banner.ts"], "modified": ["services/web/README.md"], "removed": []})
    event = github_delivery(servers["github"][1], body, "push", "demo-monorepo")
    status, answer = post(url, event)
    print(f"   HTTP {status}")
    for s in answer.get("started", []):
        print(f"   started  {s['pipeline']:<24} by trigger {s['trigger']}")
    for s in answer.get("skipped", []):
        if s["trigger"].startswith("monorepo-"):
            print(f"   skipped  trigger {s['trigger']:<20} {s['reason']}")
    started = [s["pipeline"] for s in answer.get("started", [])]
    expect(status == 200 and started == ["monorepo-web"], f"the monorepo push starts monorepo-web alone (got {started})")


def next_steps():
    print("""
Next:
   herald explain --config events/herald-config.json events/git-webhook/github-push.json
       what Herald does with any delivery, and why (docs/cli.md)
   git diff --name-only main... | herald explain --config my-config.json --changed-files - EVENT
       your monorepo's path filters on your own changes
   herald init   (with AWS credentials) a first configuration from your account's pipelines
   docs/deploying.md   deploy it""")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds, what, proc=None):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"{what} exited early (status {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.3)
    sys.exit(f"{what} did not start within {seconds} s")


def ctl(endpoint, *args):
    out = subprocess.run(
        [str(VENV_BIN / "python"), str(ROOT / "tests" / "support" / "moto_ctl.py"), endpoint, *args],
        check=True, capture_output=True, text=True,
    )
    return json.loads(out.stdout)


def post(url, event):
    """Sends a sample Function URL event's request to the emulator's function URL."""
    headers = {k: v for k, v in event["headers"].items() if k not in ("host", "content-length")}
    req = urllib.request.Request(url, data=event["body"].encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def stop(proc):
    if proc and proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def invoke(lambda_port, function, event):
    url = f"http://127.0.0.1:{lambda_port}/2015-03-31/functions/{function}/invocations"
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=600) as r:
        return json.loads(r.read())


def alerts(endpoint, lambda_port, topic):
    """prod-api was green, fails at Build / Compile, then is fixed: two alerts, one per change."""
    print("\n── pipeline-notifier: prod-api was green, breaks, then is fixed (alert rule prod: "
          "FIRST_FAILURE, RECOVERED, APPROVAL, AUDIT)")
    ctl(endpoint, "start-execution", "prod-api", "Succeeded", "4c1d2e3f", "Bump the image library")
    runs = [
        ("Failed", "9fceb02d0ae598e95dc970b74767f19372d61af8", "Speed up the image resizer", "pipeline-failed"),
        ("Failed", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "Try the resizer again", "pipeline-failed"),
        ("Succeeded", "77aa0e1f5c3b4d2e8f9a0b1c2d3e4f5a6b7c8d9e", "Fix the resizer's rounding", "pipeline-succeeded"),
    ]
    sent_tokens = []
    for status, commit, message, sample in runs:
        extra = ["Build/Compile", "error[E0308]: mismatched types --> src/resize.rs:42:17"] if status == "Failed" else []
        execution = ctl(endpoint, "start-execution", "prod-api", status, commit, message, *extra)["execution_id"]
        event = json.loads((ROOT / "events" / "pipeline-notifier" / f"{sample}.json").read_text())
        event["detail"]["execution-id"] = execution
        answer = invoke(lambda_port, "pipeline-notifier", event)
        sent_tokens.append(next((a["token"] for a in answer.get("alerts", [])), None))
        sent = ", ".join(f"{a['token']} to rule {a['alert_rule']}" for a in answer.get("alerts", [])) or "no alert"
        print(f"   execution {execution} {status:<9} ({message}): {sent}")
    for sample in ["approval-waiting", "audit-stop-execution"]:
        event = json.loads((ROOT / "events" / "pipeline-notifier" / f"{sample}.json").read_text())
        answer = invoke(lambda_port, "pipeline-notifier", event)
        print(f"   {sample}: " + ", ".join(f"{a['token']} to rule {a['alert_rule']}" for a in answer["alerts"]))
    expect(sent_tokens[:3] == ["FIRST_FAILURE", None, "RECOVERED"],
           f"prod-api alerts FIRST_FAILURE once, then RECOVERED (got {sent_tokens[:3]})")
    deadline = time.time() + 10
    while len(Inbox.received) < 4 and time.time() < deadline:
        time.sleep(0.1)
    documents = ctl(endpoint, "receive-raw", topic["queue_url"], "4")
    print(f"\nThe SQS subscriber got {len(documents)} alert documents "
          f"({', '.join(d['body']['token'] for d in documents)}); the HTTP subscriber read:")
    for note in Inbox.received[:2]:
        print(f"\n   Subject: {note.get('Subject')}\n")
        for line in note["Message"].splitlines():
            print(f"   │ {line}")
    for note in Inbox.received[2:]:
        print(f"\n   Subject: {note.get('Subject')}")


def fake_servers():
    """A fake GitHub and a fake GitLab status API (`fake_git_server`, built like the tests'):
    {provider: (process, url, host, arrivals)}."""
    servers = {}
    for provider, token in STATUS_TOKENS.items():
        files = GITLAB_FILES if provider == "gitlab" else []
        proc = subprocess.Popen([str(target_dir() / "debug" / "fake_git_server"), provider, token, *files],
                                stdout=subprocess.PIPE, text=True, start_new_session=True)
        first = json.loads(proc.stdout.readline())
        arrivals = []
        threading.Thread(target=lambda p=proc, a=arrivals: [a.append(json.loads(l)) for l in p.stdout],
                         daemon=True).start()
        servers[provider] = (proc, first["url"], first["host"], arrivals, first["api_url"])
    return servers


def signed_push(provider, url):
    """The sample push of `provider` with its status API at the fake `url`, signed again."""
    event = json.loads((ROOT / "events" / "git-webhook" / f"{provider}-push.json").read_text())
    body = json.loads(event["body"])
    # A commit of its own: the samples above already started this push's change, and a change
    # starts once (a second delivery of it answers the first execution and posts nothing).
    commit = STATUS_COMMITS[provider]
    body["after"] = commit
    if provider == "github":
        body["head_commit"]["id"] = commit
        return github_delivery(url, body, "push", "demo-status-github")
    body["checkout_sha"] = commit
    body["project"]["web_url"] = f"{url}/{body['project']['path_with_namespace']}"
    event["body"] = json.dumps(body)
    event["headers"]["x-gitlab-event-uuid"] = "demo-status-gitlab"
    return event


# Required checks (docs/statuses.md "Make Herald's checks required"): a service whose paths the GitHub sample
# push does not touch, and a merge queue trigger for GitHub's merge_group example.
REQUIRED_CHECK_TRIGGERS = [
    {"name": "github-docs", "pipeline": "demo-docs",
     "git": {"repository": "binkkatal/sample_app", "branches": ["master"], "paths": ["docs/**"]}, "status": True},
    {"name": "merge-queue", "pipeline": "demo-github",
     "git": {"repository": "octo-org/octo-repo", "events": ["merge_group"], "branches": ["main"]},
     "source_action": "Source", "variables": {"COMMIT_ID": "{commit}", "REF": "{ref}"}, "status": True},
]


def posted(arrivals):
    """The statuses among what arrived (changed-file lookups are GETs)."""
    return [a for a in arrivals if a["method"] == "POST"]


def wait_arrivals(arrivals, count):
    deadline = time.time() + 10
    while len(posted(arrivals)) < count and time.time() < deadline:
        time.sleep(0.05)


def show_arrival(provider, arrival):
    if arrival["method"] == "GET":
        print(f"   fake {provider:<6} <- GET {arrival['path']}  {arrival['status']}  (the changed files)")
        return
    body = arrival["body"]
    context = body.get("context") or body.get("name")
    state = body.get("state")
    print(f"   fake {provider:<6} <- {arrival['method']} {arrival['path']}  {arrival['status']}")
    print(f"                {state:<8} {context}: {body.get('description')}")


def statuses(url, lambda_port, servers):
    print("\n── commit statuses: pushes to a fake GitHub and a fake GitLab, triggers with \"status\": true")
    executions = {}
    for provider, (_, fake, _, arrivals, _) in servers.items():
        status, answer = post(url, signed_push(provider, fake))
        started = answer.get("started", [])
        executions[provider] = (started[0]["pipeline"], started[0]["execution_id"]) if started else None
        print(f"   {provider} push: HTTP {status}, started {', '.join(s['pipeline'] for s in started) or 'nothing'}")
        for s in answer.get("statuses", []):
            if s["state"] == "skipped":
                print(f"   {s['trigger']} skipped the push: its context {s['context']} passes without running")
        wait_arrivals(arrivals, len(answer.get("statuses", [])))
        for arrival in arrivals[:]:
            show_arrival(provider, arrival)
    outcomes = {"github": "pipeline-failed", "gitlab": "pipeline-succeeded"}
    for provider, (_, _, _, arrivals, _) in servers.items():
        if not executions[provider]:
            continue
        pipeline, execution = executions[provider]
        event = json.loads((ROOT / "events" / "pipeline-notifier" / f"{outcomes[provider]}.json").read_text())
        event["detail"].update({"pipeline": pipeline, "execution-id": execution})
        event["id"] = f"demo-{provider}-{outcomes[provider]}"
        seen = len(posted(arrivals))
        answer = invoke(lambda_port, "pipeline-notifier", event)
        print(f"   pipeline-notifier: {pipeline} {event['detail']['state']}")
        for s in answer.get("statuses", []) if isinstance(answer, dict) else []:
            if s.get("outcome") != "posted":
                print(f"   status {s.get('context')}: {s.get('outcome')} {s.get('error') or s.get('reason') or ''}")
        if isinstance(answer, dict) and "errorMessage" in answer:
            print(f"   pipeline-notifier failed: {answer['errorMessage']}")
        wait_arrivals(arrivals, seen + 1)
        for arrival in posted(arrivals)[seen:]:
            show_arrival(provider, arrival)
        # GitLab's word for a build in progress is `running`.
        first, final = {"github": ("pending", "failure"), "gitlab": ("running", "success")}[provider]
        states = [a["body"].get("state") for a in posted(arrivals)]
        expect(first in states and final in states[states.index(first):],
               f"the fake {provider} receives {first}, then {final} (got {states})")
        expect(all(a["status"] < 300 for a in posted(arrivals)), f"the fake {provider} accepts every status")
    expect(all(executions.values()), f"both status pushes start a pipeline (got {executions})")


def github_delivery(url, body, event, delivery):
    """A GitHub delivery of `body` whose repository's API is at the fake `url`, signed."""
    name = body["repository"]["full_name"]
    body["repository"]["url"] = f"{url}/repos/{name}"
    body["repository"]["statuses_url"] = f"{url}/repos/{name}/statuses/{{sha}}"
    text = json.dumps(body)
    digest = hmac.new(SECRET.encode(), text.encode(), hashlib.sha256).hexdigest()
    headers = {"x-github-event": event, "x-github-delivery": delivery, "x-hub-signature-256": f"sha256={digest}",
               "content-type": "application/json"}
    return {"version": "2.0", "rawPath": "/", "requestContext": {"http": {"method": "POST"}},
            "headers": headers, "body": text, "isBase64Encoded": False}


def notify(lambda_port, sample, pipeline, execution, state, event_id):
    event = json.loads((ROOT / "events" / "pipeline-notifier" / f"{sample}.json").read_text())
    event["detail"].update({"pipeline": pipeline, "execution-id": execution, "state": state})
    event["id"] = event_id
    return invoke(lambda_port, "pipeline-notifier", event)


def required_checks(url, lambda_port, servers):
    print("\n── required checks: every end is final, nothing moves backwards, merge queues start")
    _, fake, _, arrivals, _ = servers["github"]
    push = json.loads(json.loads((ROOT / "events" / "git-webhook" / "github-push.json").read_text())["body"])
    started = {}
    for commit in ("c" * 40, "d" * 40):
        body = json.loads(json.dumps(push))
        body["after"] = body["head_commit"]["id"] = commit
        before = len(posted(arrivals))
        _, answer = post(url, github_delivery(fake, body, "push", f"demo-supersede-{commit[0]}"))
        # Its statuses (demo-github pending, demo-docs skipped) reach the fake's log a moment later.
        wait_arrivals(arrivals, before + len(answer.get("statuses", [])))
        started[commit] = next(s["execution_id"] for s in answer["started"] if s["pipeline"] == "demo-github")
        print(f"   github push of {commit[:7]}: started demo-github execution {started[commit]}")
    older = started["c" * 40]
    seen = len(posted(arrivals))
    notify(lambda_port, "pipeline-failed", "demo-github", older, "SUPERSEDED", "demo-superseded")
    print(f"   pipeline-notifier: demo-github {older} SUPERSEDED")
    wait_arrivals(arrivals, seen + 1)
    for arrival in posted(arrivals)[seen:]:
        show_arrival("github", arrival)
    answer = notify(lambda_port, "pipeline-started", "demo-github", older, "STARTED", "demo-late-started")
    outcome = (answer.get("statuses") or [{}])[0]
    print(f"   pipeline-notifier: the same execution's STARTED, delivered late: {outcome.get('outcome')} "
          f"({outcome.get('reason')}); nothing posted")

    group = json.loads((ROOT / "events" / "git-webhook" / "payloads" / "github-merge-group.json").read_text())
    head = group["merge_group"]["head_sha"]
    seen = len(posted(arrivals))
    status, answer = post(url, github_delivery(fake, group, "merge_group", "demo-merge-group"))
    if not expect(status == 200 and answer.get("started"), f"the merge group starts a pipeline (HTTP {status}: {answer})"):
        return
    queued = answer["started"][0]
    print(f"   github merge_group checks_requested ({group['merge_group']['head_ref']} into main): HTTP {status}, "
          f"started {queued['pipeline']} execution {queued['execution_id']} pinned to head_sha {head[:7]}")
    wait_arrivals(arrivals, seen + 1)
    notify(lambda_port, "pipeline-succeeded", queued["pipeline"], queued["execution_id"], "SUCCEEDED", "demo-mg-done")
    print(f"   pipeline-notifier: {queued['pipeline']} SUCCEEDED")
    wait_arrivals(arrivals, seen + 2)
    for arrival in posted(arrivals)[seen:]:
        show_arrival("github", arrival)


def main():
    moto_port, lambda_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    procs = []
    step("building the four functions and the fake Git servers (debug; the first run compiles for about 6 "
         "minutes on 2 cores, later runs take seconds)...")
    started = time.time()
    subprocess.run(["cargo", "build", "--quiet", "-p", "git-webhook", "-p", "s3-trigger", "-p", "pipeline-notifier",
                    "-p", "redeliver", "-p", "herald-tests", "--bin", "git-webhook", "--bin", "s3-trigger",
                    "--bin", "pipeline-notifier", "--bin", "redeliver", "--bin", "fake_git_server"],
                   cwd=ROOT, check=True)
    step(f"built in {time.time() - started:.0f} s\n")
    try:
        moto = subprocess.Popen([str(VENV_BIN / "python"), str(ROOT / "tests" / "support" / "moto_server.py"),
                                 "-H", "127.0.0.1", "-p", str(moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(moto)
        wait_port(moto_port, 30, "moto", moto)
        print(f"moto AWS emulator on {endpoint}")
        for name in PIPELINES:
            # The S3 pipeline's source action reads the artifact bucket and lets starts name the key.
            source = [f"source={BUCKET}:releases/app/latest.zip:override"] if name == "demo-deploy" else []
            ctl(endpoint, "create-pipeline", name, *source, "PROVIDER", "EVENT", "REF", "COMMIT_ID")
        git = json.loads((ROOT / "events" / "herald-config.json").read_text())
        # The GitHub and GitLab triggers report commit statuses; the GitHub pipeline will fail.
        for trigger in git["triggers"]:
            if trigger["pipeline"] in ("demo-github", "demo-gitlab"):
                trigger["status"] = True
            if trigger["pipeline"] == "demo-github":
                trigger.setdefault("variables", {}).update(FAILS)
        s3 = json.loads((ROOT / "events" / "s3-trigger" / "herald-config.json").read_text())
        config = {"triggers": git["triggers"] + REQUIRED_CHECK_TRIGGERS + MONOREPO_TRIGGERS + s3["triggers"],
                  "alerts": ALERTS}
        ctl(endpoint, "put-parameter", "/herald/demo/config", json.dumps(config))
        ctl(endpoint, "create-bucket", BUCKET)
        print(f"created pipelines {', '.join(PIPELINES)}; configuration in SSM /herald/demo/config")
        show_config(config)
        ctl(endpoint, "create-pipeline", "prod-api")
        topic = ctl(endpoint, "topic-to-queue", "herald-alerts", "herald-alerts-inbox")
        inbox = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Inbox)
        threading.Thread(target=inbox.serve_forever, daemon=True).start()
        ctl(endpoint, "subscribe-http", topic["topic_arn"], f"http://127.0.0.1:{inbox.server_address[1]}/")
        print(f"created pipeline prod-api and topic herald-alerts (subscribers: an SQS queue, an HTTP inbox)")
        ctl(endpoint, "create-table", "herald-demo-dedup")
        servers = fake_servers()
        procs.extend(proc for proc, *_ in servers.values())
        # Each fake serves its API at a loopback URL: the credential names it (api_url).
        credentials = {f"{p}:{host}": {"token": STATUS_TOKENS[p], "api_url": api_url}
                       for p, (_, _, host, _, api_url) in servers.items()}
        print("fake status APIs: " + ", ".join(f"{p} at {url}" for p, (_, url, _, _, _) in servers.items()))

        # An env file, not --env-vars: that flag splits on commas, and the secret document has some.
        env_file = target_dir() / "demo.env"
        env_file.parent.mkdir(exist_ok=True)
        env_file.write_text("\n".join([
            f"AWS_ENDPOINT_URL={endpoint}", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing",
            "AWS_SECRET_ACCESS_KEY=testing", "HERALD_CONFIG_PARAMETER=/herald/demo/config",
            f"HERALD_WEBHOOK_SECRET='{SECRETS}'", f"HERALD_TOPIC_ARN={topic['topic_arn']}", "RUST_LOG=error",
            "HERALD_DEDUP_TABLE=herald-demo-dedup", f"HERALD_STATUS_SECRET='{json.dumps(credentials)}'",
        ]) + "\n")
        watch = subprocess.Popen(
            [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--quiet", "--ignore-changes",
             "-A", "127.0.0.1", "-P", str(lambda_port), "--env-file", str(env_file)],
            cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True,
        )
        procs.append(watch)
        wait_port(lambda_port, 120, "cargo lambda watch", watch)
        url = f"http://127.0.0.1:{lambda_port}/lambda-url/git-webhook/"
        print(f"git-webhook under cargo-lambda's runtime emulator at {url}\n")

        for name in SAMPLES:
            event = json.loads((ROOT / "events" / "git-webhook" / f"{name}.json").read_text())
            status, answer = post(url, event)
            print(f"── {name}: HTTP {status}")
            for s in answer.get("started", []):
                print(f"   started  {s['pipeline']:<24} by trigger {s['trigger']:<20} execution {s['execution_id']}")
            for s in answer.get("skipped", []):
                print(f"   skipped  trigger {s['trigger']:<20} {s['reason']}")
            for s in answer.get("failed", []):
                print(f"   failed   {s['pipeline']:<24} {s['error']}")
            expect(status == 200 and not answer.get("failed"), f"{name} is answered 200 with no failed start")
            if name == "github-push":
                expect(answer.get("started"), "the GitHub sample push starts a pipeline")
        print()
        invoke = f"http://127.0.0.1:{lambda_port}/2015-03-31/functions/s3-trigger/invocations"
        for key, sample in [("releases/app/app-1.5.0.zip", "eventbridge-object-created"),
                            ("releases/app/app 2.0 (rc1).zip", "s3-notification")]:
            version = ctl(endpoint, "put-object", BUCKET, key, "demo artifact")["version_id"]
            event = json.loads((ROOT / "events" / "s3-trigger" / f"{sample}.json").read_text())
            if "Records" in event:
                event["Records"][0]["s3"]["object"]["versionId"] = version
            else:
                event["detail"]["object"]["version-id"] = version
            req = urllib.request.Request(invoke, data=json.dumps(event).encode(), method="POST")
            with urllib.request.urlopen(req, timeout=600) as r:
                answer = json.loads(r.read())
            print(f"── s3-trigger, {sample}: put s3://{BUCKET}/{key} (version {version})")
            for s in answer.get("started", []):
                pins = ", ".join(f"{r['revision_type']}={r['revision_value']}" for r in s.get("source_revisions", []))
                print(f"   started  {s['pipeline']:<24} pinned {pins or 'nothing (no source_action)'}")
            for s in answer.get("skipped", []):
                print(f"   skipped  trigger {s['trigger']:<20} {s['reason']}")
            expect(any(s["pipeline"] == "demo-deploy" for s in answer.get("started", [])),
                   f"the S3 write of {key} starts demo-deploy")
        print("\nExecutions moto recorded:")
        for name in PIPELINES:
            for ex in ctl(endpoint, "executions", name):
                variables = ", ".join(f"{k}={v}" for k, v in sorted(ex["variables"].items()))
                print(f"   {name:<24} {ex['id']}  {variables}")
        alerts(endpoint, lambda_port, topic)
        monorepo(url, servers)
        statuses(url, lambda_port, servers)
        required_checks(url, lambda_port, servers)
        next_steps()
    finally:
        for proc in reversed(procs):
            stop(proc)
    if MISSED:
        print(f"\nmake demo: {len(MISSED)} expected outcome(s) did not happen:", file=sys.stderr)
        for what in MISSED:
            print(f"   {what}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
