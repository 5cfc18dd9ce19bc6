//! The moto AWS emulator, started on a free loopback port and stopped on drop.

use serde_json::Value;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

fn venv_bin(name: &str) -> PathBuf {
    let path = crate::workspace().join(".venv/bin").join(name);
    assert!(path.exists(), "{} not found: run `make test` (it installs moto into .venv/)", path.display());
    path
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("no free loopback port")
}

impl Moto {
    /// What an AWS client run by a test (the `herald` CLI, the SDK in the test process) needs to
    /// reach this moto: its endpoint, a region and test credentials.
    pub fn client_env(&self) -> [(&'static str, &str); 4] {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]
    }

    /// Starts moto and waits until it answers.
    pub fn start() -> Self {
        let port = free_port();
        // moto's own server plus the recorded-outcome shim (see the script's docstring).
        let server = crate::workspace().join("tests/support/moto_server.py");
        let child = Command::new(venv_bin("python"))
            .arg(server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("could not start tests/support/moto_server.py");
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start within 30 s");
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// Runs `tests/support/moto_ctl.py COMMAND ARGS...` against this server; its JSON answer.
    pub fn ctl(&self, args: &[&str]) -> Value {
        let script = crate::workspace().join("tests/support/moto_ctl.py");
        let out = Command::new(venv_bin("python"))
            .arg(script)
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("could not run moto_ctl.py");
        assert!(out.status.success(), "moto_ctl {args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice(&out.stdout).expect("moto_ctl printed no JSON")
    }

    /// The executions moto recorded for `pipeline`, oldest first: `[{id, variables}]`.
    pub fn executions(&self, pipeline: &str) -> Vec<Value> {
        match self.ctl(&["executions", pipeline]) {
            Value::Array(items) => items,
            other => panic!("unexpected executions answer {other}"),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
