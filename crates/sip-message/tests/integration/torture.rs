use bytes::Bytes;
use sip_message::Message;

const VALID: &[&str] = &["wsinv","intmeth","esc01","escnull","esc02","lwsdisp","longreq","dblreq","semiuri","transports","mpart01","unreason","noreason"];
const INVALID: &[&str] = &["badinv01","clerr","ncl","scalar02","scalarlg","quotbal","ltgtruri","lwsruri","lwsstart","trws","escruri","baddate","regbadct","badaspec","baddn","badvers","mismatch01","mismatch02","bigcode"];

fn load(kind: &str, name: &str) -> Bytes {
    let p = format!("{}/tests/torture/{kind}/{name}.sip", env!("CARGO_MANIFEST_DIR"));
    Bytes::from(std::fs::read(&p).unwrap())
}

#[test]
fn probe() {
    for n in VALID {
        let r = Message::parse(load("valid", n)).and_then(|m| m.sanity_check().map(|_| m));
        println!("valid {n}: {:?}", r.as_ref().err());
    }
    for n in INVALID {
        let r = Message::parse(load("invalid", n)).and_then(|m| m.sanity_check().map(|_| m));
        println!("invalid {n}: {:?}", r.as_ref().err());
    }
}
