//! The `parse_roundtrip` target: the SIP message parser and its typed header views.

use std::net::SocketAddr;

use bytes::Bytes;
use sip_message::{
    digest, CSeq, Challenge, ContactList, Credentials, HeaderName, Host, Message, MessageBuilder,
    NameAddr, Uri, Via,
};

/// `Message::parse` on arbitrary bytes: whatever parses prints and re-parses to an equal message,
/// and every typed view (parsed lazily) answers without panicking, the same way both times.
pub fn parse_roundtrip(data: &[u8]) {
    // the typed parsers on their own, with the input as one header value
    if let Ok(s) = std::str::from_utf8(data) {
        header_values(s);
    }
    let Ok(m1) = Message::parse(Bytes::copy_from_slice(data)) else {
        return;
    };
    let seen1 = exercise(&m1);

    let printed = m1.to_bytes();
    let m2 = match Message::parse(printed.clone()) {
        Ok(m) => m,
        Err(e) => panic!(
            "printed message does not re-parse: {e}\n{:?}",
            String::from_utf8_lossy(&printed)
        ),
    };
    assert_eq!(m1.start_line(), m2.start_line());
    assert_eq!(m1.headers(), m2.headers());
    assert_eq!(m1.body(), m2.body());
    assert_eq!(m1, m2);
    assert_eq!(m2.to_bytes(), printed, "second print differs");
    assert_eq!(
        seen1,
        exercise(&m2),
        "typed views differ after a round trip"
    );

    if m1.is_request() {
        let src: SocketAddr = "[2001:db8::1]:5060".parse().unwrap();
        for code in [100, 200, 401] {
            let resp = MessageBuilder::response_to(&m1, code, Some("fz"), Some(src)).finish();
            if let Err(e) = Message::parse(resp.clone()) {
                panic!(
                    "response_to output does not parse: {e}\n{:?}",
                    String::from_utf8_lossy(&resp)
                );
            }
        }
    }
}

fn header_values(s: &str) {
    if let Ok(u) = Uri::parse(s) {
        assert_eq!(u.to_string(), s);
        assert_eq!(Uri::parse(&u.to_string()).as_ref(), Ok(&u));
        let _ = (
            u.aor(),
            u.user_unescaped(),
            u.host.to_string(),
            u.transport_param(),
        );
    }
    if let Ok(h) = Host::parse(s) {
        // a printed host parses back to the same host
        let printed = h.to_string();
        assert_eq!(Host::parse(&printed), Ok(h), "{printed}");
    }
    for v in Via::parse_list(s).flatten() {
        let again = v.print_with_received("192.0.2.1".parse().unwrap(), 5060);
        if let Err(e) = Via::parse(&again) {
            panic!("print_with_received output does not parse: {e}: {again:?}");
        }
    }
    if let Ok(n) = NameAddr::parse(s, "To") {
        let _ = (n.display_name(), n.tag(), n.uri.aor());
    }
    if let Ok(ContactList::Contacts(cs)) = ContactList::parse(s) {
        for c in cs {
            let _ = (c.expires(), c.q_milli(), c.instance(), c.reg_id());
        }
    }
    let _ = (Credentials::parse(s), Challenge::parse(s), CSeq::parse(s));
    let _ = sip_message::percent_decode(s);
}

/// Calls every accessor; returns a digest of the answers (Debug text) to compare two parses.
fn exercise(m: &Message) -> String {
    let mut out = String::new();
    let mut note = |s: String| {
        out.push_str(&s);
        out.push('\n');
    };
    note(format!("{:?}", m.sanity_check()));
    if let Err(e) = m.sanity_check() {
        note(format!("{e} {}", e.status_code()));
    }
    note(format!(
        "{:?} {:?} {:?} {:?}",
        m.method(),
        m.status(),
        m.reason(),
        m.request_uri_str()
    ));
    if let Ok(u) = m.request_uri() {
        note(format!(
            "{u:?} {} {} {:?} {:?}",
            u.aor(),
            u,
            u.user_unescaped(),
            u.transport_param()
        ));
        note(u.host.to_string());
    }
    note(format!("{:?}", m.cseq()));
    for n in [m.from_header(), m.to_header()].into_iter().flatten() {
        name_addr(&mut note, &n);
    }
    note(format!(
        "{:?} {:?}",
        m.from_header().err(),
        m.to_header().err()
    ));
    for v in m.vias() {
        match v {
            Ok(v) => {
                note(format!(
                    "{v:?} {:?} {:?} {:?}",
                    v.branch(),
                    v.rport(),
                    v.received()
                ));
                note(v.print_with_received("192.0.2.1".parse().unwrap(), 5060));
                // a re-printed Via must itself parse back
                let again = v.print_with_received("2001:db8::2".parse().unwrap(), 1);
                if let Err(e) = Via::parse(&again) {
                    panic!("print_with_received output does not parse: {e}: {again:?}");
                }
            }
            Err(e) => note(format!("{e:?}")),
        }
    }
    note(format!("{:?}", m.top_via().map(|v| v.host.to_string())));
    match m.contacts() {
        Ok(Some(ContactList::Contacts(cs))) => {
            for c in &cs {
                name_addr(&mut note, &c.0);
                note(format!(
                    "{:?} {:?} {:?} {:?}",
                    c.expires(),
                    c.q_milli(),
                    c.instance(),
                    c.reg_id()
                ));
            }
        }
        other => note(format!("{other:?}")),
    }
    note(format!("{:?} {:?}", m.expires(), m.max_forwards()));
    for creds in [m.authorization(), m.proxy_authorization()]
        .into_iter()
        .flatten()
    {
        note(format!("{creds:?}"));
        if let Ok(c) = creds {
            note(format!("{}", c.is_digest()));
            if let Some(alg) = c
                .algorithm
                .as_deref()
                .map_or(Some(digest::Algorithm::Md5), digest::Algorithm::from_name)
            {
                let ha1 = alg.ha1(&c.username, &c.realm, "secret");
                let nc = c.nc.map(|n| format!("{n:08x}"));
                let qop = match (&nc, c.cnonce.as_deref()) {
                    (Some(nc), Some(cn)) => Some((nc.as_str(), cn)),
                    _ => None,
                };
                let r = digest::response(
                    alg,
                    &ha1,
                    &digest::ResponseParams {
                        method: "REGISTER",
                        uri: &c.uri,
                        nonce: &c.nonce,
                        qop_auth: qop,
                    },
                );
                note(format!("{}", digest::eq_hex(&r, &c.response)));
            }
        }
    }
    for name in [HeaderName::WwwAuthenticate, HeaderName::ProxyAuthenticate] {
        for v in m.header_values(&name) {
            note(format!("{:?}", Challenge::parse(v)));
        }
    }
    for name in [
        HeaderName::Route,
        HeaderName::RecordRoute,
        HeaderName::Path,
        HeaderName::ReferTo,
    ] {
        for v in m.header_list(&name) {
            match NameAddr::parse(v, "Route") {
                Ok(n) => name_addr(&mut note, &n),
                Err(e) => note(format!("{e}")),
            }
        }
    }
    note(format!(
        "{:?} {:?} {:?} {:?}",
        m.content_type(),
        m.event(),
        m.user_agent(),
        m.from_user()
    ));
    note(format!("{:?}", m.call_id()));
    for h in m.headers() {
        note(format!(
            "{} {} {} {}",
            h.name,
            h.name.is_list(),
            h.name.matches(h.name.as_str()),
            h.value()
        ));
        note(format!("{}", m.has_option_tag(&h.name, "100rel")));
        for item in m.header_list(&h.name) {
            note(item.to_owned());
        }
    }
    out
}

fn name_addr(note: &mut impl FnMut(String), n: &NameAddr<'_>) {
    note(format!(
        "{n:?} {:?} {:?} {} {:?} {:?}",
        n.display_name(),
        n.tag(),
        n.uri.aor(),
        n.uri.user_unescaped(),
        n.params.iter().collect::<Vec<_>>()
    ));
}
