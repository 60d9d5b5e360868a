//! One location table shared by several registrar cores (one per shard) and by threads:
//! every core sees every binding, each purges its own logins, and readers on other threads
//! always see whole lists.

use std::collections::HashMap;

use registrar::{Binding, BindingChange, Location, RegistrarConfig};

use crate::client::*;

fn binding(key: &str, cseq: u32) -> Binding {
    Binding {
        key: key.into(),
        contact: format!("sip:{key}"),
        instance: None,
        reg_id: None,
        q_milli: None,
        expires_at: at(3_600_000),
        call_id: "cid".into(),
        cseq,
        source: udp_peer("198.51.100.7:5060"),
        reach: registrar::Reach::Flow,
        path: None,
        user_agent: None,
        updated_at: at(0),
    }
}

#[test]
fn registrars_on_one_table_see_each_others_bindings() {
    let table = Location::new();
    let mut a = Server::sharing(RegistrarConfig::default(), table.clone());
    let mut b = Server::sharing(RegistrarConfig::default(), table.clone());
    let (mut alice, mut bob) = (Client::alice(), Client::bob());

    let out = alice.register(&mut a, at(0), &Reg::contact("<sip:alice@10.0.0.1>"));
    assert_eq!(out.status(), 200, "{}", text(&out));
    let out = bob.register(&mut b, at(0), &Reg::contact("<sip:bob@10.0.0.2>"));
    assert_eq!(out.status(), 200, "{}", text(&out));

    let contacts = |s: &Server, login: &str| -> Vec<String> {
        let found = s.reg.location().lookup(login, at(1_000));
        found.iter().map(|b| b.contact.clone()).collect()
    };
    assert_eq!(contacts(&b, "alice"), ["sip:alice@10.0.0.1"]);
    assert_eq!(contacts(&a, "bob"), ["sip:bob@10.0.0.2"]);
    assert_eq!((table.len(), table.logins()), (2, 2));

    // a removal through one core is gone for the other
    let out = alice.register(
        &mut a,
        at(2_000),
        &Reg::contact("<sip:alice@10.0.0.1>").expires(0),
    );
    assert_eq!(out.status(), 200, "{}", text(&out));
    assert!(contacts(&b, "alice").is_empty());
    assert_eq!((b.reg.location().len(), b.reg.location().logins()), (1, 1));
}

#[test]
fn each_core_purges_only_its_own_logins() {
    let table = Location::new();
    let cfg = RegistrarConfig::default();
    // three cores: alice's is 1, bob's 2, and core 0 owns neither
    let mut cores: Vec<Server> = (0..3)
        .map(|i| {
            let mut s = Server::sharing(cfg.clone(), table.clone());
            s.reg.set_shard(i, 3);
            s.reg.handle_timeout(at(0));
            s
        })
        .collect();
    let shard_of = |login: &str| sip_message::shard::index(login, 3);
    assert_ne!(shard_of("alice"), shard_of("bob"), "one login on each core");
    for mut c in [Client::alice(), Client::bob()] {
        let core = &mut cores[shard_of(&c.user)];
        let reg = Reg::contact(&format!("<sip:{}@10.0.0.1>", c.user)).expires(60);
        assert_eq!(c.register(core, at(0), &reg).status(), 200);
    }
    assert_eq!(table.len(), 2);

    // both expired; each core's purge drops its own login only
    for (i, core) in cores.iter_mut().enumerate() {
        core.reg.handle_timeout(at(61_000));
        let mut gone = Vec::new();
        while let Some(ev) = core.reg.poll_event() {
            if let registrar::Event::Binding(BindingChange::Remove { login, .. }) = ev {
                gone.push(login);
            }
        }
        for login in ["alice", "bob"] {
            let purged = table.iter_login(login).is_empty();
            let ours = shard_of(login) == i;
            assert_eq!(
                gone.contains(&login.to_owned()),
                ours,
                "{login} by core {i}"
            );
            if ours {
                assert!(purged, "{login} purged by its core {i}");
            } else if shard_of(login) > i {
                assert!(!purged, "{login} left alone by core {i}");
            }
        }
    }
    assert!(table.is_empty());
    assert_eq!(table.logins(), 0);
}

#[test]
fn purge_expired_skips_logins_not_owned() {
    let l = Location::new();
    let mut gone = binding("a", 1);
    gone.expires_at = at(1_000);
    l.upsert("alice", gone.clone());
    l.upsert("bob", gone);
    let changes = l.purge_expired(at(2_000), |login| login == "bob");
    assert_eq!(
        changes,
        [BindingChange::Remove {
            login: "bob".into(),
            key: "a".into()
        }]
    );
    assert_eq!(l.iter_login("alice").count(), 1, "not this core's login");
    assert_eq!((l.len(), l.logins()), (1, 1));
}

/// Round `r` of a writer on one login: upsert key `k{r % 4}` with CSeq `r`, and every fifth
/// round remove the next key. The newest CSeq of a login never goes down.
fn round(l: &Location, login: &str, r: u32) {
    l.upsert(login, binding(&format!("k{}", r % 4), r));
    if r % 5 == 4 {
        l.remove(login, &format!("k{}", (r + 1) % 4));
    }
}

#[test]
fn writers_and_readers_on_threads_agree_at_the_end() {
    const WRITERS: usize = 3;
    const LOGINS: usize = 30;
    const ROUNDS: u32 = 300;
    let l = Location::new();
    std::thread::scope(|s| {
        // each writer owns its logins, as a shard does
        for w in 0..WRITERS {
            let l = l.clone();
            s.spawn(move || {
                for r in 0..ROUNDS {
                    for i in (w..LOGINS).step_by(WRITERS) {
                        round(&l, &format!("u{i}"), r);
                    }
                }
            });
        }
        for _ in 0..2 {
            let l = l.clone();
            s.spawn(move || {
                let mut newest = [0u32; LOGINS];
                for pass in 0..2_000 {
                    let i = pass % LOGINS;
                    let list = l.lookup(&format!("u{i}"), at(0));
                    let mut keys: Vec<&str> = list.iter().map(|b| b.key.as_str()).collect();
                    for b in &list {
                        assert_eq!(b.contact, format!("sip:{}", b.key), "a whole binding");
                    }
                    keys.sort_unstable();
                    keys.dedup();
                    assert_eq!(keys.len(), list.count(), "one binding per key");
                    assert!(keys.len() <= 4);
                    let top = list.iter().map(|b| b.cseq).max().unwrap_or(0);
                    assert!(
                        top >= newest[i],
                        "u{i} went back from {} to {top}",
                        newest[i]
                    );
                    newest[i] = top;
                }
            });
        }
    });
    // a visitor may write to the table it visits (no lock is held while it runs)
    let mut seen = 0;
    l.for_each(|login, b| {
        seen += 1;
        l.upsert(login, b.clone());
    });
    assert_eq!(seen, l.len());

    // the same rounds on a plain map
    let mut model: HashMap<String, HashMap<String, u32>> = HashMap::new();
    for i in 0..LOGINS {
        let keys = model.entry(format!("u{i}")).or_default();
        for r in 0..ROUNDS {
            keys.insert(format!("k{}", r % 4), r);
            if r % 5 == 4 {
                keys.remove(&format!("k{}", (r + 1) % 4));
            }
        }
    }
    let mut table: HashMap<String, HashMap<String, u32>> = HashMap::new();
    l.for_each(|login, b| {
        table
            .entry(login.to_owned())
            .or_default()
            .insert(b.key.clone(), b.cseq);
    });
    assert_eq!(table, model);
    let total: usize = model.values().map(HashMap::len).sum();
    assert_eq!((l.len(), l.logins()), (total, LOGINS));
}
