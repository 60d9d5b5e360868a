//! Dialog identity and state: tags, CSeq, route set, remote target (RFC 3261 §12).
