//! What `ferroswitch run` loads from storage for the cores, per core shard: the presence and
//! messaging cores with the stored publications, the call tables with the dialing plan,
//! gateways and ring groups (and the task that reads the routing tables again).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferroswitch_config::Config;
use sip_message::{Epoch, Transport};
use tokio::sync::mpsc;

use crate::clock::unix_ms;
use crate::server::hook_client;

/// The presence core with the stored publications, and the messaging core.
pub(crate) async fn load_presence_messaging(
    store: &store::Store,
    config: &Config,
    epoch: Epoch,
    fetched: mpsc::UnboundedSender<crate::presence_io::Fetched>,
    done: mpsc::UnboundedSender<crate::messaging_io::Done>,
    writes: mpsc::UnboundedSender<crate::persist::Write>,
    (shard, shards): (usize, usize),
) -> anyhow::Result<(
    crate::presence_io::PresenceIo,
    crate::messaging_io::MessagingIo,
)> {
    let hooks = hook_client(config)?;
    let now = i64::try_from(unix_ms()).unwrap_or(i64::MAX);
    let rows = store
        .load_publications(now, Some(&config.node_id))
        .await
        .context("loading presence publications")?;
    let expired = store
        .purge_expired_publications(now)
        .await
        .context("purging expired presence publications")?;
    if shard > 0 {
        // said once, by the first shard
    } else if config.web_service.is_some() {
        tracing::info!(
            publications = rows.len(),
            expired,
            "presence restored; buddy lists come from the web_service hook"
        );
    } else {
        tracing::info!(
            publications = rows.len(),
            expired,
            "presence restored; buddy lists come from the database's contacts table (no \
             web_service hook configured)"
        );
    }
    let mut server =
        presence::PresenceServer::new(crate::presence_io::presence_config(config), rand::random());
    server.set_shard(shard, shards);
    let mut presence = crate::presence_io::PresenceIo::new(
        server,
        hooks.clone().filter(|h| h.config().buddy_list.is_some()),
        store.clone(),
        fetched,
        writes,
        epoch,
    );
    presence.restore(std::time::Instant::now(), rows);
    // the domain comes from the dispatcher (`with_domain`), never the realm
    let mut core = messaging::Messaging::new("localhost", rand::random());
    core.set_shard(shard, shards);
    let mut messaging = crate::messaging_io::MessagingIo::new(core, hooks, store.clone(), done);
    messaging.set_answer_timeout(config.calls.message_timeout);
    Ok((presence, messaging))
}

/// The call engine with the dialing plan, gateways and ring groups from storage.
#[allow(
    clippy::too_many_arguments,
    reason = "the routing reload's parts and the shard count; a struct would only rename them"
)]
pub(crate) async fn load_calls(
    store: &store::Store,
    config: &Config,
    epoch: Epoch,
    inputs: mpsc::UnboundedSender<crate::dispatcher::Input>,
    routing_now: Arc<tokio::sync::Notify>,
    reloader: &crate::reload::Reloader,
    gateways: Arc<GatewayContext>,
    shards: usize,
) -> anyhow::Result<(Vec<b2bua::Calls>, crate::calls::Routing)> {
    let (plan, routing, fingerprint) = load_routing(store, &gateways).await?;
    log_routing(&plan, &routing, "routing loaded");
    spawn_routing_reload(
        store.clone(),
        fingerprint,
        inputs.clone(),
        routing_now,
        gateways,
    );
    // one call table per shard; their ids and Call-IDs name their shard
    let mut calls: Vec<b2bua::Calls> = (0..shards)
        .map(|i| {
            let mut c = b2bua::Calls::new(b2bua_config(config), rand::random(), epoch);
            c.set_shard(i, shards);
            c.set_dial_plan(plan.clone());
            c
        })
        .collect();
    if let Some(m) = &config.media {
        let (handle, mut events) = media_io::Relay::start(crate::media::relay_config(m))
            .context("starting the media relay")?;
        tracing::info!(
            public = %handle.public_ip(),
            ports = %format!("{}-{}", m.port_min, m.port_max),
            "media relay started"
        );
        reloader.set_media(handle.clone());
        crate::metrics::watch_relay(handle.clone());
        for c in &mut calls {
            c.set_media(Box::new(crate::media::RelayMedia {
                handle: handle.clone(),
                anchor_onnet: m.anchor_onnet,
            }));
        }
        tokio::spawn(async move {
            while let Some(ev) = events.recv().await {
                // the B2BUA decides: an anchored call is dead, a peer-to-peer one is not
                let media_io::RelayEvent::Inactive { call } = ev else {
                    continue;
                };
                match call.parse() {
                    Ok(id) => {
                        let _ = inputs.send(crate::dispatcher::Input::MediaInactive(id));
                    }
                    Err(_) => tracing::warn!(%call, "relay event for an unknown session"),
                }
            }
        });
    }
    Ok((calls, routing))
}

/// The call policy from the config.
pub(crate) fn b2bua_config(config: &Config) -> b2bua::B2buaConfig {
    b2bua::B2buaConfig {
        call_timeout: config.calls.call_timeout,
        gateway_timeout: config.calls.gateway_timeout,
        max_duration: config.calls.max_duration,
        session_expires: config.calls.session_expires,
        min_se: config.calls.min_se,
        push: config.push_service.as_ref().map(|_| b2bua::PushPolicy {
            timeout: config.push.timeout,
            delay: config.push.delay,
        }),
        domain: config.registrar.domain.clone(),
        ..b2bua::B2buaConfig::default()
    }
}

/// What the routing reload needs for gateways: DNS, trunks, our TCP/TLS listeners.
#[derive(Debug)]
pub(crate) struct GatewayContext {
    pub(crate) dns: crate::gateways::GatewayDns,
    pub(crate) stream_locals: Vec<(Transport, SocketAddr)>,
}

/// The dialing plan, gateways and ring groups from storage, with a fingerprint of the rows
/// they were built from (and of what DNS said of the gateways).
async fn load_routing(
    store: &store::Store,
    gateways: &GatewayContext,
) -> anyhow::Result<(dialplan::DialPlan, crate::calls::Routing, u64)> {
    use std::hash::{Hash as _, Hasher as _};
    let mut fp = std::collections::hash_map::DefaultHasher::new();
    let plan_rows: Vec<(String, i32, String)> = store
        .list_dial_plan()
        .await
        .context("loading the dialing plan")?
        .into_iter()
        .map(|r| (r.prefix, r.priority, r.action))
        .collect();
    plan_rows.hash(&mut fp);
    let plan = crate::calls::dial_plan(&plan_rows);
    let mut routing = crate::calls::Routing {
        stream_locals: gateways.stream_locals.clone(),
        ..crate::calls::Routing::default()
    };
    for g in store.list_gateways().await.context("loading gateways")? {
        format!("{g:?}").hash(&mut fp);
        if !g.enabled {
            continue;
        }
        if let Some(route) = gateways.dns.route(&g).await {
            format!("{:?}", route.located).hash(&mut fp);
            routing.gateways.insert(g.name, route);
        }
    }
    gateways.dns.publish(&routing.gateways);
    for r in store
        .list_ring_groups()
        .await
        .context("loading ring groups")?
    {
        format!("{r:?}").hash(&mut fp);
        routing.groups.insert(
            r.login,
            crate::calls::ring_group(r.members, r.step_delay_s, r.max_steps),
        );
    }
    Ok((plan, routing, fp.finish()))
}

/// "routing loaded plan_entries=3 ...", or, when the plan is only the user lookup of every
/// number (no dialing plan rows: `calls::dial_plan` puts it in), a line that says so.
fn log_routing(plan: &dialplan::DialPlan, routing: &crate::calls::Routing, what: &str) {
    let (gateways, ring_groups) = (routing.gateways.len(), routing.groups.len());
    let only_user_lookup = matches!(
        plan.entries(),
        [e] if e.prefix.is_empty() && e.action == dialplan::Action::UserLookup
    );
    if only_user_lookup {
        tracing::info!(
            plan_entries = 0,
            gateways,
            ring_groups,
            "{what}: no dialing plan, every number dialed is a login (user lookup)"
        );
    } else {
        tracing::info!(plan_entries = plan.len(), gateways, ring_groups, "{what}");
    }
}

/// How soon a failed read of the routing tables is tried again.
const ROUTING_RETRY: Duration = Duration::from_millis(500);

/// How often the routing tables are read again: a CLI change takes effect within this time.
const ROUTING_RELOAD: Duration = Duration::from_secs(10);

/// Reads the routing tables every [`ROUTING_RELOAD`], and at once when `now` is notified (a
/// config reload), and hands them to the dispatcher when they changed (built here, swapped
/// there: the dispatcher never waits on the database).
fn spawn_routing_reload(
    store: store::Store,
    mut fingerprint: u64,
    inputs: mpsc::UnboundedSender<crate::dispatcher::Input>,
    now: Arc<tokio::sync::Notify>,
    gateways: Arc<GatewayContext>,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(ROUTING_RELOAD);
        let mut retry = ROUTING_RETRY;
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = now.notified() => tick.reset(),
            }
            match load_routing(&store, &gateways).await {
                Ok((plan, routing, fp)) if fp != fingerprint => {
                    fingerprint = fp;
                    log_routing(&plan, &routing, "routing reloaded");
                    if inputs
                        .send(crate::dispatcher::Input::Routing(Box::new((plan, routing))))
                        .is_err()
                    {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    // try again soon, not at the next poll: a nudged change (the admin API)
                    // must not wait 10 s behind a passing error (a MariaDB restart, a
                    // connection lost)
                    tracing::warn!(
                        "routing not reloaded (kept the current tables, retrying in {retry:?}): {e:#}"
                    );
                    tick.reset_after(retry);
                    // a longer outage: back off to the poll's pace
                    retry = (retry * 2).min(ROUTING_RELOAD);
                    continue;
                }
            }
            retry = ROUTING_RETRY;
        }
    });
}
