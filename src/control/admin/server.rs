//! The operator socket's own thread: accepts, checks the peer, reads the line, hands the
//! parsed command to the control loop through a bounded channel and writes its reply
//! back. The control loop only executes commands ([`Server::poll`]); it never does
//! socket I/O, so a slow or silent client cannot stall it.

use super::{parse, Command, CommandError};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// Commands waiting for the control loop at most (more: the client gets "busy").
const QUEUE: usize = 32;
/// Connections being served at once at most (more: refused, "busy").
const MAX_CONNECTIONS: usize = 16;
/// Commands the control loop executes per iteration at most.
pub const PER_POLL: usize = 4;
/// How long a client has to send its line, and to take its reply.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a connection waits for the control loop's reply.
const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

/// Refusals and failures on the operator socket (`msm ctl stats`: `control.admin_*`).
#[derive(Debug, Default)]
pub struct AdminCounters {
    /// Connections from a uid other than root's or the MSM's own.
    pub peer_refused: AtomicU64,
    /// Connections refused because too many are open or the command queue is full.
    pub busy: AtomicU64,
    /// Connections that sent no line in time, or whose line or reply failed.
    pub io_errors: AtomicU64,
}

/// One command for the control loop, with the way back to its client.
pub struct Pending {
    pub command: Result<Command, CommandError>,
    reply: SyncSender<String>,
}

impl Pending {
    /// A command from elsewhere in the MSM (DPDK telemetry's thread), executed by the
    /// control loop like a client's; its reply arrives on the receiver.
    pub fn new(command: Command) -> (Pending, Receiver<String>) {
        let (reply, rx) = mpsc::sync_channel(1);
        (
            Pending {
                command: Ok(command),
                reply,
            },
            rx,
        )
    }

    /// Sends the reply to the client's connection (never blocks).
    pub fn answer(&self, reply: String) {
        let _ = self.reply.try_send(reply);
    }
}

/// The operator socket: its thread, and the control loop's end of the command channel.
pub struct Server {
    commands: Receiver<Pending>,
    counters: Arc<AdminCounters>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    path: PathBuf,
}

/// Whether a peer's uid may use the socket: root, or the uid the MSM runs as.
pub fn peer_allowed(peer_uid: u32, own_uid: u32) -> bool {
    peer_uid == 0 || peer_uid == own_uid
}

/// The uid of the process at the other end (SO_PEERCRED).
fn peer_uid(s: &UnixStream) -> std::io::Result<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

impl Server {
    /// Binds the socket (mode 0600) and starts its thread.
    pub fn bind(path: &Path) -> std::io::Result<Server> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
        listener.set_nonblocking(true)?;
        let (tx, commands) = mpsc::sync_channel(QUEUE);
        let counters = Arc::new(AdminCounters::default());
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (counters, stop) = (counters.clone(), stop.clone());
            std::thread::Builder::new()
                .name("msm-admin".into())
                .spawn(move || accept_loop(listener, tx, &counters, &stop))?
        };
        Ok(Server {
            commands,
            counters,
            stop,
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    /// The next command waiting for the control loop, if any; never blocks.
    pub fn next_command(&self) -> Option<Pending> {
        self.commands.try_recv().ok()
    }

    /// Executes the commands waiting (at most [`PER_POLL`]) with `handle` and sends each
    /// reply back to its connection; never blocks.
    pub fn poll(&self, mut handle: impl FnMut(Result<Command, CommandError>) -> String) {
        for _ in 0..PER_POLL {
            let Some(p) = self.next_command() else { return };
            p.answer(handle(p.command.clone()));
        }
    }

    pub fn counters(&self) -> &AdminCounters {
        &self.counters
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

fn accept_loop(
    listener: UnixListener,
    tx: SyncSender<Pending>,
    counters: &Arc<AdminCounters>,
    stop: &AtomicBool,
) {
    let open = Arc::new(AtomicUsize::new(0));
    while !stop.load(Ordering::Relaxed) {
        let stream = match listener.accept() {
            Ok((s, _)) => s,
            Err(_) => {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
        // SAFETY: geteuid has no preconditions and cannot fail.
        let own = unsafe { libc::geteuid() };
        match peer_uid(&stream) {
            Ok(uid) if peer_allowed(uid, own) => {}
            other => {
                counters.peer_refused.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("operator socket: peer refused ({other:?})");
                refuse(stream, "permission denied");
                continue;
            }
        }
        if open.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            counters.busy.fetch_add(1, Ordering::Relaxed);
            refuse(stream, "busy");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        let (tx, conn_counters, done) = (tx.clone(), counters.clone(), open.clone());
        let spawned = std::thread::Builder::new()
            .name("msm-admin-conn".into())
            .spawn(move || {
                serve(stream, &tx, &conn_counters);
                done.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::Relaxed);
            counters.busy.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn refuse(mut stream: UnixStream, why: &str) {
    let _ = writeln!(stream, "{}", serde_json::json!({ "error": why }));
}

/// One connection: its line, the control loop's reply, back to the client.
fn serve(stream: UnixStream, tx: &SyncSender<Pending>, counters: &AdminCounters) {
    let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
    let mut line = String::new();
    let mut r = BufReader::new(&stream).take(4096);
    let reply = match r.read_line(&mut line) {
        Err(e) => {
            counters.io_errors.fetch_add(1, Ordering::Relaxed);
            serde_json::json!({ "error": format!("read: {e}") }).to_string()
        }
        Ok(_) => {
            let (reply_tx, reply_rx) = mpsc::sync_channel(1);
            let p = Pending {
                command: parse(line.trim()),
                reply: reply_tx,
            };
            match tx.try_send(p) {
                Ok(()) => reply_rx.recv_timeout(REPLY_TIMEOUT).unwrap_or_else(|_| {
                    counters.io_errors.fetch_add(1, Ordering::Relaxed);
                    serde_json::json!({ "error": "no reply from the control loop" }).to_string()
                }),
                Err(TrySendError::Full(_)) => {
                    counters.busy.fetch_add(1, Ordering::Relaxed);
                    serde_json::json!({ "error": "busy" }).to_string()
                }
                Err(TrySendError::Disconnected(_)) => {
                    serde_json::json!({ "error": "shutting down" }).to_string()
                }
            }
        }
    };
    let mut w = &stream;
    if w.write_all(reply.as_bytes())
        .and_then(|()| w.write_all(b"\n"))
        .is_err()
    {
        counters.io_errors.fetch_add(1, Ordering::Relaxed);
    }
}
