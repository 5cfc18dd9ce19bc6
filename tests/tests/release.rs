//! One version everywhere, and release artifacts that are the same bytes every time.
//!
//! The workspace version (Cargo.toml) is what `herald --version` prints, what each function logs
//! on its cold start, the stack output `HeraldVersion`, the template's Serverless Application
//! Repository `SemanticVersion`, and the newest entry of CHANGELOG.md. `scripts/release.py`
//! (what `make release` runs after the arm64 builds) zips bootstraps reproducibly, writes a
//! template pointing at the zips that cfn-lint passes, and SHA256SUMS that verify.

use herald_tests::runtime::{binary, Lambda};
use herald_tests::workspace;
use std::path::Path;
use std::process::Command;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn venv(name: &str) -> std::path::PathBuf {
    let path = workspace().join(".venv/bin").join(name);
    assert!(path.exists(), "{} not found: run `make test` (it installs the tools into .venv/)", path.display());
    path
}

/// The value after `key: ` on the first line of `text` under `after` that has it.
fn yaml_value<'a>(text: &'a str, after: &str, key: &str) -> Option<&'a str> {
    let start = text.find(after)?;
    text[start..].lines().find_map(|l| l.trim().strip_prefix(key).and_then(|v| v.strip_prefix(": ")))
}

#[test]
fn the_version_is_the_same_everywhere() {
    assert_ne!(VERSION, "0.0.0", "a released version");
    let template = std::fs::read_to_string(workspace().join("template.yaml")).unwrap();
    assert_eq!(yaml_value(&template, "AWS::ServerlessRepo::Application:", "SemanticVersion"), Some(VERSION));
    assert_eq!(yaml_value(&template, "\n  HeraldVersion:", "Value"), Some(VERSION));
    for key in [
        "Name",
        "Description",
        "Author",
        "SpdxLicenseId",
        "LicenseUrl",
        "ReadmeUrl",
        "Labels",
        "HomePageUrl",
        "SourceCodeUrl",
    ] {
        assert!(yaml_value(&template, "AWS::ServerlessRepo::Application:", key).is_some(), "{key}");
    }
    for file in ["LICENSE", "README.md"] {
        assert!(workspace().join(file).exists(), "the metadata uploads {file}");
    }
    let changelog = std::fs::read_to_string(workspace().join("CHANGELOG.md")).unwrap();
    let newest = changelog.lines().find(|l| l.starts_with("## [") && !l.starts_with("## [Unreleased]"));
    assert!(newest.is_some_and(|l| l.starts_with(&format!("## [{VERSION}] - "))), "{newest:?}");
    let out = Command::new(binary("herald")).arg("--version").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), format!("herald {VERSION}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_function_logs_its_version_on_a_cold_start() {
    let env = [
        ("HERALD_CONFIG", "{}"),
        ("HERALD_WEBHOOK_SECRET", "a-secret-of-sixteen-bytes-or-more"),
        ("HERALD_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:t"),
        ("HERALD_DEDUP_TABLE", "herald-dedup"),
        ("HERALD_STATUS_SECRET", "{}"),
    ];
    for function in ["git-webhook", "s3-trigger", "pipeline-notifier", "redeliver"] {
        // No AWS call is made before the first event: the endpoint is never asked.
        let lambda = Lambda::start(function, "http://127.0.0.1:9", &env).await;
        let mut waited = 0;
        while lambda.init_time().is_none() && waited < 100 {
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            waited += 1;
        }
        let logs = lambda.stop().await;
        let line =
            logs.lines().find(|l| l.contains("herald cold start")).unwrap_or_else(|| panic!("{function}: {logs}"));
        let fields =
            &serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("{e}: {line}"))["fields"];
        assert_eq!(
            (fields["function"].as_str(), fields["version"].as_str()),
            (Some(function), Some(VERSION)),
            "{line}"
        );
    }
}

fn release(bootstraps: &Path, out: &Path) -> std::process::Output {
    Command::new("python3")
        .arg(workspace().join("scripts/release.py"))
        .args(["--bootstraps", bootstraps.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .args(["--repository-url", "https://github.com/acme/herald"])
        .output()
        .expect("release.py runs")
}

#[test]
fn release_artifacts_are_reproducible_checked_and_lint_clean() {
    let dir = std::env::temp_dir().join(format!("herald-release-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let bootstraps = dir.join("lambda");
    for (i, function) in ["git-webhook", "s3-trigger", "pipeline-notifier", "redeliver"].iter().enumerate() {
        std::fs::create_dir_all(bootstraps.join(function)).unwrap();
        std::fs::write(
            bootstraps.join(function).join("bootstrap"),
            format!("#!/bin/sh\n# {function} {i}\n").repeat(100),
        )
        .unwrap();
    }
    let (first, second) = (dir.join("first"), dir.join("second"));
    let out = release(&bootstraps, &first);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // A second run, later: the same bytes (fixed timestamps, order and compression).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    assert!(release(&bootstraps, &second).status.success());
    let mut names: Vec<String> =
        std::fs::read_dir(&first).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    let zips: Vec<&String> = names.iter().filter(|n| n.ends_with(".zip")).collect();
    assert_eq!(
        zips,
        [
            &format!("herald-git-webhook-{VERSION}-arm64.zip"),
            &format!("herald-pipeline-notifier-{VERSION}-arm64.zip"),
            &format!("herald-redeliver-{VERSION}-arm64.zip"),
            &format!("herald-s3-trigger-{VERSION}-arm64.zip")
        ]
    );
    for name in &names {
        assert_eq!(
            std::fs::read(first.join(name)).unwrap(),
            std::fs::read(second.join(name)).unwrap(),
            "{name} differs between runs"
        );
    }
    // Each zip: one entry, bootstrap, executable, the bytes given.
    let listing = Command::new("python3")
        .arg("-c")
        .arg("import sys, zipfile\nfor p in sys.argv[1:]:\n  for i in zipfile.ZipFile(p).infolist(): print(p.rsplit('/',1)[1], i.filename, oct(i.external_attr >> 16), i.date_time, zipfile.ZipFile(p).read(i).decode()[:20].replace('\\n',' '))")
        .args(zips.iter().map(|z| first.join(z)))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert_eq!(listing.lines().count(), 4, "{listing}");
    for line in listing.lines() {
        assert!(line.contains(" bootstrap 0o100755 (1980, 1, 1, 0, 0, 0) #!/bin/sh"), "{line}");
    }
    let sums = Command::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(&first).output().unwrap();
    assert!(sums.status.success(), "{}", String::from_utf8_lossy(&sums.stdout));
    assert_eq!(
        String::from_utf8_lossy(&sums.stdout).lines().count(),
        names.len() - 1,
        "every file but SHA256SUMS is summed"
    );
    // The template: each function's code is its zip, the build metadata gone, the repository named.
    let template = std::fs::read_to_string(first.join("template.yaml")).unwrap();
    for zip in &zips {
        assert!(template.contains(&format!("      CodeUri: {zip}\n")), "{zip}");
    }
    assert!(!template.contains("BuildMethod") && !template.contains("CodeUri: .\n"), "{template}");
    assert!(template.contains("SourceCodeUrl: https://github.com/acme/herald") && !template.contains("YOUR-ORG"));
    let lint = Command::new(venv("cfn-lint")).arg(first.join("template.yaml")).output().unwrap();
    assert!(
        lint.status.success(),
        "cfn-lint: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );
    // A missing bootstrap, or versions that disagree, refuse.
    std::fs::remove_file(bootstraps.join("s3-trigger/bootstrap")).unwrap();
    let refused = release(&bootstraps, &dir.join("third"));
    assert!(
        !refused.status.success() && String::from_utf8_lossy(&refused.stderr).contains("no bootstrap for s3-trigger")
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `make demo` runs the binaries where cargo puts them, whatever `CARGO_TARGET_DIR` says.
#[test]
fn the_demo_asks_cargo_where_its_binaries_are() {
    let elsewhere = std::env::temp_dir().join(format!("herald-elsewhere-{}", std::process::id()));
    let out = Command::new("python3")
        .args(["-c", "import sys; sys.path.insert(0, 'scripts'); import demo; print(demo.target_dir())"])
        .current_dir(workspace())
        .env("CARGO_TARGET_DIR", &elsewhere)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), elsewhere.to_str().unwrap());
}
