//! The translated template deployed into moto, and its values resolved against the
//! stack as CloudFormation would (`Ref`, `Fn::If`, `Fn::Sub`, conditions).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use comms_aws::{DynamoStore, emulator_config};
use comms_core::domain::tenant::TenantConfig;
use comms_core::ports::TenantDirectory;
use comms_testkit::moto::Moto;
use comms_testkit::{OpenAiStub, TwilioStub};
use serde_json::Value;

use super::AUTH_TOKEN;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// A Python with aws-sam-translator and boto3: `COMMS_TEMPLATE_PYTHON`, the worktree's
/// `.venv`, moto's own environment, or `python3`. `None` (the test skips) when there is
/// none, except under `CI=true`.
pub fn python() -> Option<String> {
    let mut candidates: Vec<String> = std::env::var("COMMS_TEMPLATE_PYTHON").into_iter().collect();
    candidates.push(root().join(".venv/bin/python").display().to_string());
    if let Ok(moto) = std::env::var("COMMS_MOTO_SERVER") {
        candidates.push(Path::new(&moto).with_file_name("python").display().to_string());
    }
    candidates.push("python3".into());
    let found = candidates.into_iter().find(|py| {
        Command::new(py)
            .args(["-c", "import samtranslator, boto3"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if found.is_none() {
        assert!(
            !matches!(std::env::var("CI").as_deref(), Ok("true")),
            "no Python with aws-sam-translator and boto3 and CI=true"
        );
        eprintln!("SKIPPED: no Python with aws-sam-translator and boto3 (set COMMS_TEMPLATE_PYTHON)");
    }
    found
}

/// The template translated from SAM to CloudFormation, as `sam deploy` hands it over.
pub fn translated(py: &str, dir: &Path) -> (PathBuf, Value) {
    let out = dir.join("template.cfn.json");
    let status = Command::new(py)
        .arg(root().join("scripts/check-template.py"))
        .arg("--translate")
        .arg(root().join("infra/template.yaml"))
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success(), "translation failed");
    let template = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    (out, template)
}

/// A stack created in moto, and how to resolve the template's values against it.
pub struct Stack {
    pub template: Value,
    /// What `scripts/moto-stack.py` reported.
    pub report: Value,
    pub name: String,
    pub parameters: BTreeMap<String, String>,
}

impl Stack {
    pub fn deploy(py: &str, moto: &Moto, dir: &Path, name: &str) -> Stack {
        let (path, template) = translated(py, dir);
        let out = Command::new(py)
            .arg(root().join("scripts/moto-stack.py"))
            .args([&moto.endpoint, path.to_str().unwrap(), name, "--disable-mappings"])
            .stderr(Stdio::inherit())
            .output()
            .unwrap();
        assert!(out.status.success(), "moto-stack.py failed");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        Stack { template, report, name: name.to_owned(), parameters: BTreeMap::new() }
    }

    /// The stack as a redeploy with these parameter values would configure it.
    pub fn with_parameter(&self, key: &str, value: &str) -> Stack {
        let mut parameters = self.parameters.clone();
        parameters.insert(key.into(), value.into());
        Stack {
            template: self.template.clone(),
            report: self.report.clone(),
            name: self.name.clone(),
            parameters,
        }
    }

    pub fn physical(&self, logical: &str) -> String {
        let p = self.report["resources"][logical]["physical"].as_str();
        p.unwrap_or_else(|| panic!("no physical id for {logical}")).to_owned()
    }

    pub fn parameter(&self, name: &str) -> Option<String> {
        if let Some(v) = self.parameters.get(name) {
            return Some(v.clone());
        }
        let default = self.template["Parameters"].get(name)?.get("Default")?;
        Some(match default {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }

    pub fn reference(&self, name: &str) -> Option<String> {
        match name {
            "AWS::NoValue" => None,
            "AWS::StackName" => Some(self.name.clone()),
            "AWS::Region" => Some("us-east-1".into()),
            "AWS::AccountId" => Some(self.report["account"].as_str().unwrap().into()),
            "AWS::Partition" => Some("aws".into()),
            _ => Some(self.parameter(name).unwrap_or_else(|| self.physical(name))),
        }
    }

    /// A template value with `Ref`, `Fn::If`, `Fn::Sub` resolved; `None` is
    /// `AWS::NoValue` (the key is not set at all).
    pub fn resolve(&self, v: &Value) -> Option<String> {
        match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            Value::Object(o) if o.len() == 1 => {
                let (f, arg) = o.iter().next().unwrap();
                match f.as_str() {
                    "Ref" => self.reference(arg.as_str().unwrap()),
                    "Fn::If" => {
                        let branch = if self.condition(arg[0].as_str().unwrap()) { &arg[1] } else { &arg[2] };
                        self.resolve(branch)
                    }
                    "Fn::Sub" => {
                        let mut s = arg.as_str().unwrap().to_owned();
                        while let Some(start) = s.find("${") {
                            let end = start + s[start..].find('}').unwrap();
                            let value = self.reference(&s[start + 2..end]).unwrap();
                            s.replace_range(start..=end, &value);
                        }
                        Some(s)
                    }
                    other => panic!("unsupported in an environment value: {other}"),
                }
            }
            other => panic!("unsupported environment value {other}"),
        }
    }

    pub fn condition(&self, name: &str) -> bool {
        self.truth(&self.template["Conditions"][name])
    }

    pub fn truth(&self, v: &Value) -> bool {
        let (f, arg) = v.as_object().unwrap().iter().next().unwrap();
        match f.as_str() {
            "Fn::Not" => !self.truth(&arg[0]),
            "Fn::Equals" => self.resolve(&arg[0]) == self.resolve(&arg[1]),
            "Fn::And" => arg.as_array().unwrap().iter().all(|c| self.truth(c)),
            "Fn::Or" => arg.as_array().unwrap().iter().any(|c| self.truth(c)),
            "Condition" => self.condition(arg.as_str().unwrap()),
            other => panic!("unsupported condition {other}"),
        }
    }

    /// Exactly the environment the template gives the function `logical`.
    pub fn environment(&self, logical: &str) -> BTreeMap<String, String> {
        let vars = &self.template["Resources"][logical]["Properties"]["Environment"]["Variables"];
        vars.as_object()
            .unwrap()
            .iter()
            .filter_map(|(k, v)| self.resolve(v).map(|v| (k.clone(), v)))
            .collect()
    }
}

/// moto, a stack named `comms` with the default parameters, the demo tenant and its
/// secrets in it, and the stubs.
pub struct World {
    pub moto: Moto,
    pub stack: Stack,
    pub config: aws_config::SdkConfig,
    pub openai: OpenAiStub,
    pub twilio: TwilioStub,
    _dir: tempfile::TempDir,
}

pub async fn world() -> Option<World> {
    let py = python()?;
    let moto = Moto::start().await?;
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::deploy(&py, &moto, dir.path(), "comms");
    assert_eq!(stack.report["status"], "CREATE_COMPLETE", "{:#}", stack.report);
    let config = emulator_config(&moto.endpoint).await;
    let tenant =
        TenantConfig::from_json(include_str!("../../../samples/tenants/demo-repair-shop.json")).unwrap();
    DynamoStore::new(&config, &stack.physical("DataTable")).put(&tenant).await.unwrap();
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    for (name, value) in [
        (
            tenant.credentials.twilio.clone().unwrap(),
            format!(r#"{{"account_sid": "ACtest", "auth_token": "{AUTH_TOKEN}"}}"#),
        ),
        ("openai-api-key/sms".to_owned(), "sk-test".to_owned()),
    ] {
        sm.create_secret().name(name).secret_string(value).send().await.unwrap();
    }
    let openai = OpenAiStub::start(vec![]).await;
    let twilio = TwilioStub::start().await;
    Some(World { moto, stack, config, openai, twilio, _dir: dir })
}
