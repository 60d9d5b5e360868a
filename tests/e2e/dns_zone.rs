//! A tiny authoritative DNS server for the tests' zone: real DNS messages (hickory-proto's
//! codec) over UDP on a loopback port, answering NAPTR, SRV and A questions from a fixed
//! record list. The server under test is pointed at it with `[dns] servers`.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::str::FromStr as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, ResponseCode};
use hickory_proto::rr::rdata::{A, NAPTR, SRV};
use hickory_proto::rr::{Name, RData, Record};
use hickory_proto::serialize::binary::BinEncodable as _;

/// The zone's records and the thread answering for them.
pub(crate) struct Zone {
    pub(crate) addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Questions answered (any type).
    pub(crate) queries: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Builds the record list.
#[derive(Default)]
pub(crate) struct Records(Vec<Record>);

fn name(s: &str) -> Name {
    Name::from_str(&format!("{}.", s.trim_end_matches('.'))).unwrap()
}

impl Records {
    pub(crate) fn naptr(
        mut self,
        owner: &str,
        order: u16,
        service: &str,
        replacement: &str,
    ) -> Self {
        self.0.push(Record::from_rdata(
            name(owner),
            60,
            RData::NAPTR(NAPTR::new(
                order,
                10,
                b"s".to_vec().into_boxed_slice(),
                service.as_bytes().to_vec().into_boxed_slice(),
                Vec::new().into_boxed_slice(),
                name(replacement),
            )),
        ));
        self
    }

    pub(crate) fn srv(
        mut self,
        owner: &str,
        priority: u16,
        weight: u16,
        port: u16,
        target: &str,
    ) -> Self {
        self.0.push(Record::from_rdata(
            name(owner),
            60,
            RData::SRV(SRV::new(priority, weight, port, name(target))),
        ));
        self
    }

    pub(crate) fn a(mut self, owner: &str, ip: Ipv4Addr) -> Self {
        self.0
            .push(Record::from_rdata(name(owner), 60, RData::A(A(ip))));
        self
    }
}

impl Zone {
    pub(crate) fn serve(records: Records) -> Self {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = sock.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let queries = Arc::new(AtomicUsize::new(0));
        let (stop2, queries2) = (stop.clone(), queries.clone());
        let records = records.0;
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while !stop2.load(Ordering::Relaxed) {
                let Ok((n, from)) = sock.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(req) = Message::from_vec(&buf[..n]) else {
                    continue;
                };
                queries2.fetch_add(1, Ordering::Relaxed);
                let mut resp = Message::new();
                resp.set_id(req.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(req.op_code())
                    .set_authoritative(true)
                    .set_recursion_desired(req.recursion_desired());
                let mut known = false;
                for q in req.queries() {
                    resp.add_query(q.clone());
                    for r in &records {
                        if r.name().eq_case(q.name()) || *r.name() == *q.name() {
                            known = true;
                            if r.record_type() == q.query_type() {
                                resp.add_answer(r.clone());
                            }
                        }
                    }
                }
                resp.set_response_code(if known {
                    ResponseCode::NoError
                } else {
                    ResponseCode::NXDomain
                });
                if let Ok(bytes) = resp.to_bytes() {
                    let _ = sock.send_to(&bytes, from);
                }
            }
        });
        Self {
            addr,
            stop,
            queries,
            thread: Some(thread),
        }
    }
}

impl Drop for Zone {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
