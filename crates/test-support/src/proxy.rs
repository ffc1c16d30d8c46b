//! A TCP proxy on loopback that breaks the network between a client and a server on demand:
//! it cuts every open connection, stalls all traffic (both ways, the connections left open),
//! delays each forwarded chunk, or refuses new connections. Tests put it between L9 and the
//! PostgreSQL test cluster ([`FaultProxy::url`] rewrites a URL to go through it).
//!
//! Plain threads and `std::net`: two copying threads per connection, a flag each checks.

use std::io::{ErrorKind, Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

#[derive(Default)]
struct Faults {
    stalled: AtomicBool,
    refusing: AtomicBool,
    delay_ms: AtomicU64,
    closed: AtomicBool,
    /// Connections accepted, and cut by [`FaultProxy::cut`].
    accepted: AtomicU64,
    cut: AtomicU64,
    /// Both ends of every open connection (to cut them).
    open: Mutex<Vec<(TcpStream, TcpStream)>>,
}

/// The proxy; it stops (and closes every connection) when dropped.
pub struct FaultProxy {
    addr: SocketAddr,
    faults: Arc<Faults>,
}

impl std::fmt::Debug for FaultProxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultProxy").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl FaultProxy {
    /// A proxy on 127.0.0.1 (a free port) to `target`.
    pub fn start(target: impl ToSocketAddrs) -> std::io::Result<FaultProxy> {
        FaultProxy::start_on(IpAddr::from([127, 0, 0, 1]), target)
    }

    /// A proxy listening on `ip` (a free port) to `target`: e.g. the host end of a
    /// [`crate::NetNs`] link, so a process in that namespace reaches a server that listens on
    /// loopback only.
    pub fn start_on(ip: IpAddr, target: impl ToSocketAddrs) -> std::io::Result<FaultProxy> {
        let target = target
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::new(ErrorKind::NotFound, "no address"))?;
        let listener = TcpListener::bind(SocketAddr::from((ip, 0)))?;
        let addr = listener.local_addr()?;
        let faults = Arc::new(Faults::default());
        let f = faults.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                if f.closed.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(client) = client else { continue };
                if f.refusing.load(Ordering::SeqCst) {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                f.accepted.fetch_add(1, Ordering::SeqCst);
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                if let (Ok(c2), Ok(s2)) = (client.try_clone(), server.try_clone()) {
                    f.open.lock().unwrap_or_else(PoisonError::into_inner).push((c2, s2));
                }
                for (from, to) in [(&client, &server), (&server, &client)] {
                    if let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) {
                        let f = f.clone();
                        std::thread::spawn(move || pump(from, to, &f));
                    }
                }
            }
        });
        Ok(FaultProxy { addr, faults })
    }

    /// A proxy to the host and port of `url` (`postgres://user@host:port/db…`).
    pub fn for_url(url: &str) -> std::io::Result<FaultProxy> {
        FaultProxy::for_url_on(IpAddr::from([127, 0, 0, 1]), url)
    }

    /// [`FaultProxy::for_url`], listening on `ip`.
    pub fn for_url_on(ip: IpAddr, url: &str) -> std::io::Result<FaultProxy> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
        FaultProxy::start_on(ip, &host[..host.find(['/', '?']).unwrap_or(host.len())])
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `url` (`postgres://user@host:port/db…`) with its host and port replaced by the proxy's.
    pub fn url(&self, url: &str) -> String {
        let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
        let (auth, host_and_rest) = match rest.rsplit_once('@') {
            Some((a, h)) => (format!("{a}@"), h),
            None => (String::new(), rest),
        };
        let tail = host_and_rest.find(['/', '?']).map_or("", |i| &host_and_rest[i..]);
        format!("{scheme}://{auth}{}{tail}", self.addr)
    }

    /// Closes every open connection at once (both ends, as a broken network would).
    pub fn cut(&self) {
        let open: Vec<(TcpStream, TcpStream)> =
            std::mem::take(&mut *self.faults.open.lock().unwrap_or_else(PoisonError::into_inner));
        for (c, s) in open {
            let _ = c.shutdown(Shutdown::Both);
            let _ = s.shutdown(Shutdown::Both);
            self.faults.cut.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// Holds all traffic (`true`) or lets it flow again (`false`); connections stay open.
    pub fn stall(&self, on: bool) {
        self.faults.stalled.store(on, Ordering::SeqCst);
    }

    /// Delays every forwarded chunk by `d` (zero: none).
    pub fn delay(&self, d: Duration) {
        self.faults.delay_ms.store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Closes new connections as they come (`true`), or accepts them again.
    pub fn refuse(&self, on: bool) {
        self.faults.refusing.store(on, Ordering::SeqCst);
    }

    /// Connections accepted so far, and connections cut.
    pub fn counts(&self) -> (u64, u64) {
        (self.faults.accepted.load(Ordering::SeqCst), self.faults.cut.load(Ordering::SeqCst))
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.faults.closed.store(true, Ordering::SeqCst);
        self.stall(false);
        self.cut();
        // Wake the accept loop so it sees `closed`.
        let _ = TcpStream::connect(self.addr);
    }
}

/// Copies `from` to `to` until either end closes, honouring stalls and delays.
fn pump(mut from: TcpStream, mut to: TcpStream, f: &Faults) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while f.stalled.load(Ordering::SeqCst) && !f.closed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        // Data read before a stall is held too: a stalled network delivers nothing.
        while f.stalled.load(Ordering::SeqCst) && !f.closed.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
        let delay = f.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            std::thread::sleep(Duration::from_millis(delay));
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = from.shutdown(Shutdown::Both);
    let _ = to.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on loopback.
    fn echo() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut r = s.try_clone().unwrap();
                    let mut w = s;
                    let _ = std::io::copy(&mut r, &mut w);
                });
            }
        });
        addr
    }

    fn round_trip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg)?;
        let mut back = vec![0u8; msg.len()];
        s.read_exact(&mut back)?;
        Ok(back)
    }

    #[test]
    fn it_forwards_cuts_stalls_and_refuses() {
        let p = FaultProxy::start(echo()).unwrap();
        let mut c = TcpStream::connect(p.addr()).unwrap();
        c.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        assert_eq!(round_trip(&mut c, b"hello").unwrap(), b"hello");
        // A stall holds the answer; it comes once the stall ends.
        p.stall(true);
        c.write_all(b"later").unwrap();
        let mut buf = [0u8; 5];
        assert!(c.read_exact(&mut buf).is_err(), "nothing passes a stall");
        p.stall(false);
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        c.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"later");
        // A cut closes it.
        p.cut();
        let r = round_trip(&mut c, b"gone");
        assert!(r.is_err() || r.unwrap() != b"gone", "a cut connection still answered");
        assert_eq!(p.counts(), (1, 1));
        // Refused connections are closed at once; accepted again afterwards.
        p.refuse(true);
        let mut r = TcpStream::connect(p.addr()).unwrap();
        r.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        assert!(round_trip(&mut r, b"x").is_err());
        p.refuse(false);
        let mut ok = TcpStream::connect(p.addr()).unwrap();
        ok.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        p.delay(Duration::from_millis(20));
        assert_eq!(round_trip(&mut ok, b"slow").unwrap(), b"slow");
        assert_eq!(
            p.url("postgres://u:pw@127.0.0.1:5432/db?sslmode=disable"),
            format!("postgres://u:pw@{}/db?sslmode=disable", p.addr())
        );
    }
}
