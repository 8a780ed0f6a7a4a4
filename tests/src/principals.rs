//! Who makes each request of an end-to-end run. Every component signs with access
//! keys of its own, as each has its own role on AWS, and a recording proxy in front of
//! the local server writes down every request with the key that signed it. Afterwards
//! `tests/infra/iam_check.py` evaluates each request against that component's policy,
//! rendered from `infra/` with this run's names: a call the policy does not allow
//! fails the test, naming the action and the resource.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use feedpipe_shared::storage::S3Options;

use crate::{endpoint, python};

/// The components that have a role in `infra/`.
pub const COMPONENTS: [&str; 5] = [
    "ingest",
    "raw_to_parquet",
    "firehose",
    "backfill",
    "snowflake",
];

/// A component's access keys (the local server takes any).
#[derive(Debug, Clone)]
pub struct Principal {
    /// Its name in `infra/` terms (one of [`COMPONENTS`]).
    pub component: &'static str,
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl Principal {
    pub fn new(component: &'static str) -> Self {
        let tag: String = component
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .collect();
        Self {
            component,
            access_key_id: format!("AKIAFEEDPIPE{tag}"),
            secret_access_key: format!("secret-of-{component}"),
        }
    }

    /// SDK configuration signing as this principal, at `endpoint`.
    pub async fn sdk_config(&self, endpoint: &str) -> aws_config::SdkConfig {
        let credentials = aws_sdk_s3::config::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "feedpipe-test-principal",
        );
        aws_config::defaults(BehaviorVersion::latest())
            .endpoint_url(endpoint)
            .credentials_provider(credentials)
            .retry_config(RetryConfig::disabled())
            .load()
            .await
    }

    /// object_store settings signing as this principal, at `endpoint`.
    pub fn s3_options(&self, endpoint: &str) -> S3Options {
        S3Options::credentials(&self.access_key_id, &self.secret_access_key, None)
            .endpoint(endpoint)
    }
}

/// The recording proxy (`tests/py/fault_proxy.py --record`, no faults) in front of the
/// local server, stopped when dropped.
pub struct Recorder {
    child: Child,
    /// Where it listens.
    pub endpoint: String,
    /// One JSON line per request.
    pub log: PathBuf,
    _dir: tempfile::TempDir,
}

impl Recorder {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let log = dir.path().join("requests.jsonl");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/py/fault_proxy.py");
        let mut child = Command::new(python())
            .arg(script)
            .args(["--target", &endpoint(), "--port", "0", "--record"])
            .arg(&log)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the recording proxy");
        let stdout = child.stdout.take().expect("its stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("the proxy says where it listens");
        let port = line
            .trim()
            .strip_prefix("listening on 127.0.0.1:")
            .unwrap_or_else(|| panic!("the recording proxy did not start: {line:?}"))
            .to_owned();
        Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
            log,
            _dir: dir,
        }
    }
}

impl Recorder {
    /// Evaluates every recorded request against its component's policy, rendered from
    /// `infra/` with `names` (tests/infra/policies.py's schema), by
    /// `tests/infra/iam_check.py`: panics with its findings (a call a policy does not
    /// allow, names the action and the resource; a statement no call of `components`
    /// used; a trust policy that does not let the component assume its role). Returns
    /// its report.
    pub fn check(&self, names: &serde_json::Value, components: &[&'static str]) -> String {
        self.check_calls(names, components, true)
    }

    /// As [`Recorder::check`]; with `unused` false, only that every call is allowed
    /// (no statement is reported unused).
    pub fn check_calls(
        &self,
        names: &serde_json::Value,
        components: &[&'static str],
        unused: bool,
    ) -> String {
        let dir = self.log.parent().expect("the log's folder");
        let names_file = dir.join("names.json");
        std::fs::write(&names_file, names.to_string()).expect("write the names");
        let principals: serde_json::Map<String, serde_json::Value> = components
            .iter()
            .map(|c| {
                let p = Principal::new(c);
                (p.access_key_id, serde_json::Value::from(*c))
            })
            .collect();
        let principals_file = dir.join("principals.json");
        std::fs::write(
            &principals_file,
            serde_json::Value::Object(principals).to_string(),
        )
        .expect("write the principals");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/infra/iam_check.py");
        let out = Command::new(python())
            .arg(script)
            .arg("--log")
            .arg(&self.log)
            .arg("--names")
            .arg(&names_file)
            .arg("--principals")
            .arg(&principals_file)
            .args(if unused { None } else { Some("--no-unused") })
            .output()
            .expect("run tests/infra/iam_check.py");
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "a component made a call its policy in infra/ does not allow, or a grant is unused:\n{report}"
        );
        report
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
