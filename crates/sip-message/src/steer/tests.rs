use super::*;
use crate::shard;
use crate::Ids;

/// The shard count a program was made for (its one `mod` instruction, or the bound its request
/// path checks the `shard` parameter against: both are `count`).
fn count_of(prog: &[Insn]) -> usize {
    prog.iter()
        .find(|i| i.code == ALU | MOD | K)
        .map(|i| i.k as usize)
        .unwrap()
}

fn response(status: &str, via: &str) -> String {
    format!(
        "SIP/2.0 {status}\r\n{via}\r\nFrom: <sip:alice@example.com>;tag=9fxced76sl\r\nTo: <sip:bob@example.com>;tag=314159\r\nCall-ID: 3848276298220188511@atlanta.example.com\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
    )
}

fn request(method: &str, ruri: &str, to_tag: &str) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKnashds8;rport\r\nFrom: <sip:alice@example.com>;tag=9fxced76sl\r\nTo: <sip:bob@example.com>;tag={to_tag}\r\nCall-ID: 3848276298220188511@atlanta.example.com\r\nCSeq: 2 {method}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A copy of a message with one to three of its first `within` bytes replaced by bytes of
/// `alphabet` (xorshift from `seed`: the same copies every run).
fn mutator(seed: u64, alphabet: &'static [u8], within: u64) -> impl FnMut(&str) -> Vec<u8> {
    let mut rng = seed;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    move |base| {
        let mut m = base.as_bytes().to_vec();
        for _ in 0..1 + next() % 3 {
            let at = (next() % within) as usize;
            m[at] = alphabet[(next() % alphabet.len() as u64) as usize];
        }
        m
    }
}

/// Every prefix of `msg` runs without a load past its end, and [`native`] says what the
/// program says of each.
fn no_load_past_the_end(prog: &[Insn], msg: &str) {
    let count = count_of(prog);
    for n in 0..=msg.len() {
        let bytes = &msg.as_bytes()[..n];
        assert_eq!(
            native(bytes, count),
            steered(prog, bytes, count),
            "{n} bytes of {msg:?}"
        );
        assert!(
            run_checked(prog, &msg.as_bytes()[..n]).is_some(),
            "a load past the end of {n} bytes of {msg:?}"
        );
    }
}

#[test]
fn a_response_goes_to_the_shard_its_branch_names() {
    for count in [2, 3, 4, 7, 32, 1_000] {
        let prog = program(count).unwrap();
        for shard in 0..count.min(40) {
            let mut ids = Ids::for_shard(count as u64 * 31 + shard as u64, shard, count);
            for status in ["100 Trying", "180 Ringing", "200 OK", "486 Busy Here"] {
                let branch = ids.branch();
                for via in [
                    format!("Via: SIP/2.0/UDP 192.0.2.1:5060;branch={branch};rport=5060;received=198.51.100.2"),
                    format!("v: SIP/2.0/UDP [2001:db8::1]:5060;branch={branch}"),
                    format!("Via: SIP/2.0/UDP sip.example.com;branch={branch},SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKx"),
                ] {
                    let msg = response(status, &via);
                    assert_eq!(steered(&prog, msg.as_bytes(), count), Some(shard), "{msg}");
                    // the shards read the same owner from the message
                    assert_eq!(shard::peek_owner(msg.as_bytes(), count), Some(shard));
                    no_load_past_the_end(&prog, &msg);
                }
            }
        }
    }
}

#[test]
fn a_request_to_our_contact_goes_to_the_shard_it_names() {
    let prog = program(4).unwrap();
    for (method, ruri, want) in [
        ("ACK", "sip:bob@192.0.2.1:5060;shard=0", Some(0)),
        ("BYE", "sip:alice@192.0.2.1:5060;shard=3", Some(3)),
        ("INVITE", "sip:b@[2001:db8::1]:5060;shard=2", Some(2)),
        (
            "UPDATE",
            "sip:192.0.2.1:5060;shard=1;transport=udp",
            Some(1),
        ),
        ("SUBSCRIBE", "sip:ferroswitch@192.0.2.1;shard=2", Some(2)),
        // not one of ours, or not a shard of this group
        ("BYE", "sip:alice@192.0.2.1:5060;shard=4", None),
        ("BYE", "sip:alice@192.0.2.1:5060;shard=000001", None),
        ("BYE", "sip:alice@192.0.2.1:5060;shard=", None),
        ("BYE", "sip:alice@192.0.2.1:5060;shards=1", None),
        ("BYE", "sip:alice@192.0.2.1:5060;lr;shard=1", None),
        ("INVITE", "sip:bob@example.com", None),
        ("INVITE", "sips:bob@example.com;shard=1", None),
        ("REGISTER", "sip:example.com", None),
        ("NOTIFY", "tel:+15551234567;shard=1", None),
    ] {
        let msg = request(method, ruri, "1234");
        assert_eq!(steered(&prog, msg.as_bytes(), 4), want, "{msg}");
        no_load_past_the_end(&prog, &msg);
    }
}

#[test]
fn what_is_not_ours_is_left_to_the_kernels_hash() {
    let prog = program(2).unwrap();
    let ours = "z9hG4bK0123456789abcdef";
    for via in [
        // not ours: a longer branch, upper-case digits, branch not first, another transport
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK0123456789abcdef0".to_owned(),
        "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK0123456789ABCDEF".to_owned(),
        format!("Via: SIP/2.0/UDP 192.0.2.1:5060;rport;branch={ours}"),
        format!("Via: SIP/2.0/TCP 192.0.2.1:5060;branch={ours}"),
        format!("Via:SIP/2.0/UDP 192.0.2.1:5060;branch={ours}"),
        format!("Max-Forwards: 70\r\nVia: SIP/2.0/UDP 192.0.2.1:5060;branch={ours}"),
    ] {
        let msg = response("200 OK", &via);
        assert_eq!(run(&prog, msg.as_bytes()), NOT_STEERED, "{msg}");
        no_load_past_the_end(&prog, &msg);
    }
    // a status line too long to be looked past
    let long = response(
        &format!("200 {}", "O".repeat(80)),
        &format!("Via: SIP/2.0/UDP 192.0.2.1:5060;branch={ours}"),
    );
    assert_eq!(run(&prog, long.as_bytes()), NOT_STEERED);
    // keep-alives, short and empty datagrams, binary
    for short in [
        &b"\r\n\r\n"[..],
        b"",
        b"SIP/2.0 200 OK\r\n",
        &[0xff; 300][..],
    ] {
        assert_eq!(run_checked(&prog, short), Some(NOT_STEERED));
    }
}

#[test]
fn one_shard_needs_no_program_and_the_program_fits_the_kernel() {
    assert!(program(1).is_none());
    assert!(program(0).is_none());
    for count in [2, 64, 99_999] {
        let prog = program(count).unwrap();
        // BPF_MAXINSNS, ends with a return, every jump lands inside
        assert!(prog.len() <= 4096, "{} instructions", prog.len());
        assert_eq!(prog.last().unwrap().code & 0x07, RET);
        // opcodes the kernel's classic BPF checker accepts (net/core/filter.c, `codes`)
        let known = [
            0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x0c, 0x14, 0x15, 0x16, 0x20, 0x24,
            0x25, 0x28, 0x30, 0x35, 0x40, 0x48, 0x4c, 0x50, 0x60, 0x61, 0x64, 0x80, 0x87, 0x94,
        ];
        for (pc, i) in prog.iter().enumerate() {
            assert!(known.contains(&i.code), "opcode {:#x} at {pc}", i.code);
            if i.code & 0x07 == JMP {
                let far = if i.code & 0xf0 == JA {
                    i.k as usize
                } else {
                    usize::from(i.jt.max(i.jf))
                };
                assert!(pc + 1 + far < prog.len(), "jump at {pc} out of the program");
            }
        }
    }
    assert!(program(100_000).is_none());
}

/// Mutated responses: where the program names a shard and the shards' own scan reads the
/// message, both name the same one (a request is steered by its Request-URI and owned by its
/// To tag, which agree only for the Contacts the call table writes: tested in `b2bua`).
#[test]
fn a_mutated_response_is_steered_where_the_shards_would_hand_it() {
    let count = 3;
    let prog = program(count).unwrap();
    let mut ids = Ids::for_shard(5, 1, count);
    let base = response(
        "180 Ringing",
        &format!(
            "Via: SIP/2.0/UDP 192.0.2.1:5060;branch={};rport",
            ids.branch()
        ),
    );
    let mut mutate = mutator(
        0x9e37_79b9_7f4a_7c15,
        b"0123456789abcdefABz;,= \r\n:vV",
        120,
    );
    let (mut agreed, mut left, mut parsed) = (0, 0, 0);
    for _ in 0..20_000 {
        let m = mutate(&base);
        assert!(run_checked(&prog, &m).is_some());
        assert_eq!(native(&m, count), steered(&prog, &m, count));
        // a response steered to a shard is that shard's by its parse too, where it parses:
        // the shard keeps such a response without asking the parse (`Landing::Mine`)
        if let (Some(s), Ok(msg)) = (
            steered(&prog, &m, count),
            crate::Message::parse(bytes::Bytes::copy_from_slice(&m)),
        ) {
            if msg.sanity_check().is_ok() {
                assert_eq!(
                    shard::owner(&msg, count),
                    s,
                    "{}",
                    String::from_utf8_lossy(&m)
                );
                parsed += 1;
            }
        }
        match (steered(&prog, &m, count), shard::peek_owner(&m, count)) {
            (Some(s), Some(o)) => {
                assert_eq!(s, o, "{}", String::from_utf8_lossy(&m));
                agreed += 1;
            }
            _ => left += 1,
        }
    }
    assert!(
        agreed > 1_000 && left > 1_000 && parsed > 1_000,
        "{agreed} steered, {left} left, {parsed} steered and parsed"
    );
}

/// Mutated requests: the plain-code twin says what the program says.
#[test]
fn the_native_twin_agrees_with_the_program_on_mutated_requests() {
    let count = 3;
    let prog = program(count).unwrap();
    let base = request("BYE", "sip:alice@192.0.2.1:5060;shard=2", "1234");
    let mut mutate = mutator(0x2545_f491_4f6c_dd1d, b"0123456789sihpard;=@: \r\nSIPB", 60);
    let mut steered_n = 0;
    for _ in 0..20_000 {
        let m = mutate(&base);
        let want = steered(&prog, &m, count);
        assert_eq!(native(&m, count), want, "{}", String::from_utf8_lossy(&m));
        steered_n += usize::from(want.is_some());
    }
    assert!(steered_n > 1_000, "{steered_n} steered");
}
