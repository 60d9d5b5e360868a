//! `CSeq: 4711 INVITE`.

use crate::cursor::Cursor;
use crate::message::Method;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CSeq {
    pub seq: u32,
    pub method: Method,
}

impl CSeq {
    pub fn parse(s: &str) -> Result<Self> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let n = c.take_while(|b| b.is_ascii_digit());
        if n.is_empty() || n.len() > 10 {
            return Err(Error::header("CSeq", "bad sequence number"));
        }
        let seq: u32 = n
            .parse()
            .map_err(|_| Error::header("CSeq", "sequence number too large"))?;
        if seq >= 1 << 31 {
            return Err(Error::header("CSeq", "sequence number too large"));
        }
        let m = c.token().ok_or(Error::header("CSeq", "missing method"))?;
        c.skip_ws();
        if !c.is_empty() {
            return Err(Error::header("CSeq", "junk after method"));
        }
        Ok(Self {
            seq,
            method: Method::from_token(m),
        })
    }
}
