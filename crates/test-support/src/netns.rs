//! A network namespace of its own for a process under test (`ip netns`), joined to this one by
//! a veth pair: the process reaches this namespace at [`NetNs::host_ip`] and nothing else, and
//! [`NetNs::cut`] takes the link down, so the kernel drops its traffic both ways while its
//! connections stay open (a partition, not a reset). Needs root (CAP_NET_ADMIN) and iproute2;
//! [`NetNs::create`] says why it cannot be had, and the namespace and its link are removed on
//! drop.

use std::net::Ipv4Addr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// A namespace and the host end of its link.
#[derive(Debug)]
pub struct NetNs {
    name: String,
    host_if: String,
    host_ip: Ipv4Addr,
}

#[allow(clippy::disallowed_methods)] // the fixture's own subprocesses: iproute2
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip` (iproute2): {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "`ip {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl NetNs {
    /// A new namespace with a /30 link to this one; `Err` says why not (not root, no
    /// iproute2, no permission to make namespaces). Names and addresses are unique to this
    /// process and call (`10.213.N.1` here, `.2` inside).
    pub fn create() -> Result<NetNs, String> {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        // Interface names are at most 15 bytes; the /30 is chosen by pid and call so that
        // concurrent test processes do not collide (a collision fails `ip addr add`).
        let slot = (pid.wrapping_mul(7).wrapping_add(n)) % (64 * 256);
        let host_ip = Ipv4Addr::new(10, 213, (slot / 64) as u8, ((slot % 64) * 4 + 1) as u8);
        let inner_ip = Ipv4Addr::from(u32::from(host_ip) + 1);
        let ns = NetNs {
            name: format!("l9t-{pid}-{n}"),
            host_if: format!("l9h{:x}", (pid << 6) | (n & 63)),
            host_ip,
        };
        let inner_if = format!("l9n{:x}", (pid << 6) | (n & 63));
        ip(&["netns", "add", &ns.name])?;
        // From here on, dropping `ns` cleans up whatever was made.
        ip(&["link", "add", &ns.host_if, "type", "veth", "peer", "name", &inner_if])?;
        ip(&["link", "set", &inner_if, "netns", &ns.name])?;
        ip(&["addr", "add", &format!("{host_ip}/30"), "dev", &ns.host_if])?;
        ip(&["link", "set", &ns.host_if, "up"])?;
        let inside = |args: &[&str]| {
            let mut all = vec!["netns", "exec", ns.name.as_str(), "ip"];
            all.extend_from_slice(args);
            ip(&all)
        };
        inside(&["addr", "add", &format!("{inner_ip}/30"), "dev", &inner_if])?;
        inside(&["link", "set", &inner_if, "up"])?;
        inside(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// This namespace's address on the link: what a process inside connects to.
    pub fn host_ip(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// The namespace's name (`ip netns exec NAME …`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A command that runs `program` inside the namespace (`ip netns exec` replaces itself
    /// with it, so the child's pid and parent are the program's).
    #[allow(clippy::disallowed_methods)] // the fixture's subprocess seam
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name]).arg(program);
        c
    }

    /// Takes the link down (`true`: every packet between the namespaces is dropped, open
    /// connections hang) or up again.
    pub fn cut(&self, on: bool) -> Result<(), String> {
        ip(&["link", "set", &self.host_if, if on { "down" } else { "up" }])
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both; the namespace's own teardown is
        // deferred by the kernel, so the host end is not left to it.
        let _ = ip(&["link", "del", &self.host_if]);
        let _ = ip(&["netns", "del", &self.name]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{SocketAddr, TcpListener};

    /// A process inside reaches this namespace over the link, and not once it is cut.
    #[test]
    fn a_process_inside_reaches_the_host_end_until_the_link_is_cut() {
        let ns = match NetNs::create() {
            Ok(ns) => ns,
            Err(why) => {
                eprintln!("note: skipping a network-namespace test: {why}");
                return;
            }
        };
        let l = TcpListener::bind(SocketAddr::from((ns.host_ip(), 0))).unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let _ = s.and_then(|mut s| s.write_all(b"hello"));
            }
        });
        let probe = |timeout: u32| {
            let out = ns
                .command("bash")
                .args([
                    "-c",
                    &format!(
                        "timeout {timeout} bash -c 'exec 3<>/dev/tcp/{}/{port} && head -c5 <&3'",
                        ns.host_ip()
                    ),
                ])
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout) == "hello"
        };
        assert!(probe(5), "a process inside did not reach the host end");
        ns.cut(true).unwrap();
        assert!(!probe(1), "reached the host across a cut link");
        ns.cut(false).unwrap();
        assert!(probe(5), "the link did not come back");
    }
}
