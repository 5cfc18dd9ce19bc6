"""Regenerates events/git-webhook/: raw payloads and the signed Function URL events that carry them.

Payloads come from shared/tests/fixtures/webhooks/, a copy of ../shared/fixtures/webhooks/
(go-playground/webhooks test data, MIT licence:
see events/git-webhook/payloads/LICENSE.go-playground-webhooks). Every event is signed with the
demo secret "herald-demo-secret". Run: python3 events/generate.py
"""
import base64
import copy
import hashlib
import hmac
import json
import pathlib
import shutil

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "shared" / "tests" / "fixtures" / "webhooks"
OUT = HERE / "git-webhook"
SECRET = "herald-demo-secret"
# Standard Webhooks senders need a key of their own (`whsec_<base64>`): one key serves one kind of
# scheme. The demo's secret document lists both: {"secrets": [SECRET, GENERIC_KEY]}.
GENERIC_KEY = "whsec_aGVyYWxkLWRlbW8tZ2VuZXJpYy1rZXk="
GENERIC_SECRET_TIMESTAMP = 1795860000  # tests and the demo re-sign this one with the current time


def load(path):
    return json.loads((FIXTURES / path).read_text())


def tag_variant(doc, ref_field, tag):
    doc = copy.deepcopy(doc)
    doc[ref_field] = f"refs/tags/{tag}"
    return doc


def bbdc_update():
    doc = load("bitbucket-server/repo-refs-changed.json")
    doc["changes"][0].update({"type": "UPDATE", "toHash": "591f702354b3abf1faaca4d23811620d1b2ac984"})
    return doc


def hex_sig(body):
    return hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def headers_for(provider, event, delivery, body):
    if provider == "github":
        return {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": "sha256=" + hex_sig(body)}
    if provider == "gitlab":
        return {"X-Gitlab-Event": event, "X-Gitlab-Event-UUID": delivery, "X-Gitlab-Token": SECRET}
    if provider == "bitbucket-cloud":
        return {"X-Event-Key": event, "X-Request-UUID": delivery, "X-Hook-UUID": "hook-1", "X-Hub-Signature": "sha256=" + hex_sig(body)}
    if provider == "bitbucket-server":
        return {"X-Event-Key": event, "X-Request-Id": delivery, "X-Hub-Signature": "sha256=" + hex_sig(body)}
    if provider in ("gitea", "forgejo", "gogs"):
        prefix = {"gitea": "X-Gitea", "forgejo": "X-Forgejo", "gogs": "X-Gogs"}[provider]
        return {f"{prefix}-Event": event, f"{prefix}-Delivery": delivery, f"{prefix}-Signature": hex_sig(body)}
    if provider == "azure-devops":
        return {"Authorization": "Basic " + base64.b64encode(f"herald:{SECRET}".encode()).decode()}
    if provider == "generic":
        ts = str(GENERIC_SECRET_TIMESTAMP)
        key = base64.b64decode(GENERIC_KEY[len("whsec_"):])
        mac = hmac.new(key, f"{delivery}.{ts}.".encode() + body, hashlib.sha256).digest()
        return {"webhook-id": delivery, "webhook-timestamp": ts, "webhook-signature": "v1," + base64.b64encode(mac).decode()}
    raise ValueError(provider)


GENERIC_CHANGE = {
    "repository": "lab/tool",
    "ref": "refs/heads/main",
    "commit": "9fceb02d0ae598e95dc970b74767f19372d61af8",
    "changed_files": ["src/main.rs"],
    "author": "ci-bot",
    "message": "release candidate",
}

# name, provider, event header value, payload
SAMPLES = [
    ("github-push", "github", "push", load("github/push.json")),
    ("github-tag", "github", "push", tag_variant(load("github/push.json"), "ref", "v1.0.0")),
    ("github-pull-request", "github", "pull_request", load("github/pull-request.json")),
    ("github-ping", "github", "ping", load("github/ping.json")),
    ("gitlab-push", "gitlab", "Push Hook", load("gitlab/push-event.json")),
    ("gitlab-tag", "gitlab", "Tag Push Hook", load("gitlab/tag-event.json")),
    ("gitlab-merge-request", "gitlab", "Merge Request Hook", load("gitlab/merge-request-event.json")),
    ("bitbucket-cloud-push", "bitbucket-cloud", "repo:push", load("bitbucket/repo-push.json")),
    ("bitbucket-cloud-pull-request", "bitbucket-cloud", "pullrequest:created", load("bitbucket/pull-request-created.json")),
    ("bitbucket-server-push", "bitbucket-server", "repo:refs_changed", bbdc_update()),
    ("bitbucket-server-branch-deleted", "bitbucket-server", "repo:refs_changed", load("bitbucket-server/repo-refs-changed.json")),
    ("bitbucket-server-pull-request", "bitbucket-server", "pr:opened", load("bitbucket-server/pr-opened.json")),
    ("bitbucket-server-ping", "bitbucket-server", "diagnostics:ping", {"test": True}),
    ("gitea-push", "gitea", "push", load("gitea/push-event.json")),
    ("gitea-tag", "gitea", "push", tag_variant(load("gitea/push-event.json"), "ref", "v0.1.0")),
    ("gitea-pull-request", "gitea", "pull_request", load("gitea/pull-request-event.json")),
    ("forgejo-push", "forgejo", "push", load("gitea/push-event.json")),
    ("gogs-push", "gogs", "push", load("gogs/push-event.json")),
    ("gogs-pull-request", "gogs", "pull_request", load("gogs/pull-request-event.json")),
    ("azure-devops-push", "azure-devops", None, load("azuredevops/git.push.json")),
    ("azure-devops-pull-request", "azure-devops", None, load("azuredevops/git.pullrequest.created.json")),
    ("generic-push", "generic", None, GENERIC_CHANGE),
]


def function_url_event(headers, body):
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {k.lower(): v for k, v in {**headers, "Content-Type": "application/json", "User-Agent": "herald-sample"}.items()},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "herald-url",
            "domainName": "herald-url.lambda-url.us-east-1.on.aws",
            "domainPrefix": "herald-url",
            "http": {"method": "POST", "path": "/", "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "herald-sample"},
            "requestId": "sample",
            "routeKey": "$default",
            "stage": "$default",
            "time": "27/Nov/2026:10:00:00 +0000",
            "timeEpoch": 1795860000000,
        },
        "body": body.decode(),
        "isBase64Encoded": False,
    }


def main():
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / "payloads").mkdir(parents=True)
    shutil.copy(FIXTURES / "LICENSE.go-playground-webhooks", OUT / "payloads" / "LICENSE.go-playground-webhooks")
    for i, (name, provider, event, payload) in enumerate(SAMPLES, start=1):
        body = json.dumps(payload, indent=2).encode()
        (OUT / "payloads" / f"{name}.json").write_bytes(body)
        delivery = f"sample-{i:02d}-{name}"
        event_doc = function_url_event(headers_for(provider, event, delivery, body), body)
        (OUT / f"{name}.json").write_text(json.dumps(event_doc, indent=2) + "\n")
    print(f"wrote {len(SAMPLES)} events to {OUT}")


if __name__ == "__main__":
    main()
