//! Reading `l9.toml` and the environment.

use super::*;

fn write(dir: &Path, text: &str) {
    std::fs::create_dir_all(dir.join(STATE_DIR)).unwrap();
    std::fs::write(dir.join(STATE_DIR).join(CONFIG_FILE), text).unwrap();
}

#[test]
fn agents_settings_sit_beside_the_agents() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(dir.path(), &|_| None).unwrap();
    assert_eq!(c.commands, CommandPolicy::default());
    write(
        dir.path(),
        "[agents]\nsandbox = \"required\"\nallow_run = false\nnetwork = true\n\n[agents.mine]\ncommand = [\"my-agent\", \"{prompt}\"]\n",
    );
    let c = Config::load(dir.path(), &|_| None).unwrap();
    assert_eq!(
        c.commands,
        CommandPolicy {
            sandbox: SandboxMode::Required,
            allow_run: false,
            network: true,
            writable: Vec::new()
        }
    );
    let c = Config::load(dir.path(), &|v| match v {
        "L9_AGENTS_WRITABLE" => Some("~/.cargo, /var/cache/x".into()),
        "HOME" => Some("/home/me".into()),
        _ => None,
    })
    .unwrap();
    assert_eq!(
        c.commands.writable,
        vec![PathBuf::from("/home/me/.cargo"), PathBuf::from("/var/cache/x")]
    );
    assert!(c.models.agents.contains_key("mine") && c.models.agents.len() == 1);
    let c = Config::load(dir.path(), &|v| (v == "L9_SANDBOX").then(|| "off".into())).unwrap();
    assert_eq!(c.commands.sandbox, SandboxMode::Off);
    write(dir.path(), "[agents]\nsandbox = \"sometimes\"\n");
    let e = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
    assert!(
        e.contains("l9.toml:2") && e.contains("agents.sandbox") && e.contains("\"required\""),
        "{e}"
    );
}

#[test]
fn defaults_file_then_environment() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(dir.path(), &|_| None).unwrap();
    assert_eq!(c.store_url, "sqlite://.l9/l9.db");
    assert_eq!(c.embedder, EmbedderKind::Hash);
    write(dir.path(), &template(Some("postgres://x@h/db"), false));
    let c = Config::load(dir.path(), &|_| None).unwrap();
    assert_eq!(c.store_url, "postgres://x@h/db");
    let c = Config::load(dir.path(), &|v| (v == "L9_DB").then(|| "sqlite://other.db".to_owned()))
        .unwrap();
    assert_eq!(c.store_url, "sqlite://other.db");
}

#[test]
fn errors_name_file_line_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "[store]\nurl = \"sqlite://x\"\n\n[memory]\nembeder = \"hash\"\n");
    let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
    assert!(err.contains("l9.toml:5") && err.contains("unknown key \"memory.embeder\""), "{err}");
    write(dir.path(), "[memory]\ndims = 0\n");
    let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
    assert!(err.contains("l9.toml:2") && err.contains("memory.dims"), "{err}");
    write(dir.path(), "[memory\n");
    let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
    assert!(err.contains("l9.toml:1") && err.contains("not valid TOML"), "{err}");
    let err = Config::load(dir.path().join("nowhere").as_path(), &|v| {
        (v == "L9_EMBEDDER").then(|| "bogus".to_owned())
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains("environment variable L9_EMBEDDER"), "{err}");
}

#[test]
fn origins_and_the_collector_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "[serve]\ncors_origins = \"http://localhost:3000, https://app.example.com:8443\"\n\n[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/\"\n",
    );
    let c = Config::load(dir.path(), &|_| None).unwrap();
    assert_eq!(c.cors_origins, ["http://localhost:3000", "https://app.example.com:8443"]);
    assert_eq!(c.otlp_endpoint.as_deref(), Some("http://127.0.0.1:4318"));
    write(dir.path(), "[serve]\ncors_origins = \"localhost:3000\"\n");
    let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
    assert!(err.contains("l9.toml:2") && err.contains("serve.cors_origins"), "{err}");
    write(dir.path(), "[telemetry]\notlp_endpoint = \"grpc://x:4317\"\n");
    let err = Config::load(dir.path(), &|_| None).unwrap_err().to_string();
    assert!(err.contains("l9.toml:2") && err.contains("OTLP/HTTP base URL"), "{err}");
    let c = Config::load(dir.path().join("none").as_path(), &|_| None).unwrap();
    assert!(c.cors_origins.is_empty() && c.otlp_endpoint.is_none());
}
