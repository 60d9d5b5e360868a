//! Kernel steering of UDP datagrams to their core shard (docs/architecture.md, "Core shards").
//!
//! With `SO_REUSEPORT` the kernel gives a datagram to the socket its 4-tuple hashes to, so with
//! `n` shards it lands on its owner's socket with probability `1/n` and the others hand it over
//! ([`crate::shard::peek_owner`]): 3.5 hand-offs per call with two shards. Most of a call's
//! datagrams carry something of ours at a place a classic BPF program can read, so the
//! listener's socket group gets one (`SO_ATTACH_REUSEPORT_CBPF`) that returns the owner's
//! socket index (socket `i` of the group is shard `i`'s):
//!
//! - **a response** whose first header is its top Via, ours: `Via: SIP/2.0/UDP
//!   host:port;branch=z9hG4bK<16 hex>`: the shard its branch names ([`crate::shard::index`] on
//!   the branch, which is a response's key);
//! - **a request** whose Request-URI is a Contact of ours (an ACK, a BYE, a re-INVITE in a
//!   call's dialog): `METHOD sip:user@host:port;shard=N`: shard `N`. The call table writes the
//!   `shard` parameter into the Contacts it gives the caller and the callee with the shard that
//!   owns the dialog, the shard its To tag (the key of an in-dialog request) names.
//!
//! Anything else (a peer's INVITE, REGISTER, SUBSCRIBE, a response whose Via is not first, a
//! short datagram) gets an index past the group, on which the kernel falls back to its 4-tuple
//! hash as without a program. The program is a hint: every shard still checks the owner of
//! what it reads and hands a stranger over, so a peer that rewrites our Via or Contact costs a
//! hand-off, never a wrong answer. With 2 shards it takes a plain call (7 datagrams in) from
//! 3.5 hand-offs to 0.5 (only the caller's INVITE is left to the hash).
//!
//! [`program`] builds it; [`run`] is a classic BPF interpreter of the kernel's semantics for the
//! instructions used, so tests and the in-process bench steer with the very program the
//! kernel runs (and a test on real sockets checks the kernel agrees).

/// The `shard` parameter of our Contacts (see the module doc).
pub const CONTACT_PARAM: &str = "shard";

/// One classic BPF instruction (`struct sock_filter`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

/// What [`program`] returns for a datagram it does not steer: past any socket group, so the
/// kernel falls back to its hash.
pub const NOT_STEERED: u32 = u32::MAX;

// classic BPF opcodes (linux/bpf_common.h, linux/filter.h)
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const H: u16 = 0x08;
const B: u16 = 0x10;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const IND: u16 = 0x40;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const OR: u16 = 0x40;
const LSH: u16 = 0x60;
const MOD: u16 = 0x90;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const K: u16 = 0x00;
const X: u16 = 0x08;
const A: u16 = 0x10;
const TAX: u16 = 0x00;

/// The longest status line (its CR LF included) whose response is steered.
const STATUS_LINE_MAX: u32 = 64;
/// The longest `SIP/2.0/UDP host:port` of a Via that is steered.
const VIA_SENT_MAX: u32 = 80;
/// The longest `sip:user@host:port` of a Request-URI that is steered.
const RURI_MAX: u32 = 110;
/// Digits of the `shard` parameter read (shards up to 99,999).
const SHARD_DIGITS: u32 = 5;

/// `;branch=z9hG4bK`, then the 16 hex digits of our branch.
const BRANCH_PREFIX: &[u8] = b";branch=z9hG4bK";
const TOKEN_DIGITS: u32 = 16;

/// Scratch memory: the number being read, and a saved X.
const M_VALUE: u32 = 0;
const M_BASE: u32 = 1;

/// A label in [`Asm`].
#[derive(Clone, Copy)]
struct Label(usize);

enum Op {
    Insn(Insn),
    /// `ja label`
    Ja(Label),
    /// a conditional jump: to `label` when the comparison holds, else on
    JumpIf(u16, u32, Label),
    Mark(Label),
}

/// A small assembler: conditional jumps reach only 255 instructions, so a far one becomes a
/// `ja` that the condition skips.
#[derive(Default)]
struct Asm {
    ops: Vec<Op>,
    labels: usize,
}

impl Asm {
    fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }
    fn mark(&mut self, l: Label) {
        self.ops.push(Op::Mark(l));
    }
    fn insn(&mut self, code: u16, k: u32) {
        self.ops.push(Op::Insn(Insn {
            code,
            jt: 0,
            jf: 0,
            k,
        }));
    }
    fn ja(&mut self, l: Label) {
        self.ops.push(Op::Ja(l));
    }
    /// Jumps to `l` when `A <cmp> k` (`cmp` one of JEQ, JGT, JGE).
    fn jump_if(&mut self, cmp: u16, k: u32, l: Label) {
        self.ops.push(Op::JumpIf(cmp, k, l));
    }
    /// Jumps to `l` unless `A <cmp> k`.
    fn jump_unless(&mut self, cmp: u16, k: u32, l: Label) {
        let on = self.label();
        self.jump_if(cmp, k, on);
        self.ja(l);
        self.mark(on);
    }
    /// Jumps to `fail` unless the bytes at `X + off` are `bytes` (loaded 4, 2 or 1 at a time).
    fn expect_at_x(&mut self, mut off: u32, mut bytes: &[u8], fail: Label) {
        while !bytes.is_empty() {
            let (size, n) = match bytes.len() {
                4.. => (W, 4),
                2..=3 => (H, 2),
                _ => (B, 1),
            };
            let mut k = 0u32;
            for &b in &bytes[..n] {
                k = k << 8 | u32::from(b);
            }
            self.insn(LD | size | IND, off);
            self.jump_unless(JEQ, k, fail);
            off += n as u32;
            bytes = &bytes[n..];
        }
    }

    /// Resolves the labels: every conditional jump is emitted as `jcond 0, 1` over a `ja` (its
    /// far target), so no offset ever needs more than a byte.
    fn finish(self) -> Vec<Insn> {
        // where each op lands, then each label
        let size = |op: &Op| match op {
            Op::Insn(_) | Op::Ja(_) => 1,
            Op::JumpIf(..) => 2,
            Op::Mark(_) => 0,
        };
        let mut at = vec![0usize; self.labels];
        let mut pc = 0;
        for op in &self.ops {
            if let Op::Mark(l) = op {
                at[l.0] = pc;
            }
            pc += size(op);
        }
        let mut out = Vec::with_capacity(pc);
        for op in &self.ops {
            let here = out.len();
            match *op {
                Op::Insn(i) => out.push(i),
                Op::Ja(l) => out.push(Insn {
                    code: JMP | JA,
                    jt: 0,
                    jf: 0,
                    k: (at[l.0] - here - 1) as u32,
                }),
                Op::JumpIf(cmp, k, l) => {
                    out.push(Insn {
                        code: JMP | cmp | K,
                        jt: 0,
                        jf: 1,
                        k,
                    });
                    out.push(Insn {
                        code: JMP | JA,
                        jt: 0,
                        jf: 0,
                        k: (at[l.0] - here - 2) as u32,
                    });
                }
                Op::Mark(_) => {}
            }
        }
        out
    }
}

/// The shortest datagram the request path reads in full (no load past its end: the kernel
/// would end the program with 0, socket 0): the space at 9 at most, `sip:`, the `;` at
/// `RURI_MAX + 4` past it at most, `shard=`, the digits and the byte after them.
const REQUEST_MIN: u32 = 9 + 4 + RURI_MAX + 1 + CONTACT_PARAM.len() as u32 + 1 + SHARD_DIGITS + 1;
/// The same for the response path: the first header at `STATUS_LINE_MAX` at most, `Via:`,
/// ` SIP/2.0/UDP `, the `;` at `VIA_SENT_MAX - 1` past it at most, the branch's prefix, its
/// digits and the two bytes after them.
const RESPONSE_MIN: u32 =
    STATUS_LINE_MAX + 4 + 13 + VIA_SENT_MAX - 1 + BRANCH_PREFIX.len() as u32 + TOKEN_DIGITS + 2;

/// The steering program for a socket group of `count` shards (see the module doc); `None` for
/// one shard, or more than [`SHARD_DIGITS`] digits can name.
pub fn program(count: usize) -> Option<Vec<Insn>> {
    if count <= 1 || count >= 100_000 {
        return None;
    }
    let count = count as u32;
    let mut a = Asm::default();
    let fail = a.label();
    let response = a.label();
    a.insn(LD | W | LEN, 0);
    a.jump_unless(JGE, REQUEST_MIN.min(RESPONSE_MIN), fail);
    a.insn(LD | W | ABS, 0);
    a.jump_if(JEQ, u32::from_be_bytes(*b"SIP/"), response);

    // a request: `METHOD sip:...;shard=N`
    a.insn(LD | W | LEN, 0);
    a.jump_unless(JGE, REQUEST_MIN, fail);
    let space = a.label();
    for p in 3..=9 {
        a.insn(LD | B | ABS, p);
        let next = a.label();
        a.jump_unless(JEQ, u32::from(b' '), next);
        a.insn(LDX | IMM, p);
        a.ja(space);
        a.mark(next);
    }
    a.ja(fail);
    a.mark(space);
    a.expect_at_x(1, b"sip:", fail);
    // the first `;` of the Request-URI (none in our Contacts' users), before its end
    let semi = a.label();
    scan(&mut a, 5, 5 + RURI_MAX, b';', b" ", semi, fail);
    a.mark(semi);
    a.expect_at_x(1, CONTACT_PARAM.as_bytes(), fail);
    a.expect_at_x(1 + CONTACT_PARAM.len() as u32, b"=", fail);
    // its decimal digits: at least one, at most SHARD_DIGITS, then something else
    a.insn(STX, M_BASE);
    a.insn(LD | IMM, 0);
    a.insn(ST, M_VALUE);
    let digits_end = a.label();
    let first = 2 + CONTACT_PARAM.len() as u32;
    for d in 0..=SHARD_DIGITS {
        a.insn(LDX | MEM, M_BASE);
        a.insn(LD | B | IND, first + d);
        let stop = if d == 0 { fail } else { digits_end };
        a.jump_unless(JGE, u32::from(b'0'), stop);
        a.jump_if(JGT, u32::from(b'9'), stop);
        if d == SHARD_DIGITS {
            a.ja(fail); // too many digits
            break;
        }
        a.insn(ALU | SUB | K, u32::from(b'0'));
        a.insn(MISC | TAX, 0);
        a.insn(LD | MEM, M_VALUE);
        a.insn(ALU | MUL | K, 10);
        a.insn(ALU | ADD | X, 0);
        a.insn(ST, M_VALUE);
    }
    a.mark(digits_end);
    a.insn(LD | MEM, M_VALUE);
    a.jump_if(JGE, count, fail);
    a.insn(RET | A, 0);

    // a response: `SIP/2.0 ...\r\nVia: SIP/2.0/UDP host:port;branch=z9hG4bK<16 hex>`
    a.mark(response);
    a.insn(LD | W | LEN, 0);
    a.jump_unless(JGE, RESPONSE_MIN, fail);
    let line = a.label();
    for p in 12..STATUS_LINE_MAX {
        a.insn(LD | B | ABS, p);
        let next = a.label();
        a.jump_unless(JEQ, u32::from(b'\n'), next);
        a.insn(LDX | IMM, p + 1);
        a.ja(line);
        a.mark(next);
    }
    a.ja(fail);
    a.mark(line);
    // `Via: ` or `v: `, then X at the value
    let long = a.label();
    let value = a.label();
    a.insn(LD | W | IND, 0);
    a.jump_if(JEQ, u32::from_be_bytes(*b"Via:"), long);
    a.expect_at_x(0, b"v:", fail);
    a.insn(MISC | 0x80, 0); // txa
    a.insn(ALU | ADD | K, 2);
    a.insn(MISC | TAX, 0);
    a.ja(value);
    a.mark(long);
    a.insn(MISC | 0x80, 0); // txa
    a.insn(ALU | ADD | K, 4);
    a.insn(MISC | TAX, 0);
    a.mark(value);
    a.expect_at_x(0, b" SIP/2.0/UDP ", fail);
    let semi = a.label();
    // within the first Via value: a `,` ends it, and so does the line's end (the parse would
    // not read a branch on the next line as this Via's)
    scan(&mut a, 13, 13 + VIA_SENT_MAX, b';', b",\n", semi, fail);
    a.mark(semi);
    a.expect_at_x(0, BRANCH_PREFIX, fail);
    // 16 lower-case hex digits, the last 8 read as a number, then not a token character
    a.insn(STX, M_BASE);
    a.insn(LD | IMM, 0);
    a.insn(ST, M_VALUE);
    let start = BRANCH_PREFIX.len() as u32;
    for d in 0..TOKEN_DIGITS {
        let digit = a.label();
        let letter = a.label();
        a.insn(LDX | MEM, M_BASE);
        a.insn(LD | B | IND, start + d);
        a.jump_if(JGE, u32::from(b'a'), letter);
        a.jump_unless(JGE, u32::from(b'0'), fail);
        a.jump_if(JGT, u32::from(b'9'), fail);
        a.insn(ALU | SUB | K, u32::from(b'0'));
        a.ja(digit);
        a.mark(letter);
        a.jump_if(JGT, u32::from(b'f'), fail);
        a.insn(ALU | SUB | K, u32::from(b'a') - 10);
        a.mark(digit);
        if d >= TOKEN_DIGITS - 8 {
            a.insn(MISC | TAX, 0);
            a.insn(LD | MEM, M_VALUE);
            a.insn(ALU | LSH | K, 4);
            a.insn(ALU | OR | X, 0);
            a.insn(ST, M_VALUE);
        }
    }
    // the branch ends there (a longer one is not ours: hashed by the shards, not read)
    let ends = a.label();
    a.insn(LDX | MEM, M_BASE);
    a.insn(LD | B | IND, start + TOKEN_DIGITS);
    for end in [b';', b'\n', b',', b' ', b'\t'] {
        a.jump_if(JEQ, u32::from(end), ends);
    }
    // a CR ends the line only before a LF (the shards' scan keeps a lone one in the value)
    a.jump_unless(JEQ, u32::from(b'\r'), fail);
    a.expect_at_x(start + TOKEN_DIGITS + 1, b"\n", fail);
    a.mark(ends);
    a.insn(LD | MEM, M_VALUE);
    a.insn(ALU | MOD | K, count);
    a.insn(RET | A, 0);

    a.mark(fail);
    a.insn(RET | K, NOT_STEERED);
    Some(a.finish())
}

/// What [`program`] computes, in plain code: the shard it names for `datagram` among `count`,
/// `None` where it returns [`NOT_STEERED`] (or a load past the end would end it). The kernel
/// compiles the program to machine code; the in-process bench steers with this instead of the
/// much slower [`run`], and a test checks the two agree on every message they are given.
pub fn native(datagram: &[u8], count: usize) -> Option<usize> {
    if !(2..100_000).contains(&count) {
        return None;
    }
    let d = datagram;
    let len = d.len() as u32;
    if len < REQUEST_MIN.min(RESPONSE_MIN) {
        return None;
    }
    let at = |i: u32| d.get(i as usize).copied();
    let has = |i: u32, s: &[u8]| d.get(i as usize..i as usize + s.len()) == Some(s);
    // the first `byte` at `from..to`, `None` at a stop first (one `memchr3`: this runs for
    // every datagram with several shards)
    let scan = |from: u32, to: u32, byte: u8, stop: u8, stop2: u8| -> Option<u32> {
        let window = d.get(from as usize..(to as usize).min(d.len()))?;
        let i = memchr::memchr3(byte, stop, stop2, window)?;
        (window[i] == byte).then_some(from + i as u32)
    };
    if d.starts_with(b"SIP/") {
        if len < RESPONSE_MIN {
            return None;
        }
        let nl = 12 + memchr::memchr(b'\n', &d[12..STATUS_LINE_MAX as usize])? as u32;
        let mut x = nl + 1;
        if has(x, b"Via:") {
            x += 4;
        } else if has(x, b"v:") {
            x += 2;
        } else {
            return None;
        }
        if !has(x, b" SIP/2.0/UDP ") {
            return None;
        }
        let semi = scan(x + 13, x + 13 + VIA_SENT_MAX, b';', b',', b'\n')?;
        if !has(semi, BRANCH_PREFIX) {
            return None;
        }
        // `z9hG4bK` and the 16 digits: the shards' own reading of our tokens
        let cookie = semi + (BRANCH_PREFIX.len() - crate::MAGIC_COOKIE.len()) as u32;
        let end = semi + BRANCH_PREFIX.len() as u32 + TOKEN_DIGITS;
        let value = crate::shard::token_low_bits(d.get(cookie as usize..end as usize)?)?;
        let ends = match at(end)? {
            b';' | b'\n' | b',' | b' ' | b'\t' => true,
            b'\r' => at(end + 1)? == b'\n',
            _ => false,
        };
        return ends.then(|| (value % count as u32) as usize);
    }
    if len < REQUEST_MIN {
        return None;
    }
    let space = (3..=9).find(|&p| d[p as usize] == b' ')?;
    if !has(space + 1, b"sip:") {
        return None;
    }
    let semi = scan(space + 5, space + 5 + RURI_MAX, b';', b' ', b' ')?;
    if !has(semi + 1, CONTACT_PARAM.as_bytes())
        || at(semi + 1 + CONTACT_PARAM.len() as u32)? != b'='
    {
        return None;
    }
    let first = semi + 2 + CONTACT_PARAM.len() as u32;
    let mut value = 0u32;
    for i in 0..=SHARD_DIGITS {
        match at(first + i)? {
            c @ b'0'..=b'9' if i < SHARD_DIGITS => value = value * 10 + u32::from(c - b'0'),
            b'0'..=b'9' => return None,
            _ if i == 0 => return None,
            _ => break,
        }
    }
    ((value as usize) < count).then_some(value as usize)
}

/// Looks for `byte` at `X + from .. X + to`, jumping to `found` with X at it, or to `fail` at
/// any of `stops` or when not found.
fn scan(a: &mut Asm, from: u32, to: u32, byte: u8, stops: &[u8], found: Label, fail: Label) {
    let hit = a.label();
    for k in from..to {
        a.insn(LD | B | IND, k);
        let next = a.label();
        a.jump_unless(JEQ, u32::from(byte), next);
        a.insn(LD | IMM, k);
        a.ja(hit);
        a.mark(next);
        for &s in stops {
            a.jump_if(JEQ, u32::from(s), fail);
        }
    }
    a.ja(fail);
    a.mark(hit);
    a.insn(ALU | ADD | X, 0);
    a.insn(MISC | TAX, 0);
    a.ja(found);
}

/// Runs a classic BPF program on `packet` as the kernel does for a socket group (the packet
/// being the UDP payload): the value it returns, or 0 when a load falls past the end (the
/// kernel then ends the program with 0). Only the instructions [`program`] uses are known;
/// any other ends it with 0 too (and a debug assertion).
pub fn run(prog: &[Insn], packet: &[u8]) -> u32 {
    run_checked(prog, packet).unwrap_or(0)
}

/// [`run`], `None` when a load fell past the end of `packet`.
fn run_checked(prog: &[Insn], packet: &[u8]) -> Option<u32> {
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; 16]);
    let mut pc = 0usize;
    let load = |off: u32, size: u16| -> Option<u32> {
        let off = off as usize;
        let n = match size {
            W => 4,
            H => 2,
            _ => 1,
        };
        let bytes = packet.get(off..off.checked_add(n)?)?;
        Some(bytes.iter().fold(0u32, |v, &b| v << 8 | u32::from(b)))
    };
    while let Some(i) = prog.get(pc) {
        pc += 1;
        let class = i.code & 0x07;
        match class {
            LD | LDX => {
                let mode = i.code & 0xe0;
                let v = match mode {
                    IMM => i.k,
                    MEM => mem[i.k as usize & 15],
                    LEN => packet.len() as u32,
                    ABS if class == LD => load(i.k, i.code & 0x18)?,
                    IND if class == LD => load(x.wrapping_add(i.k), i.code & 0x18)?,
                    _ => {
                        debug_assert!(false, "unknown load {:#x}", i.code);
                        return Some(0);
                    }
                };
                if class == LD {
                    a = v;
                } else {
                    x = v;
                }
            }
            ST | STX if i.code & !0x07 != 0 => {
                debug_assert!(false, "the kernel knows no store {:#x}", i.code);
                return Some(0);
            }
            ST => mem[i.k as usize & 15] = a,
            STX => mem[i.k as usize & 15] = x,
            ALU => {
                let v = if i.code & X != 0 { x } else { i.k };
                a = match i.code & 0xf0 {
                    ADD => a.wrapping_add(v),
                    SUB => a.wrapping_sub(v),
                    MUL => a.wrapping_mul(v),
                    OR => a | v,
                    LSH => a.wrapping_shl(v),
                    MOD if v != 0 => a % v,
                    _ => {
                        debug_assert!(false, "unknown ALU op {:#x}", i.code);
                        return Some(0);
                    }
                };
            }
            JMP => {
                let taken = match i.code & 0xf0 {
                    JA => {
                        pc += i.k as usize;
                        continue;
                    }
                    JEQ => a == i.k,
                    JGT => a > i.k,
                    JGE => a >= i.k,
                    _ => {
                        debug_assert!(false, "unknown jump {:#x}", i.code);
                        return Some(0);
                    }
                };
                pc += usize::from(if taken { i.jt } else { i.jf });
            }
            RET => return Some(if i.code & A != 0 { a } else { i.k }),
            MISC => {
                if i.code & 0xf8 == 0 {
                    x = a; // tax
                } else {
                    a = x; // txa
                }
            }
            _ => {
                debug_assert!(false, "unknown class {:#x}", i.code);
                return Some(0);
            }
        }
    }
    Some(0)
}

/// The shard whose socket the kernel gives `datagram` to among `count` under `prog`; `None`
/// when it falls back to its 4-tuple hash.
pub fn steered(prog: &[Insn], datagram: &[u8], count: usize) -> Option<usize> {
    let i = run(prog, datagram) as usize;
    (i < count).then_some(i)
}

#[cfg(test)]
mod tests;
