"""`make demo`: Herald on this machine, against the moto AWS emulator, nothing deployed.

Starts moto on a free loopback port, creates demo pipelines and stores the configuration in SSM,
runs git-webhook as a real Lambda binary under cargo-lambda's runtime emulator (`cargo lambda
watch`), sends it signed sample deliveries over HTTP, and prints the answers and the pipeline
executions moto recorded, with their variables. Stops everything it started.
"""
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
SECRET = "herald-demo-secret"
SAMPLES = ["github-push", "gitlab-push", "bitbucket-server-branch-deleted"]
PIPELINES = ["demo-github", "demo-gitlab", "demo-bitbucket-server", "demo-deploy", "demo-data"]
BUCKET = "acme-artifacts"


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


def main():
    moto_port, lambda_port = free_port(), free_port()
    endpoint = f"http://127.0.0.1:{moto_port}"
    procs = []
    try:
        moto = subprocess.Popen([str(VENV_BIN / "python"), str(ROOT / "tests" / "support" / "moto_server.py"),
                                 "-H", "127.0.0.1", "-p", str(moto_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        procs.append(moto)
        wait_port(moto_port, 30, "moto", moto)
        print(f"moto AWS emulator on {endpoint}")
        for name in PIPELINES:
            ctl(endpoint, "create-pipeline", name, "PROVIDER", "EVENT", "REF", "COMMIT_ID")
        git = json.loads((ROOT / "events" / "herald-config.json").read_text())
        s3 = json.loads((ROOT / "events" / "s3-trigger" / "herald-config.json").read_text())
        config = {"triggers": git["triggers"] + s3["triggers"]}
        ctl(endpoint, "put-parameter", "/herald/demo/config", json.dumps(config))
        ctl(endpoint, "create-bucket", BUCKET)
        print(f"created pipelines {', '.join(PIPELINES)}; configuration in SSM /herald/demo/config")

        env_vars = ",".join([
            f"AWS_ENDPOINT_URL={endpoint}", "AWS_REGION=us-east-1", "AWS_ACCESS_KEY_ID=testing",
            "AWS_SECRET_ACCESS_KEY=testing", "HERALD_CONFIG_PARAMETER=/herald/demo/config",
            f"HERALD_WEBHOOK_SECRET={SECRET}", "RUST_LOG=warn",
        ])
        watch = subprocess.Popen(
            [str(VENV_BIN / "cargo-lambda"), "lambda", "watch", "--quiet", "--ignore-changes",
             "-A", "127.0.0.1", "-P", str(lambda_port), "--env-vars", env_vars],
            cwd=ROOT, stdout=subprocess.DEVNULL, start_new_session=True,
        )
        procs.append(watch)
        wait_port(lambda_port, 120, "cargo lambda watch", watch)
        url = f"http://127.0.0.1:{lambda_port}/lambda-url/git-webhook/"
        print(f"git-webhook under cargo-lambda's runtime emulator at {url} (first call compiles it)\n")

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
                rev = s.get("source_revision") or {}
                print(f"   started  {s['pipeline']:<24} pinned {rev.get('revision_type')}={rev.get('revision_value')}")
            for s in answer.get("skipped", []):
                print(f"   skipped  trigger {s['trigger']:<20} {s['reason']}")
        print("\nExecutions moto recorded:")
        for name in PIPELINES:
            for ex in ctl(endpoint, "executions", name):
                variables = ", ".join(f"{k}={v}" for k, v in sorted(ex["variables"].items()))
                print(f"   {name:<24} {ex['id']}  {variables}")
    finally:
        for proc in reversed(procs):
            stop(proc)


if __name__ == "__main__":
    main()
