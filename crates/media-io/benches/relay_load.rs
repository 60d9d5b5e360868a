//! Relay load: G.711-like streams through a real [`Relay`] on 127.0.0.1, and STUN Binding
//! responses through a real [`StunServer`] socket.
//!
//! ```text
//! cargo bench -p media-io --bench relay_load                 # relay: 2,000 streams, 10 s
//! STREAMS=500 SECONDS=5 cargo bench -p media-io --bench relay_load
//! MODE=stun SECONDS=5 cargo bench -p media-io --bench relay_load   # STUN responses/s
//! PIN=0 ...                                                  # do not pin threads to CPUs
//! SLOT_US=100 ...                  # pacing: streams spread over 20 ms in slots of this size
//! ```
//!
//! On a machine shared with other work (compilers on both cores), the scheduler, not the relay,
//! decides the tail latency; run the binary under `chrt -f 10` (as root) to measure the relay:
//! `chrt -f 10 $(cargo bench -p media-io --bench relay_load --no-run 2>&1 | grep -o '/[^)]*') --bench`.
//! Needs about `4 * STREAMS` file descriptors (`ulimit -n`).
//!
//! Relay mode: each stream is a call with two endpoints, A and B; each sends a 172-byte RTP packet
//! (12-byte header + 160 bytes of G.711 payload) every 20 ms to its relay port, so 2,000 streams
//! offer 200,000 packets/s to the relay. The relay runs in its single thread (that is how it always
//! runs: one OS thread does all relay I/O), pinned to CPU 0 (`MediaConfig::cpu`); the load generator
//! is one thread pinned to CPU 1, sending with `sendmmsg` and receiving with `recvmmsg` on one
//! socket per side. Each packet carries its send time; the added latency is receive time minus
//! send time (it includes the generator's own send/receive path, so it is an upper bound). The
//! relay thread's CPU time is read from /proc to give the load as a share of one core.
//!
//! STUN mode: the server runs on a current-thread tokio runtime pinned to CPU 0; a client thread on
//! CPU 1 keeps a window of Binding requests in flight from 16 sockets and counts responses.

use std::io::IoSlice;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use media::sdp::Sdp;
use media_io::{MediaConfig, Mode, Relay, Side, StunServer};
use std::os::fd::AsFd;

use nix::sys::socket::{
    recvmmsg, sendmmsg, setsockopt, sockopt, ControlMessage, MsgFlags, MultiHeaders,
    SockaddrStorage,
};
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

const PACKET: usize = 172;
const PPS_PER_DIRECTION: u64 = 50;
const BATCH: usize = 64;

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn pin(cpu: usize) {
    use nix::sched::{sched_setaffinity, CpuSet};
    use nix::unistd::Pid;
    let mut set = CpuSet::new();
    if set.set(cpu).is_ok() {
        let _ = sched_setaffinity(Pid::from_raw(0), &set);
    }
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

fn big_buffers(s: &UdpSocket) {
    let size = 8 << 20;
    if setsockopt(s, sockopt::RcvBufForce, &size).is_err() {
        let _ = setsockopt(s, sockopt::RcvBuf, &size);
    }
    if setsockopt(s, sockopt::SndBufForce, &size).is_err() {
        let _ = setsockopt(s, sockopt::SndBuf, &size);
    }
}

/// `/proc/net/snmp` Udp RcvbufErrors: datagrams the kernel dropped because a socket buffer
/// was full.
fn udp_rcvbuf_errors() -> u64 {
    let text = std::fs::read_to_string("/proc/net/snmp").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(h), Some(v)) = (lines.next(), lines.next()) else {
        return 0;
    };
    h.split_whitespace()
        .zip(v.split_whitespace())
        .find(|(k, _)| *k == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system, in clock ticks of 10 ms) of this process's thread named `name`.
fn thread_cpu_ticks(name: &str) -> Option<u64> {
    for entry in std::fs::read_dir("/proc/self/task").ok()? {
        let dir = entry.ok()?.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim() != name.get(..15.min(name.len()))? {
            continue;
        }
        let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
        let after = stat.rsplit_once(')')?.1;
        let f: Vec<&str> = after.split_whitespace().collect();
        // Fields after the command: state(0) ... utime(11) stime(12).
        return Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?);
    }
    None
}

/// CPU time (clock ticks) of the calling thread.
fn own_cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").ok()?;
    let f: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

struct Histogram {
    micros: Vec<u64>,
    count: u64,
    max: u64,
}

impl Histogram {
    fn new() -> Self {
        Self {
            micros: vec![0; 100_001],
            count: 0,
            max: 0,
        }
    }

    fn record(&mut self, us: u64) {
        self.micros[us.min(100_000) as usize] += 1;
        self.count += 1;
        self.max = self.max.max(us);
    }

    fn percentile(&self, p: f64) -> u64 {
        let target = ((self.count as f64) * p).ceil() as u64;
        let mut seen = 0;
        for (us, n) in self.micros.iter().enumerate() {
            seen += n;
            if seen >= target.max(1) {
                return us as u64;
            }
        }
        self.max
    }
}

fn send_batch(fd: i32, hdrs: &mut MultiHeaders<SockaddrStorage>, msgs: &[(&[u8], SocketAddr)]) {
    let mut done = 0;
    while done < msgs.len() {
        let chunk = &msgs[done..msgs.len().min(done + BATCH)];
        let iovs: Vec<[IoSlice<'_>; 1]> = chunk.iter().map(|(b, _)| [IoSlice::new(b)]).collect();
        let addrs: Vec<Option<SockaddrStorage>> = chunk
            .iter()
            .map(|(_, a)| Some(SockaddrStorage::from(*a)))
            .collect();
        let cmsgs: [ControlMessage<'_>; 0] = [];
        match sendmmsg(fd, hdrs, iovs.iter(), addrs, cmsgs, MsgFlags::empty()) {
            Ok(r) => done += r.count().max(1),
            Err(nix::errno::Errno::EINTR) => {}
            Err(e) => {
                eprintln!("generator: sendmmsg failed: {e}");
                done += 1;
            }
        }
    }
}

/// One `recvmmsg` into `bufs`; lengths and sources go to `got`.
fn recv_once(
    fd: i32,
    hdrs: &mut MultiHeaders<SockaddrStorage>,
    bufs: &mut [[u8; 256]; BATCH],
    got: &mut Vec<(usize, Option<SocketAddr>)>,
) -> nix::Result<()> {
    got.clear();
    let mut iovs = bufs
        .each_mut()
        .map(|b| [std::io::IoSliceMut::new(&mut b[..])]);
    let res = recvmmsg(fd, hdrs, iovs.iter_mut(), MsgFlags::MSG_DONTWAIT, None)?;
    for r in res {
        let addr = r.address.as_ref().and_then(|a| {
            a.as_sockaddr_in()
                .map(|v4| SocketAddr::V4(std::net::SocketAddrV4::from(*v4)))
        });
        got.push((r.bytes, addr));
    }
    Ok(())
}

/// Reads every queued datagram on `fd`; calls `f(payload, source)` for each.
fn drain(
    fd: i32,
    hdrs: &mut MultiHeaders<SockaddrStorage>,
    bufs: &mut [[u8; 256]; BATCH],
    mut f: impl FnMut(&[u8], Option<SocketAddr>),
) -> usize {
    let mut total = 0;
    let mut got = Vec::with_capacity(BATCH);
    loop {
        if recv_once(fd, hdrs, bufs, &mut got).is_err() {
            return total;
        }
        for (i, (len, addr)) in got.iter().enumerate() {
            f(&bufs[i][..*len], *addr);
        }
        total += got.len();
        if got.len() < BATCH {
            return total;
        }
    }
}

fn relay_mode() {
    let streams: usize = env("STREAMS", 2000);
    let seconds: u64 = env("SECONDS", 10);
    let port_min: u16 = env("PORT_MIN", 20000);
    let ncpu = cpus();
    let pinning = env("PIN", 1u8) == 1 && ncpu >= 2;

    let mut config = MediaConfig::new("127.0.0.1".parse().unwrap());
    config.port_min = port_min;
    config.port_max = (usize::from(port_min) + streams * 4 + 1).min(65535) as u16;
    config.inactivity_timeout = Duration::from_secs(seconds + 60);
    config.cpu = pinning.then_some(0);
    let (relay, _events) = Relay::start(config).expect("relay starts");
    if pinning {
        pin(1);
    }

    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    for s in [&a, &b] {
        big_buffers(s);
        s.set_nonblocking(true).unwrap();
    }
    let sdp_of = |port: u16| {
        format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=rtcp-mux\r\n"
        )
    };
    let relay_port = |body: &[u8]| Sdp::parse(body).unwrap().remote_media(0).unwrap().rtp;
    // pa[s]: where A sends (relay port facing A); pb[s]: where B sends.
    let mut pa = Vec::with_capacity(streams);
    let mut pb = Vec::with_capacity(streams);
    let setup = Instant::now();
    for s in 0..streams {
        let call = format!("bench-{s}");
        let offer = sdp_of(a.local_addr().unwrap().port());
        let to_b = relay
            .offer(&call, Side::A, offer.as_bytes(), Mode::Anchor)
            .unwrap();
        let answer = sdp_of(b.local_addr().unwrap().port());
        let to_a = relay
            .answer(&call, Side::B, answer.as_bytes(), Mode::Anchor)
            .unwrap();
        pb.push(relay_port(&to_b));
        pa.push(relay_port(&to_a));
    }
    let setup = setup.elapsed();

    let offered = streams as u64 * PPS_PER_DIRECTION * 2;
    println!(
        "relay_load: {streams} bidirectional streams x {PPS_PER_DIRECTION} pps x 2 directions = \
         {offered} packets/s offered, {PACKET}-byte packets, {seconds} s; sessions set up in {:.1} ms \
         ({:.1} us/call for offer+answer)",
        setup.as_secs_f64() * 1e3,
        setup.as_secs_f64() * 1e6 / streams as f64
    );
    println!(
        "relay: one thread{}; generator: one thread{}, streams spread over {} us slots; {} CPUs \
         on this machine",
        if pinning {
            " pinned to CPU 0"
        } else {
            " (not pinned)"
        },
        if pinning {
            " pinned to CPU 1"
        } else {
            " (not pinned)"
        },
        env("SLOT_US", 100u64),
        ncpu
    );
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("load average before the run: {}", load.trim());
    }

    // The generator sleeps in epoll until a datagram arrives or a timerfd ticks every slot
    // (epoll's own timeout only has millisecond resolution).
    let slot_us: u64 = env("SLOT_US", 100u64).clamp(10, 20_000);
    let timer = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK).unwrap();
    timer
        .set(
            Expiration::Interval(TimeSpec::from_duration(Duration::from_micros(slot_us))),
            TimerSetTimeFlags::empty(),
        )
        .unwrap();
    let mut poll = mio::Poll::new().unwrap();
    let mut events = mio::Events::with_capacity(8);
    let timer_fd = timer.as_fd().as_raw_fd();
    for (i, fd) in [a.as_raw_fd(), b.as_raw_fd(), timer_fd]
        .into_iter()
        .enumerate()
    {
        poll.registry()
            .register(
                &mut mio::unix::SourceFd(&fd),
                mio::Token(i),
                mio::Interest::READABLE,
            )
            .unwrap();
    }
    let mut hdrs_tx = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut hdrs_rx = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut bufs = Box::new([[0u8; 256]; BATCH]);
    let mut seq = vec![[0u16; 2]; streams];
    let mut hist = Histogram::new();
    let mut lateness = Histogram::new();
    let mut sent = [0u64; 2];
    let mut received = [0u64; 2];
    let mut wrong_source = 0u64;
    // Streams are spread evenly over the 20 ms packet interval, in slots of SLOT_US.
    let slots_per_cycle = (20_000 / slot_us).max(1) as usize;
    let mut slot_streams: Vec<Vec<usize>> = vec![Vec::new(); slots_per_cycle];
    for s in 0..streams {
        slot_streams[s * slots_per_cycle / streams].push(s);
    }
    let widest = slot_streams.iter().map(Vec::len).max().unwrap_or(0);
    let mut pkts: Vec<[u8; PACKET]> = vec![[0xd5; PACKET]; widest.max(1)];
    let epoch = Instant::now();
    let warmup = Duration::from_secs(1);
    let measure_end = warmup + Duration::from_secs(seconds);
    let mut measured_cpu_start = None;
    let mut generator_cpu_start = None;
    let mut measured_errors_start = 0;
    let mut slot = 0u64; // slots since epoch
    let mut in_window = [0u64; 2];
    let mut recv_in_window = [0u64; 2];

    loop {
        let now = epoch.elapsed();
        if now >= measure_end + Duration::from_millis(500) {
            break;
        }
        let due = Duration::from_micros(slot * slot_us);
        if now >= due && due < measure_end {
            if due >= warmup && measured_cpu_start.is_none() {
                measured_cpu_start = thread_cpu_ticks("ferro-media-relay");
                generator_cpu_start = own_cpu_ticks();
                measured_errors_start = udp_rcvbuf_errors();
            }
            let measuring = due >= warmup;
            if measuring {
                lateness.record(now.saturating_sub(due).as_micros() as u64);
            }
            let due_streams = &slot_streams[(slot % slots_per_cycle as u64) as usize];
            for dir in 0..2 {
                for (p, &s) in pkts.iter_mut().zip(due_streams) {
                    let q = seq[s][dir];
                    seq[s][dir] = q.wrapping_add(1);
                    p[0] = 0x80;
                    p[1] = 0;
                    p[2..4].copy_from_slice(&q.to_be_bytes());
                    p[4..8].copy_from_slice(&(u32::from(q) * 160).to_be_bytes());
                    let ssrc = (s as u32) << 1 | dir as u32 | u32::from(measuring) << 31;
                    p[8..12].copy_from_slice(&ssrc.to_be_bytes());
                    let ts = epoch.elapsed().as_nanos() as u64;
                    p[12..20].copy_from_slice(&ts.to_be_bytes());
                }
                let n = due_streams.len();
                let (sock, dests) = if dir == 0 { (&a, &pa) } else { (&b, &pb) };
                let msgs: Vec<(&[u8], SocketAddr)> = due_streams
                    .iter()
                    .zip(&pkts[..n])
                    .map(|(&s, p)| (&p[..], dests[s]))
                    .collect();
                send_batch(sock.as_raw_fd(), &mut hdrs_tx, &msgs);
                sent[dir] += n as u64;
                if measuring {
                    in_window[dir] += n as u64;
                }
            }
            slot += 1;
        }
        // Wait for a datagram or the timer, unless a slot is already due; then read the sockets
        // that became readable (A gets B's packets, dir 1; B gets A's, dir 0).
        let next_due = Duration::from_micros(slot * slot_us);
        let wait = if epoch.elapsed() >= next_due && next_due < measure_end {
            Duration::ZERO
        } else {
            Duration::from_millis(2)
        };
        let _ = poll.poll(&mut events, Some(wait));
        for ev in events.iter() {
            let (sock, dir, expect) = match ev.token() {
                mio::Token(0) => (&a, 1usize, &pa),
                mio::Token(1) => (&b, 0usize, &pb),
                _ => {
                    let _ = timer.wait(); // clears the expiration count (non-blocking)
                    continue;
                }
            };
            drain(sock.as_raw_fd(), &mut hdrs_rx, &mut bufs, |p, from| {
                if p.len() < 20 {
                    return;
                }
                let ssrc = u32::from_be_bytes([p[8], p[9], p[10], p[11]]);
                let s = ((ssrc & 0x7fff_ffff) >> 1) as usize;
                if s >= streams || (ssrc & 1) as usize != dir {
                    wrong_source += 1;
                    return;
                }
                if from != Some(expect[s]) {
                    wrong_source += 1;
                }
                received[dir] += 1;
                if ssrc >> 31 == 1 {
                    recv_in_window[dir] += 1;
                    let ts = u64::from_be_bytes(p[12..20].try_into().unwrap());
                    let now = epoch.elapsed().as_nanos() as u64;
                    hist.record(now.saturating_sub(ts) / 1000);
                }
            });
        }
    }
    let cpu_end = thread_cpu_ticks("ferro-media-relay");
    let generator_cpu_end = own_cpu_ticks();
    let errors_end = udp_rcvbuf_errors();

    let measured_sent = in_window[0] + in_window[1];
    let measured_recv = recv_in_window[0] + recv_in_window[1];
    let lost = measured_sent.saturating_sub(measured_recv);
    println!(
        "measured window {seconds} s (after 1 s warm-up): sent {measured_sent}, relayed and received \
         {measured_recv}, lost {lost} ({:.4} %); A->B lost {}, B->A lost {}",
        100.0 * lost as f64 / measured_sent.max(1) as f64,
        in_window[0].saturating_sub(recv_in_window[0]),
        in_window[1].saturating_sub(recv_in_window[1]),
    );
    println!(
        "relayed: {:.0} packets/s; whole run: sent {}, received {}; packets from an unexpected \
         relay port: {wrong_source}; kernel UDP receive-buffer drops during the window: {}",
        measured_recv as f64 / seconds as f64,
        sent[0] + sent[1],
        received[0] + received[1],
        errors_end.saturating_sub(measured_errors_start),
    );
    println!(
        "added latency (generator send -> generator receive through the relay): p50 {} us, \
         p99 {} us, p99.9 {} us, max {} us",
        hist.percentile(0.50),
        hist.percentile(0.99),
        hist.percentile(0.999),
        hist.max
    );
    println!(
        "generator lateness (slot sent after its due time; high = the generator cannot keep up): \
         p50 {} us, p99 {} us, max {} us",
        lateness.percentile(0.50),
        lateness.percentile(0.99),
        lateness.max
    );
    if let (Some(c0), Some(c1)) = (measured_cpu_start, cpu_end) {
        // The window ends 500 ms before cpu_end is read, while the tail drains: close enough.
        let busy = (c1 - c0) as f64 / 100.0 / (seconds as f64 + 0.5);
        println!(
            "relay thread CPU: {:.0} % of one core => about {:.0} packets/s per core at 100 %",
            busy * 100.0,
            measured_recv as f64 / seconds as f64 / busy.max(0.01)
        );
    }
    if let (Some(c0), Some(c1)) = (generator_cpu_start, generator_cpu_end) {
        println!(
            "generator thread CPU: {:.0} % of one core",
            (c1 - c0) as f64 / (seconds as f64 + 0.5)
        );
    }
    let ended: u64 = (0..streams)
        .filter_map(|s| relay.end(&format!("bench-{s}")))
        .map(|st| st.a_to_b.packets + st.b_to_a.packets)
        .sum();
    println!("relay counters over all calls: {ended} packets relayed");
}

fn stun_mode() {
    let seconds: u64 = env("SECONDS", 5);
    let pinning = env("PIN", 1u8) == 1 && cpus() >= 2;
    let clients: usize = env("CLIENTS", 16);
    let window: usize = env("WINDOW", 64);

    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    big_buffers(&socket);
    socket.set_nonblocking(true).unwrap();
    let server_addr = socket.local_addr().unwrap();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::Builder::new()
        .name("stun-server".into())
        .spawn(move || {
            if pinning {
                pin(0);
            }
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let server = StunServer::new(tokio::net::UdpSocket::from_std(socket).unwrap());
                let counters = server.counters();
                server
                    .run(async {
                        let _ = stop_rx.await;
                    })
                    .await
                    .unwrap();
                counters.answered.load(std::sync::atomic::Ordering::Relaxed)
            })
        })
        .unwrap();
    if pinning {
        pin(1);
    }
    let socks: Vec<UdpSocket> = (0..clients)
        .map(|_| {
            let s = UdpSocket::bind("127.0.0.1:0").unwrap();
            big_buffers(&s);
            s.set_nonblocking(true).unwrap();
            s
        })
        .collect();
    // A Binding request with FINGERPRINT only.
    let mut req = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42];
    req.extend_from_slice(&[0x42; 12]);
    let crc = crc32(&req) ^ 0x5354_554e;
    req.extend_from_slice(&[0x80, 0x28, 0x00, 0x04]);
    req.extend_from_slice(&crc.to_be_bytes());

    let mut hdrs_tx = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut hdrs_rx = MultiHeaders::<SockaddrStorage>::preallocate(BATCH, None);
    let mut bufs = Box::new([[0u8; 256]; BATCH]);
    let mut outstanding = vec![0usize; clients];
    let mut responses = 0u64;
    let mut bad = 0u64;
    let start = Instant::now();
    let server_cpu_start = thread_cpu_ticks("stun-server");
    let client_cpu_start = own_cpu_ticks();
    let mut last_progress = Instant::now();
    let end = Duration::from_secs(seconds);
    while start.elapsed() < end {
        let mut progressed = false;
        for (i, s) in socks.iter().enumerate() {
            let got = drain(s.as_raw_fd(), &mut hdrs_rx, &mut bufs, |p, _| {
                if p.len() >= 20 && p[0] == 0x01 && p[1] == 0x01 {
                    responses += 1;
                } else {
                    bad += 1;
                }
            });
            outstanding[i] = outstanding[i].saturating_sub(got);
            progressed |= got > 0;
            // Responses lost (kernel buffers): refill the window after 50 ms without progress.
            if last_progress.elapsed() > Duration::from_millis(50) {
                outstanding[i] = 0;
            }
            let want = window - outstanding[i];
            if want > 0 {
                let msgs: Vec<(&[u8], SocketAddr)> =
                    (0..want).map(|_| (&req[..], server_addr)).collect();
                send_batch(s.as_raw_fd(), &mut hdrs_tx, &msgs);
                outstanding[i] += want;
            }
        }
        if progressed {
            last_progress = Instant::now();
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let server_cpu = thread_cpu_ticks("stun-server")
        .zip(server_cpu_start)
        .map(|(b, a)| (b - a) as f64 / 100.0 / elapsed);
    let client_cpu = own_cpu_ticks()
        .zip(client_cpu_start)
        .map(|(b, a)| (b - a) as f64 / 100.0 / elapsed);
    let _ = stop_tx.send(());
    let answered = server.join().unwrap();
    println!(
        "stun_load: {clients} client sockets, window {window} each, {seconds} s, server on a \
         current-thread runtime{}: {responses} responses received ({:.0}/s), server answered \
         {answered}, bad {bad}",
        if pinning {
            " pinned to CPU 0 (client on CPU 1)"
        } else {
            ""
        },
        responses as f64 / elapsed
    );
    if let (Some(sc), Some(cc)) = (server_cpu, client_cpu) {
        println!(
            "server thread CPU: {:.0} % of one core => about {:.0} responses/s per core at 100 %; \
             client thread CPU: {:.0} %",
            sc * 100.0,
            responses as f64 / elapsed / sc.max(0.01),
            cc * 100.0
        );
    }
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0xEDB8_8320 & (!(crc & 1)).wrapping_add(1));
        }
    }
    !crc
}

fn main() {
    // `cargo bench` passes `--bench`; anything else (a test run of the bench targets) skips.
    if !std::env::args().any(|a| a == "--bench") {
        println!("relay_load: skipped (run with cargo bench)");
        return;
    }
    match std::env::var("MODE").as_deref() {
        Ok("stun") => stun_mode(),
        Ok("both") => {
            relay_mode();
            stun_mode();
        }
        _ => relay_mode(),
    }
}
