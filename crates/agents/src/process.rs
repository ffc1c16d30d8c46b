//! The process seam: every command L9 runs for an agent (tools, gates, git, external agents)
//! goes through [`Runner`], with a timeout, an output cap, an environment allow-list and a
//! working directory. [`SystemRunner`] is the only place that spawns processes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{AgentError, Result};

/// What to run.
#[derive(Debug, Clone)]
pub struct CommandSpec {
    pub program: String,
    pub args: Vec<String>,
    pub cwd: PathBuf,
    /// The only environment the process sees (plus PATH and HOME from ours unless set).
    pub env: BTreeMap<String, String>,
    pub stdin: Option<String>,
    pub timeout: Duration,
    /// Bytes kept of stdout and of stderr each; the rest is read, counted and dropped with a
    /// marker naming [`CommandSpec::cap_setting`].
    pub output_cap: usize,
    /// The limit `output_cap` came from, named by the marker of a cut.
    pub cap_setting: &'static l9_types::limits::Limit,
    /// A file that receives stdout and stderr as they arrive (created anew), so the
    /// command can be followed while it runs (`l9 run`, `l9 watch` show a gate's output).
    pub tee: Option<PathBuf>,
    /// Confinement ([`Sandbox`]); `None` runs the command as L9 itself runs.
    pub sandbox: Option<Sandbox>,
}

/// Where a command may reach, enforced by bubblewrap (`bwrap`, Debian's `bubblewrap`): the
/// file system read-only but for `writable`, `/tmp` private and empty (git's own directories
/// the writable ones need are bound read-only into it), `hidden` directories replaced by
/// empty ones, its own PID, IPC and UTS namespaces, and no network unless `network`. When
/// L9 dies, the whole namespace dies with it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Sandbox {
    pub writable: Vec<PathBuf>,
    /// Read-only even inside `/tmp` (a worktree's repository).
    pub readable: Vec<PathBuf>,
    pub hidden: Vec<PathBuf>,
    pub network: bool,
}

impl Sandbox {
    /// A sandbox for commands in a git worktree (or any directory): it may write there; the
    /// repository the worktree belongs to is readable (git works, read-only).
    pub fn for_dir(dir: &std::path::Path) -> Sandbox {
        let mut readable = Vec::new();
        if let Ok(text) = std::fs::read_to_string(dir.join(".git"))
            && let Some(gitdir) = text.trim().strip_prefix("gitdir:")
        {
            // `<repo>/.git/worktrees/<name>`: the repository's `.git` holds the objects.
            let gitdir = dir.join(gitdir.trim());
            if let Some(common) = gitdir.parent().and_then(|w| w.parent()) {
                readable.push(common.to_path_buf());
            }
        }
        Sandbox { writable: vec![dir.to_path_buf()], readable, hidden: Vec::new(), network: false }
    }

    /// `bwrap` arguments that run `program args…` in this sandbox from `cwd`.
    fn bwrap_args(&self, cwd: &std::path::Path) -> Vec<String> {
        let mut a: Vec<String> = [
            "--die-with-parent",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
            "--tmpfs",
            "/tmp",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        if !self.network {
            a.push("--unshare-net".into());
        }
        let existing = |p: &PathBuf| p.exists().then(|| p.display().to_string());
        for r in self.readable.iter().filter_map(existing) {
            a.extend(["--ro-bind".into(), r.clone(), r]);
        }
        for w in self.writable.iter().filter_map(existing) {
            a.extend(["--bind".into(), w.clone(), w]);
        }
        for h in self.hidden.iter().filter_map(existing) {
            a.extend(["--tmpfs".into(), h]);
        }
        a.extend(["--chdir".into(), cwd.display().to_string(), "--".into()]);
        a
    }
}

/// Whether commands can be confined here: the `bwrap` to use, or why not. Tried once per
/// process (bubblewrap needs user namespaces, or root, to work).
pub fn sandbox_available() -> std::result::Result<String, String> {
    static FOUND: std::sync::OnceLock<std::result::Result<String, String>> =
        std::sync::OnceLock::new();
    FOUND.get_or_init(probe_bwrap).clone()
}

#[allow(clippy::disallowed_methods)] // the process seam itself
fn probe_bwrap() -> std::result::Result<String, String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let Some(bwrap) = std::env::split_paths(&path)
        .chain(["/usr/bin".into(), "/bin".into()])
        .map(|d| d.join("bwrap"))
        .find(|p| p.is_file())
    else {
        return Err("bubblewrap (bwrap) is not installed".into());
    };
    let o = std::process::Command::new(&bwrap)
        .args(["--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--", "true"])
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("{} cannot start: {e}", bwrap.display()))?;
    if o.status.success() {
        Ok(bwrap.display().to_string())
    } else {
        Err(format!(
            "{} does not work here: {}",
            bwrap.display(),
            String::from_utf8_lossy(&o.stderr).trim()
        ))
    }
}

impl CommandSpec {
    pub fn new(program: impl Into<String>, args: &[&str], cwd: impl Into<PathBuf>) -> Self {
        CommandSpec {
            program: program.into(),
            args: args.iter().map(|a| a.to_string()).collect(),
            cwd: cwd.into(),
            env: BTreeMap::new(),
            stdin: None,
            timeout: Duration::from_secs(600),
            output_cap: l9_types::limits::COMMAND_OUTPUT_BYTES.get_usize(),
            cap_setting: &l9_types::limits::COMMAND_OUTPUT_BYTES,
            tee: None,
            sandbox: None,
        }
    }

    /// `sh -c SCRIPT`.
    pub fn shell(script: &str, cwd: impl Into<PathBuf>) -> Self {
        Self::new("sh", &["-c", script], cwd)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    /// `None` when killed by a signal or the timeout.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    /// The limit the command ran into when `timed_out`.
    pub timeout: Option<Duration>,
}

impl Output {
    pub fn success(&self) -> bool {
        self.code == Some(0) && !self.timed_out
    }

    /// stdout and stderr together, for a model or a log.
    pub fn combined(&self) -> String {
        let mut s = self.stdout.clone();
        if !self.stderr.is_empty() {
            if !s.is_empty() && !s.ends_with('\n') {
                s.push('\n');
            }
            s.push_str(&self.stderr);
        }
        if self.timed_out {
            match self.timeout {
                Some(t) if t.subsec_millis() == 0 => {
                    s.push_str(&format!("\n[timed out after {}s]", t.as_secs()));
                }
                Some(t) => s.push_str(&format!("\n[timed out after {}ms]", t.as_millis())),
                None => s.push_str("\n[timed out]"),
            }
        }
        s
    }
}

#[async_trait]
pub trait Runner: Send + Sync + std::fmt::Debug {
    async fn run(&self, cmd: &CommandSpec) -> Result<Output>;
}

/// Variables passed through from L9's own environment when a command does not set them.
pub const PASSED_THROUGH: &[&str] =
    &["PATH", "HOME", "LANG", "TMPDIR", "CARGO_HOME", "RUSTUP_HOME"];

#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

/// The bytes kept, and a marker of how many more there were and what sets the cap.
fn cap(kept: &[u8], total: usize, setting: &l9_types::limits::Limit) -> String {
    let mut s = String::from_utf8_lossy(kept).into_owned();
    if total > kept.len() {
        s.push_str(&format!(
            "\n[… {} more bytes cut; {} keeps {} bytes]",
            total - kept.len(),
            setting.env,
            kept.len()
        ));
    }
    s
}

type Tee = std::sync::Arc<std::sync::Mutex<std::fs::File>>;

/// What a pipe gave so far: the first bytes (up to the cap) and how many there were in all.
type Captured = std::sync::Arc<std::sync::Mutex<(Vec<u8>, usize)>>;

/// Reads a pipe to its end: keeps the first `limit` bytes in `into` (memory stays bounded
/// whatever the command prints; what was read is there even if the command is cut off by its
/// timeout), counts the rest, and copies every chunk to `tee`.
async fn drain<R: tokio::io::AsyncRead + Unpin>(
    pipe: Option<R>,
    limit: usize,
    tee: Option<Tee>,
    into: Captured,
) {
    use std::io::Write as _;
    use tokio::io::AsyncReadExt;
    let Some(mut pipe) = pipe else { return };
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match pipe.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Ok(mut c) = into.lock() {
            c.1 += n;
            if c.0.len() < limit {
                let take = n.min(limit - c.0.len());
                c.0.extend_from_slice(&chunk[..take]);
            }
        }
        if let Some(t) = &tee
            && let Ok(mut f) = t.lock()
        {
            let _ = f.write_all(&chunk[..n]);
        }
    }
}

fn captured(c: &Captured, setting: &l9_types::limits::Limit) -> String {
    c.lock().map(|c| cap(&c.0, c.1, setting)).unwrap_or_default()
}

#[async_trait]
impl Runner for SystemRunner {
    #[allow(clippy::disallowed_methods)] // the process seam itself
    async fn run(&self, cmd: &CommandSpec) -> Result<Output> {
        use tokio::io::AsyncWriteExt;
        // L9's own git bookkeeping is left to finish when L9 dies: it is short, and a git
        // killed half-way leaves `index.lock` files and half-registered worktrees behind
        // that the next run trips over (a user's gate calling git runs under `sh`, guarded).
        let guard =
            if cmd.program == "git" || cmd.sandbox.is_some() { None } else { parent_death_guard() };
        let mut c = match (&cmd.sandbox, guard) {
            // Confined: bubblewrap's PID namespace dies with L9 (`--die-with-parent`).
            (Some(sandbox), _) => {
                let bwrap = sandbox_available().map_err(|why| AgentError::Spawn {
                    program: cmd.program.clone(),
                    message: format!(
                        "cannot confine the command: {why} (install Debian's `bubblewrap`, or set [agents] sandbox = \"off\" in .l9/l9.toml to run commands unconfined)"
                    ),
                })?;
                resolve_program(cmd)?;
                let mut c = tokio::process::Command::new(bwrap);
                c.args(sandbox.bwrap_args(&cmd.cwd));
                c.arg(&cmd.program);
                c.args(&cmd.args);
                c
            }
            // A command must not outlive L9: when the thread that started it dies (l9 killed,
            // even by SIGKILL), the guard shell gets SIGTERM and kills the command's whole
            // process group. A program that cannot be found is reported as before, not by sh.
            (None, Some(setpriv)) => {
                resolve_program(cmd)?;
                let mut c = tokio::process::Command::new(setpriv);
                c.args(["--pdeathsig", "TERM", "--", "/bin/sh", "-c", GUARD, "sh", &cmd.program]);
                c.args(&cmd.args);
                c
            }
            (None, None) => {
                let mut c = tokio::process::Command::new(&cmd.program);
                c.args(&cmd.args);
                c
            }
        };
        c.current_dir(&cmd.cwd).env_clear().kill_on_drop(true);
        // A process group of its own: a terminal's Ctrl-C reaches l9 alone, which stops
        // its work in order (an interrupted step is re-run on resume, not recorded as a
        // failure of the command).
        #[cfg(unix)]
        c.process_group(0);
        for var in PASSED_THROUGH {
            if let Ok(v) = std::env::var(var) {
                c.env(var, v);
            }
        }
        c.envs(&cmd.env);
        c.stdin(if cmd.stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        });
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let mut child = c.spawn().map_err(|e| AgentError::Spawn {
            program: cmd.program.clone(),
            message: e.to_string(),
        })?;
        if let (Some(input), Some(mut stdin)) = (&cmd.stdin, child.stdin.take()) {
            let _ = stdin.write_all(input.as_bytes()).await;
        }
        let tee: Option<Tee> = cmd
            .tee
            .as_ref()
            .and_then(|p| std::fs::File::create(p).ok())
            .map(|f| std::sync::Arc::new(std::sync::Mutex::new(f)));
        // A step cancelled half-way (its future dropped) takes the command's group with it.
        let mut group =
            GroupGuard(if guard.is_some() || cmd.sandbox.is_some() { child.id() } else { None });
        let (out, err) = (child.stdout.take(), child.stderr.take());
        let (o, e): (Captured, Captured) = Default::default();
        let work = async {
            let ((), (), status) = tokio::join!(
                drain(out, cmd.output_cap, tee.clone(), o.clone()),
                drain(err, cmd.output_cap, tee.clone(), e.clone()),
                child.wait()
            );
            status
        };
        let ran = tokio::time::timeout(cmd.timeout, work).await;
        if matches!(ran, Ok(Ok(_))) {
            // Ended on its own: its group id may be reused, so nothing is killed.
            group.0 = None;
        }
        match ran {
            Ok(Ok(status)) => Ok(Output {
                code: status.code(),
                stdout: captured(&o, cmd.cap_setting),
                stderr: captured(&e, cmd.cap_setting),
                timed_out: false,
                timeout: None,
            }),
            Ok(Err(e)) => {
                Err(AgentError::Spawn { program: cmd.program.clone(), message: e.to_string() })
            }
            // The child is killed when its handle drops (kill_on_drop), and the rest of its
            // group with it; what it printed until then is kept.
            Err(_) => {
                #[cfg(unix)]
                if let Some(pid) = child.id() {
                    kill_group(pid);
                }
                Ok(Output {
                    code: None,
                    stdout: captured(&o, cmd.cap_setting),
                    stderr: captured(&e, cmd.cap_setting),
                    timed_out: true,
                    timeout: Some(cmd.timeout),
                })
            }
        }
    }
}

/// The guard a command runs under (see [`parent_death_guard`]): it waits for the command
/// and, sent SIGTERM when L9 dies, kills the command's process group — itself included.
/// The command's stdin is handed over on fd 3 (an asynchronous list would get /dev/null).
const GUARD: &str = "trap 'kill -KILL 0' TERM; exec 3<&0; \"$@\" <&3 3<&- & wait $!";

/// `setpriv` (util-linux, on every Debian system), which sets the parent-death signal
/// without unsafe code in L9; `None` where it is missing (commands then run unguarded).
fn parent_death_guard() -> Option<&'static str> {
    static FOUND: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| {
            if !cfg!(target_os = "linux") {
                return None;
            }
            let path = std::env::var("PATH").unwrap_or_default();
            std::env::split_paths(&path)
                .chain(["/usr/bin".into(), "/bin".into()])
                .map(|d| d.join("setpriv"))
                .find(|p| p.is_file())
                .map(|p| p.display().to_string())
        })
        .as_deref()
}

/// The program of `cmd` exists (on the command's PATH when it names no directory): the
/// error a direct spawn would give, before the guard shell would say "not found".
fn resolve_program(cmd: &CommandSpec) -> Result<()> {
    let missing = || AgentError::Spawn {
        program: cmd.program.clone(),
        message: "No such file or directory (os error 2)".into(),
    };
    if cmd.program.contains('/') {
        let p = std::path::Path::new(&cmd.program);
        let p = if p.is_absolute() { p.to_path_buf() } else { cmd.cwd.join(p) };
        return if p.exists() { Ok(()) } else { Err(missing()) };
    }
    let path =
        cmd.env.get("PATH").cloned().or_else(|| std::env::var("PATH").ok()).unwrap_or_default();
    if std::env::split_paths(&path).any(|d| d.join(&cmd.program).is_file()) {
        Ok(())
    } else {
        Err(missing())
    }
}

/// Kills the command's process group when dropped armed (a cancelled step).
struct GroupGuard(Option<u32>);

impl Drop for GroupGuard {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.take() {
            kill_group(pid);
        }
    }
}

/// Kills a process group (the command's own, see `process_group(0)`): a gate or agent that
/// timed out leaves no grandchildren running.
#[cfg(unix)]
#[allow(clippy::disallowed_methods)] // the process seam itself
fn kill_group(pid: u32) {
    let _ = std::process::Command::new("sh")
        .args(["-c", &format!("kill -KILL -- -{pid} 2>/dev/null")])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
