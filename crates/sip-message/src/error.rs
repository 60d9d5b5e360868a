use thiserror::Error;

/// Why a message, header or URI was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum Error {
    /// A stream holds only part of a message so far; read more and try again.
    #[error("incomplete message")]
    Incomplete,
    #[error("bad start line: {0}")]
    StartLine(&'static str),
    #[error("unsupported SIP version")]
    Version,
    #[error("bad header line {line}: {reason}")]
    HeaderLine { line: usize, reason: &'static str },
    #[error("bad {header} header: {reason}")]
    Header {
        header: &'static str,
        reason: &'static str,
    },
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("bad URI: {0}")]
    Uri(&'static str),
    #[error("Content-Length {declared} exceeds the {available} body bytes present")]
    BodyTooShort { declared: usize, available: usize },
    #[error("message head longer than {max} bytes")]
    TooLong { max: usize },
    #[error("header section is not UTF-8")]
    NotUtf8,
    #[error("CSeq method {cseq} does not match request method {method}")]
    CSeqMismatch { cseq: String, method: String },
}

impl Error {
    pub(crate) fn header(header: &'static str, reason: &'static str) -> Self {
        Self::Header { header, reason }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
