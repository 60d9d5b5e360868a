//! `ferroswitch run`: opens storage, restores bindings, binds the listeners and runs the
//! dispatcher.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use ferroswitch_config::{Config, DigestAlgorithm, LogFormat};
use registrar::{Registrar, RegistrarConfig};
use sip_message::digest::Algorithm;
use sip_message::Transport;
use sip_transaction::{TimerConfig, TransactionLayer};
use tokio::sync::mpsc;

use crate::clock::unix_ms;
use crate::dispatcher::{Dispatcher, Inboxes};
pub(crate) use crate::loading::b2bua_config;
use crate::loading::{load_calls, load_presence_messaging, GatewayContext};
use crate::transport::{add_udp, add_udp_alias, serve_tcp, Transports};

/// Sets up logging; returns how to change the filter later (a reload of `log.level`), `None`
/// when `RUST_LOG` chose the filter (the environment wins over the file).
fn init_logging(config: &Config) -> Option<crate::reload::LogReload> {
    use tracing_subscriber::EnvFilter;
    let (filter, from_env) = match EnvFilter::try_from_default_env() {
        Ok(f) => (f, true),
        Err(_) => (EnvFilter::new(&config.log.level), false),
    };
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    // one closure per format: the handle's type names the formatter
    let reload: crate::reload::LogReload = match config.log.format {
        LogFormat::Json => {
            let b = builder
                .json()
                .with_env_filter(filter)
                .with_filter_reloading();
            let handle = b.reload_handle();
            let _ = b.try_init();
            Box::new(move |level: &str| {
                let f = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
                handle.reload(f).map_err(|e| e.to_string())
            })
        }
        _ => {
            let b = builder.with_env_filter(filter).with_filter_reloading();
            let handle = b.reload_handle();
            let _ = b.try_init();
            Box::new(move |level: &str| {
                let f = EnvFilter::try_new(level).map_err(|e| e.to_string())?;
                handle.reload(f).map_err(|e| e.to_string())
            })
        }
    };
    (!from_env).then_some(reload)
}

pub(crate) fn registrar_config(config: &Config) -> RegistrarConfig {
    let r = &config.registrar;
    RegistrarConfig {
        realm: r.realm.clone(),
        min_expires: r.min_expires,
        max_expires: r.max_expires,
        default_expires: r.default_expires,
        algorithms: r
            .algorithms
            .iter()
            .map(|a| match a {
                DigestAlgorithm::Md5 => Algorithm::Md5,
                _ => Algorithm::Sha256,
            })
            .collect(),
        nonce_lifetime_ms: u64::from(r.nonce_lifetime) * 1000,
        purge_interval: Duration::from_secs(u64::from(r.purge_interval.max(1))),
        // without a push hook no provider can be served: RFC 8599 REGISTERs get 555
        push_providers: if config.push_service.is_some() {
            config.push.providers.clone()
        } else {
            Vec::new()
        },
        contact_routing: match r.contact_routing {
            ferroswitch_config::ContactRouting::AlwaysFlow => registrar::ContactRouting::AlwaysFlow,
            ferroswitch_config::ContactRouting::AlwaysContact => {
                registrar::ContactRouting::AlwaysContact
            }
            _ => registrar::ContactRouting::Auto,
        },
        ..RegistrarConfig::default()
    }
}

pub(crate) async fn run(config: Config) -> anyhow::Result<()> {
    // first: a SIGHUP while starting must not end the process
    let mut signals = crate::lifecycle::Signals::install()?;
    let log_reload = init_logging(&config);
    // before anything counts (the TLS certificate's expiry is set as it is loaded)
    let metrics = crate::metrics::install();
    tracing::info!(config = %config.source.display(), node_id = %config.node_id, "ferroswitch {} starting", env!("CARGO_PKG_VERSION"));
    // how many core shards process SIP (`shards.rs`): each binds its own UDP sockets
    let shards = crate::shards::count(&config);
    // every port first: a busy one stops the start before the database or a certificate is made
    let bound = crate::listeners::bind_all(&config, shards).await?;

    let store = crate::accounts::open_store(&config).await?;
    // the change log is read from here on: nothing written after the accounts are read is
    // missed (a change seen twice is only applied twice)
    let account_changes_from = store
        .last_account_change()
        .await
        .context("reading the account change log")?;
    let accounts = store.list_accounts().await.context("loading accounts")?;

    let secret: Vec<u8> = match &config.registrar.nonce_secret {
        Some(s) => s.as_bytes().to_vec(),
        None => (0..32).map(|_| rand::random::<u8>()).collect(),
    };
    // the location table and the account cache are shared tables (every shard holds a handle)
    let registrar = Registrar::new(registrar_config(&config), &secret);
    // the one pairing of the monotonic and the wall clock (`clock.rs`)
    let epoch = crate::clock::epoch();
    let now = std::time::Instant::now();
    let mut restored_n = 0;
    for rec in store
        .load_bindings(Some(&config.node_id))
        .await
        .context("loading bindings")?
    {
        if let Some((login, b)) = crate::records::restored_binding(rec, &epoch) {
            if b.expires_at > now {
                registrar.location().upsert(&login, b);
                restored_n += 1;
            }
        }
    }
    // bindings that expired while the server was down
    let purged = store
        .purge_expired_bindings(epoch.wall_secs(now) as i64)
        .await
        .context("purging expired bindings")?;
    let accounts_cache =
        crate::account_cache::AccountCache::load(accounts, &registrar.config().realm, now);
    tracing::info!(
        accounts = accounts_cache.len(),
        bindings = restored_n,
        expired = purged,
        "state restored from {}",
        store::redact_url(&config.database.url)
    );

    let transports = Transports::default();
    // network channels per shard: connections send each message to its owner shard, a shard
    // hands a datagram of another's to it
    let (net_tx, net_rxs) = crate::shards::NetTx::channels(shards);
    // swapped by a reload: new handshakes take the new certificate
    let tls = match &config.tls {
        Some(tls) if config.listeners.iter().any(|l| l.transport.uses_tls()) => {
            let (cfg, chain) = crate::tls::server_config(tls)?;
            Some((Arc::new(arc_swap::ArcSwap::new(cfg)), chain))
        }
        _ => None,
    };
    let mut accept = Vec::new();
    // A device keeps its TCP/TLS flow alive with re-REGISTERs or RFC 5626 CRLF pings: a
    // connection silent for longer than the longest registration (plus a minute) is dead.
    let stream_idle = Duration::from_secs(u64::from(config.registrar.max_expires) + 60);
    // each shard sends from its own sockets; the connections are shared
    let shard_transports: Vec<Transports> = (0..shards)
        .map(|i| match i {
            0 => transports.clone(),
            _ => transports.for_shard(),
        })
        .collect();
    let mut shard_udp: Vec<Vec<(Arc<tokio::net::UdpSocket>, SocketAddr)>> =
        vec![Vec::new(); shards];
    // TCP/TLS gateways: the connections we open (outbound.rs), fed like accepted ones
    let dialer = Arc::new(crate::outbound::Dialer::new(net_tx.clone(), stream_idle));
    transports.set_dialer(dialer.clone());
    let mut stream_locals = Vec::new();
    for u in bound.udp {
        tracing::info!("listening on udp {}", u.local);
        if let Some(public) = u.advertise {
            tracing::info!(public = %public, "udp {} advertises {public}", u.local);
        }
        for (i, socket) in std::iter::once(u.socket).chain(u.more).enumerate() {
            add_udp(&shard_transports[i], socket.clone())?;
            // behind 1:1 NAT our messages name the public address; the socket answers to it too
            if let Some(public) = u.advertise {
                add_udp_alias(&shard_transports[i], public, socket.clone());
            }
            shard_udp[i].push((socket, u.advertise.unwrap_or(u.local)));
        }
    }
    let udp_sockets = &shard_udp[0];
    for b in bound.streams {
        let (t, addr) = (b.transport, b.listener.local_addr()?);
        tracing::info!("listening on {t} {addr}");
        if t.is_websocket() {
            let tls = tls.as_ref().map(|(cfg, _)| cfg.clone());
            accept.push(crate::ws::spawn(b, tls, &transports, &net_tx, stream_idle));
            continue;
        }
        let sip_t = match t {
            ferroswitch_config::Transport::Tls => Transport::Tls,
            _ => Transport::Tcp,
        };
        stream_locals.push((sip_t, b.advertise.unwrap_or(addr)));
        if let Some(public) = b.advertise {
            tracing::info!(public = %public, "{t} {addr} advertises {public}");
        }
        let tls = (t == ferroswitch_config::Transport::Tls)
            .then(|| tls.as_ref().map(|(cfg, _)| cfg.clone()))
            .flatten();
        accept.push(tokio::spawn(serve_tcp(
            b.listener,
            tls,
            transports.clone(),
            net_tx.clone(),
            stream_idle,
            b.advertise,
        )));
    }
    // with one shard, the network channel closes once every listener is gone; with several,
    // each shard holds the others' senders for its hand-offs
    let shard_net = (shards > 1).then(|| net_tx.clone());
    drop(net_tx);
    // The STUN listener (RFC 5389 Binding), when configured.
    if let Some(sock) = bound.stun {
        let server = media_io::StunServer::new(sock);
        crate::metrics::watch_stun(server.counters());
        tracing::info!("listening on stun {}", server.local_addr()?);
        tokio::spawn(async move {
            if let Err(e) = server.run(std::future::pending()).await {
                tracing::error!("STUN listener stopped: {e}");
            }
        });
    }
    // Push tokens the app sets or removes through the admin API, after their database write:
    // handed to the dispatcher (push_io::spawn_token_updates).
    if let Some(h) = metrics.clone() {
        crate::metrics::spawn_upkeep(h);
    }
    let (inputs_tx, inputs_rx) = mpsc::unbounded_channel();
    // a reload re-reads the routing tables at once
    let routing_now = Arc::new(tokio::sync::Notify::new());
    let reloader = Arc::new(crate::reload::Reloader::new(
        config.clone(),
        tls,
        log_reload,
        inputs_tx.clone(),
        routing_now.clone(),
    ));
    let mut push_token_changes: Option<mpsc::UnboundedReceiver<store::PushToken>> = None;
    let admin_listener = match (bound.admin, &config.admin) {
        (Some(listener), Some(admin)) => {
            tracing::info!("listening on http {}", listener.local_addr()?);
            if admin.token.is_none() {
                tracing::warn!(
                    "no [admin] token: the operator API routes answer 403 (docs/admin-api.md)"
                );
            }
            Some(listener)
        }
        _ => None,
    };

    let (writes_tx, writes_rx) = mpsc::unbounded_channel();
    // `[cluster]`: the Redis writer and subscriber; this node's bindings (the restored ones
    // now, every change through the tee) go to Redis besides the database
    let (cluster, cluster_rx, dispatcher_writes) = match &config.cluster {
        Some(c) => {
            let (node, updates, changes) = crate::cluster::start(c, &config.node_id, epoch)?;
            registrar.location().for_each(|login, binding| {
                let _ = changes.send(crate::cluster::Change::Binding(
                    registrar::BindingChange::Upsert {
                        login: login.to_owned(),
                        binding: binding.clone(),
                    },
                ));
            });
            let tee = crate::cluster::tee(writes_tx, changes);
            (Some(node), updates, tee)
        }
        None => (None, mpsc::unbounded_channel().1, writes_tx),
    };
    // from here every write goes through `dispatcher_writes` (the tee, with a cluster), moved
    // into the dispatcher: once it and its drivers drop it at shutdown, the writer drains and ends
    let write_queue = crate::persist::QueueDepth::default();
    let writer = tokio::spawn(crate::persist::writer(
        store.clone(),
        config.node_id.clone(),
        epoch,
        writes_rx,
        write_queue.clone(),
    ));
    // voicemail to email, with [smtp]: sends what is pending, then each deposit
    let voicemail_mailer = crate::voicemail_mail::start(&config, &store)?;
    let account_sync =
        crate::account_sync::spawn(store.clone(), account_changes_from, inputs_tx.clone());
    let (core_link, operator_rxs) = crate::operator::CoreLink::new(shards);
    let api_core = core_link.clone();
    if let (Some(listener), Some(admin)) = (admin_listener, &config.admin) {
        let (changes_tx, changes_rx) = mpsc::unbounded_channel();
        push_token_changes = Some(changes_rx);
        let state = crate::admin::AdminState::new(
            store.clone(),
            &config.registrar.realm,
            u64::from(config.registrar.nonce_lifetime) * 1000,
            Some(changes_tx),
        )
        .with_metrics(metrics.clone())
        .with_operator(
            admin.token.clone(),
            Some(core_link),
            Some(account_sync),
            write_queue,
            config.database.keep_plain_passwords,
        );
        let state = crate::admin::AdminState {
            reloader: Some(reloader.clone()),
            ..state
        };
        tokio::spawn(async move {
            if let Err(e) = crate::admin::serve(listener, state).await {
                tracing::error!("admin API stopped: {e}");
            }
        });
    }
    // each driver's completions come on a channel of its own, one per shard
    let (fetched_txs, fetched_rxs): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| mpsc::unbounded_channel()).unzip();
    let (done_txs, done_rxs): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| mpsc::unbounded_channel()).unzip();
    let (reports_txs, reports_rxs): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| mpsc::unbounded_channel()).unzip();
    // the push driver's reports go to the shard of their call, token changes to every shard
    let reports_tx = crate::shards::route_push_reports(reports_txs);
    let gateway_dns = Arc::new(GatewayContext {
        dns: crate::gateways::GatewayDns::new(&config, dialer)?,
        stream_locals,
    });
    let (mut shard_calls, routing) = load_calls(
        &store,
        &config,
        epoch,
        inputs_tx.clone(),
        routing_now,
        &reloader,
        gateway_dns,
        shards,
    )
    .await?;
    // one credit core for every shard: an account's calls may be on several
    let credit = if config.calls.billing {
        let handle =
            crate::billing_load::start(&store, &config, epoch, dispatcher_writes.clone()).await?;
        for calls in &mut shard_calls {
            calls.set_credit(Box::new(handle.clone()));
        }
        Some(handle)
    } else {
        None
    };
    let listener_ips: Vec<std::net::IpAddr> =
        config.listeners.iter().map(|l| l.addr.ip()).collect();
    // the built-in voicemail's mailbox changes go to the shard of the mailbox's login
    let voicemail = crate::voicemail_service::start(
        &config,
        &store,
        crate::shards::route_mailboxes(&fetched_txs),
        &listener_ips,
        voicemail_mailer.clone(),
    )
    .await?;
    let tokens_read_at = (unix_ms() / 1000) as i64;
    // one table of push tokens, shared by the shards
    let push_tokens = crate::push_io::PushTokens::load(
        store
            .list_push_tokens(None)
            .await
            .context("loading push tokens")?,
    );
    crate::push_io::spawn_token_updates(
        store.clone(),
        push_token_changes.take(),
        reports_tx.clone(),
        tokens_read_at,
    );
    let push_poster = crate::push_io::PushPoster::new(
        hook_client(&config)?,
        config.push.max_in_flight,
        reports_tx,
    );
    // the call-control API: its agent places calls through the first UDP socket
    let api_agent = match (bound.api, &config.api, udp_sockets.first()) {
        (Some(listener), Some(api), Some((_, switch))) => {
            let domain = config
                .registrar
                .domain
                .clone()
                .unwrap_or_else(|| switch.to_string());
            // pns channels go through the push hook
            let hook = match &config.push_service {
                Some(_) => hook_client(&config)?,
                None => None,
            };
            let agent = crate::api::start(
                listener,
                api,
                store.clone(),
                *switch,
                domain,
                api_core,
                hook,
            );
            Some(agent.await?)
        }
        (Some(_), Some(_), None) => {
            anyhow::bail!("[api] needs a UDP SIP listener for its call agent")
        }
        _ => None,
    };
    let domain_default = udp_sockets
        .first()
        .map(|(_, a)| a.to_string())
        .unwrap_or_else(|| "localhost".to_owned());
    // every shard's inputs: with one shard, the server's input channel itself
    let (shard_inputs, shard_input_rxs, fan_out_rx) = if shards == 1 {
        (vec![inputs_tx.clone()], vec![inputs_rx], None)
    } else {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..shards).map(|_| mpsc::unbounded_channel()).unzip();
        (txs, rxs, Some(inputs_rx))
    };
    let shard_inputs: Arc<[_]> = shard_inputs.into();
    let mut shard_input_rxs = shard_input_rxs.into_iter();
    let awaited = crate::shards::Awaited::default();
    let drained = Arc::new(crate::shards::Drained::default());
    let merged = Arc::new(std::sync::atomic::AtomicBool::new(false));
    // with several shards, the other nodes' state is shared: each update is applied to it once,
    // then copied to every shard for its own part (`shards::fan_out_cluster`)
    let mut cluster_rxs = match &cluster {
        Some(node) if shards > 1 => {
            crate::shards::fan_out_cluster(cluster_rx, node.clone(), epoch, shards)
        }
        _ => vec![cluster_rx],
    }
    .into_iter();
    // the other shards' registrars share the first one's table and nonces
    let first_registrar = registrar.share(registrar_config(&config));
    let mut registrar = Some(registrar);
    let mut dispatchers: Vec<crate::shard_drive::ShardFuture> = Vec::with_capacity(shards);
    let per_shard = fetched_txs
        .into_iter()
        .zip(fetched_rxs)
        .zip(done_txs.into_iter().zip(done_rxs))
        .zip(reports_rxs.into_iter().zip(operator_rxs))
        .zip(net_rxs.into_iter().zip(shard_udp))
        .zip(shard_calls.into_iter().zip(shard_transports));
    for (
        index,
        ((((fetched, done), (reports_rx, operator_rx)), (net_rx, udp)), (calls, transports)),
    ) in per_shard.enumerate()
    {
        let siblings = shard_net.as_ref().map(|net| crate::shards::Siblings {
            index,
            net: net.clone(),
            inputs: shard_inputs.clone(),
            awaited: awaited.clone(),
            drained: drained.clone(),
            merged: merged.clone(),
            keeping: crate::shards::Keeping::default(),
        });
        // a shard's publications are known to the others (`shards::tee_publications`)
        let presence_writes = match &siblings {
            None => dispatcher_writes.clone(),
            Some(s) => crate::shards::tee_publications(dispatcher_writes.clone(), s.clone()),
        };
        let (presence, messaging) = load_presence_messaging(
            &store,
            &config,
            epoch,
            fetched.0,
            done.0,
            presence_writes,
            (index, shards),
        )
        .await?;
        let mut tx = TransactionLayer::new(TimerConfig::default());
        tx.set_shard(index, shards);
        let shard_registrar = match registrar.take() {
            // the first shard's holds the restored bindings; the others share its table
            Some(r) => r,
            None => first_registrar.share(registrar_config(&config)),
        };
        let mut shard_registrar = shard_registrar;
        shard_registrar.set_shard(index, shards);
        let dispatcher = Dispatcher::new(
            tx,
            shard_registrar,
            transports,
            store.clone(),
            dispatcher_writes.clone(),
            shard_inputs[index].clone(),
            accounts_cache.clone(),
            calls,
            routing.clone(),
            presence,
            messaging,
            config.trusted_peers.clone(),
        )
        .with_epoch(epoch)
        .with_system_commands(messaging::SystemCommands {
            content_types: config.push.system_content_types.clone(),
            body_prefix: config.push.system_body_prefix.clone(),
        })
        .with_push(push_tokens.clone(), push_poster.clone())
        .with_voicemail(voicemail.as_ref().map(|(b, _)| b.clone()))
        .with_api_agent(api_agent)
        .with_auth_limits((&config.security).into())
        .with_security(&config.security)
        .with_domain(config.registrar.domain.clone(), domain_default.clone());
        let dispatcher = match &credit {
            Some(c) => dispatcher.with_credit(c.clone()),
            None => dispatcher,
        };
        let dispatcher = match &cluster {
            Some(node) => dispatcher.with_cluster(node.clone()),
            None => dispatcher,
        };
        let dispatcher = match siblings {
            None => dispatcher,
            Some(s) => dispatcher.with_siblings(s),
        };
        let (net_rx, handed) = net_rx;
        let inboxes = Inboxes {
            handed,
            inputs: shard_input_rxs.next().context("a shard without inputs")?,
            presence: fetched.1,
            messaging: done.1,
            push: reports_rx,
            operator: operator_rx,
            cluster: cluster_rxs
                .next()
                .unwrap_or_else(|| mpsc::unbounded_channel().1),
        };
        dispatchers.push(Box::pin(dispatcher.run(udp, net_rx, inboxes)));
    }
    // the shards own every sender of writes now: once they end, the writer drains and ends
    drop(dispatcher_writes);
    if let Some(rx) = fan_out_rx {
        crate::shards::fan_out(rx, shard_inputs.clone());
        tracing::info!(shards, "SIP core in {shards} shards");
    }
    // one handle for the lifecycle: aborting it drops every shard; with several, one task
    // drives them all while one core keeps up (`shard_drive.rs`)
    let dispatcher_task = match dispatchers.len() {
        1 => tokio::spawn(dispatchers.pop().context("the one shard")?),
        _ => {
            let setting =
                crate::shard_drive::MergeSetting::new(config.shard_merge.unwrap_or_default());
            // a reload changes it live (`shard_merge`)
            reloader.set_shard_merge(setting.clone());
            tokio::spawn(crate::shard_drive::drive(dispatchers, setting, merged))
        }
    };
    tracing::info!("ferroswitch ready");
    crate::notify::ready();

    let stop = signals.until_stop(&reloader).await;
    crate::notify::stopping();
    let timeout = reloader.shutdown_timeout().await;
    tracing::info!(
        signal = stop,
        ?timeout,
        "shutting down: ending calls, flushing pending database writes"
    );
    let running = crate::lifecycle::Running {
        accept,
        dispatcher: dispatcher_task,
        inputs: inputs_tx,
        writer,
        store,
    };
    crate::lifecycle::shutdown(running, timeout, &mut signals).await?;
    if let Some((_, svc)) = voicemail {
        svc.stop();
        tracing::info!("voicemail stopped");
    }
    Ok(())
}

/// The operator API client for the configured hooks (`web_service` → buddy list,
/// `push_service` → push, `sms_service` → SMS out); `None` with no hook configured.
pub(crate) fn hook_client(config: &Config) -> anyhow::Result<Option<hooks::HookClient>> {
    let endpoint = |h: &Option<ferroswitch_config::HttpHook>, what: &str| {
        h.as_ref()
            .map(|h| {
                hooks::Endpoint::from_parts(&h.ipaddr, h.port, &h.service)
                    .map(|e| {
                        e.with_https(h.https)
                            .with_credentials(&h.username, &h.password)
                    })
                    .with_context(|| format!("{what} hook"))
            })
            .transpose()
    };
    let cfg = hooks::HookConfig {
        buddy_list: endpoint(&config.web_service, "web_service")?,
        push: endpoint(&config.push_service, "push_service")?,
        sms: endpoint(&config.sms_service, "sms_service")?,
        ..hooks::HookConfig::default()
    };
    if cfg.buddy_list.is_none() && cfg.push.is_none() && cfg.sms.is_none() {
        return Ok(None);
    }
    for (ep, what) in [
        (&cfg.buddy_list, "buddy list"),
        (&cfg.push, "push"),
        (&cfg.sms, "SMS out"),
    ] {
        if let Some(ep) = ep {
            tracing::info!(url = %ep.display_url(), "{what} hook");
        }
    }
    Ok(Some(
        hooks::HookClient::new(cfg).context("building the operator API client")?,
    ))
}
