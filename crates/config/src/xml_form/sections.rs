//! The readers of the sections after the core ones: `<calls>`, `<dns>`, `<trunk>`,
//! `<security>`, `<media>`, `<admin>`, `<trusted-peer>` and `<cluster>`.

use std::path::PathBuf;

use roxmltree::Node;

use crate::model::{AdminSettings, AdminToken, MediaSettings, Trunk};
use crate::origin::Origin;
use crate::validate::Field;
use crate::ConfigError;

use super::values::{List, Seconds, XmlAddr, XmlAddrs, XmlIp};
use super::Reader;

impl<'d, 'input> Reader<'d, 'input> {
    pub(super) fn calls(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "calls", &[])?;
        let params = self.params(
            node,
            "calls".into(),
            &[
                "call-timeout",
                "gateway-timeout",
                "max-duration",
                "message-timeout",
                "session-expires",
                "min-se",
                "billing",
            ],
        )?;
        self.config.calls.billing = self.value(&params, "billing", None)?.unwrap_or(false);
        if let Some(Seconds(t)) = self.value(&params, "call-timeout", Some(Field::CallTimeout))? {
            self.config.calls.call_timeout = t;
        }
        if let Some(Seconds(t)) =
            self.value(&params, "gateway-timeout", Some(Field::GatewayTimeout))?
        {
            self.config.calls.gateway_timeout = t;
        }
        if let Some(Seconds(t)) = self.value(&params, "max-duration", Some(Field::MaxDuration))? {
            self.config.calls.max_duration = t;
        }
        if let Some(Seconds(t)) =
            self.value(&params, "message-timeout", Some(Field::CallMessageTimeout))?
        {
            self.config.calls.message_timeout = t;
        }
        if let Some(Seconds(t)) =
            self.value(&params, "session-expires", Some(Field::SessionExpires))?
        {
            self.config.calls.session_expires = t;
        }
        if let Some(Seconds(t)) = self.value(&params, "min-se", Some(Field::MinSe))? {
            self.config.calls.min_se = t;
        }
        Ok(())
    }

    /// `<dns><param name="servers" value="ip:port, ..."/></dns>`.
    pub(super) fn dns(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "dns", &[])?;
        let params = self.params(node, "dns".into(), &["servers"])?;
        if let Some(List(servers)) = self.value::<List>(&params, "servers", None)? {
            for s in servers {
                let addr = crate::origin::parse_socket_addr(&s).map_err(|m| {
                    self.error(
                        params.get("servers").map_or(params.line, |p| p.line),
                        params.key("servers"),
                        m,
                    )
                })?;
                self.config.dns.servers.push(addr);
            }
        }
        Ok(())
    }

    /// `<trunk gateway="NAME">` with `username`, `password`, `tls-ca-file` params.
    pub(super) fn trunk(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        let line = self.line(node);
        let gateway = node.attribute("gateway").unwrap_or_default();
        let section = format!("trunk[gateway={gateway}]");
        self.refuse_attributes(node, &section, &["gateway"])?;
        let params = self.params(
            node,
            section.clone(),
            &["username", "password", "tls-ca-file"],
        )?;
        let username: String = self.value(&params, "username", None)?.unwrap_or_default();
        let password: String = self.value(&params, "password", None)?.unwrap_or_default();
        let mut trunk = Trunk::new(gateway, &username, &password);
        trunk.tls_ca_file = self
            .value::<String>(&params, "tls-ca-file", None)?
            .map(PathBuf::from);
        trunk.origin = Origin::File { line, key: section };
        self.config.trunks.push(trunk);
        Ok(())
    }

    pub(super) fn security(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "security", &[])?;
        let params = self.params(
            node,
            "security".into(),
            &[
                "auth-failures",
                "auth-window",
                "auth-ban",
                "source-rate",
                "source-ban",
                "message-timeout",
                "unauthenticated-message-max",
                "buffered-max-mb",
                "connections-per-ip",
                "idle-timeout",
            ],
        )?;
        if let Some(n) = self.value(&params, "auth-failures", Some(Field::AuthFailures))? {
            self.config.security.auth_failures = n;
        }
        if let Some(Seconds(t)) = self.value(&params, "auth-window", Some(Field::AuthWindow))? {
            self.config.security.auth_window = t;
        }
        if let Some(Seconds(t)) = self.value(&params, "auth-ban", Some(Field::AuthBan))? {
            self.config.security.auth_ban = t;
        }
        for (name, field) in [
            ("source-rate", Field::SourceRate),
            (
                "unauthenticated-message-max",
                Field::UnauthenticatedMessageMax,
            ),
            ("buffered-max-mb", Field::BufferedMaxMb),
            ("connections-per-ip", Field::ConnectionsPerIp),
        ] {
            if let Some(n) = self.value::<u32>(&params, name, Some(field))? {
                let s = &mut self.config.security;
                *match field {
                    Field::SourceRate => &mut s.source_rate,
                    Field::UnauthenticatedMessageMax => &mut s.unauthenticated_message_max,
                    Field::BufferedMaxMb => &mut s.buffered_max_mb,
                    _ => &mut s.connections_per_ip,
                } = n;
            }
        }
        for (name, field) in [
            ("source-ban", Field::SourceBan),
            ("message-timeout", Field::MessageTimeout),
            ("idle-timeout", Field::IdleTimeout),
        ] {
            if let Some(Seconds(t)) = self.value(&params, name, Some(field))? {
                let s = &mut self.config.security;
                *match field {
                    Field::SourceBan => &mut s.source_ban,
                    Field::MessageTimeout => &mut s.message_timeout,
                    _ => &mut s.idle_timeout,
                } = t;
            }
        }
        Ok(())
    }

    pub(super) fn media(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "media", &[])?;
        let names = [
            "public-ipaddr",
            "public-ipaddr-v6",
            "ipaddr",
            "port-min",
            "port-max",
            "inactivity-timeout",
            "anchor-onnet",
        ];
        let params = self.params(node, "media".into(), &names)?;
        let public_address = self
            .value::<XmlIp>(&params, "public-ipaddr", Some(Field::MediaPublicAddress))?
            .map(|ip| ip.0);
        let mut media = MediaSettings {
            public_address,
            ..MediaSettings::default()
        };
        if media.public_address.is_none() {
            // Where it is missing: the element.
            self.positions.set(
                Field::MediaPublicAddress,
                params.line,
                params.key("public-ipaddr"),
            );
        }
        media.public_address_v6 = self
            .value::<XmlIp>(
                &params,
                "public-ipaddr-v6",
                Some(Field::MediaPublicAddressV6),
            )?
            .map(|ip| ip.0);
        if let Some(XmlIp(ip)) = self.value(&params, "ipaddr", Some(Field::MediaBindAddress))? {
            media.bind_address = ip;
        }
        if let Some(port) = self.value(&params, "port-min", Some(Field::MediaPortMin))? {
            media.port_min = port;
        }
        if let Some(port) = self.value(&params, "port-max", Some(Field::MediaPortMax))? {
            media.port_max = port;
        }
        if let Some(Seconds(t)) = self.value(
            &params,
            "inactivity-timeout",
            Some(Field::MediaInactivityTimeout),
        )? {
            media.inactivity_timeout = t;
        }
        media.anchor_onnet = self.value(&params, "anchor-onnet", None)?.unwrap_or(false);
        self.config.media = Some(media);
        Ok(())
    }

    pub(super) fn admin(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "admin", &[])?;
        let params = self.params(
            node,
            "admin".into(),
            &["ipaddr", "port", "token", "token-file"],
        )?;
        let listen = self.socket_addr(&params)?;
        let line = params.get("ipaddr").map_or(params.line, |p| p.line);
        self.positions
            .set(Field::AdminListen, line, params.key("ipaddr"));
        let origin = Origin::File {
            line: params.get("port").map_or(params.line, |p| p.line),
            key: params.key("port"),
        };
        let token = self
            .value::<String>(&params, "token", Some(Field::AdminToken))?
            .map(AdminToken::new);
        let token_file = self
            .value::<String>(&params, "token-file", Some(Field::AdminTokenFile))?
            .map(PathBuf::from);
        self.config.admin = Some(AdminSettings {
            listen,
            origin,
            token,
            token_file,
        });
        Ok(())
    }

    pub(super) fn trusted_peer(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "trusted_peer", &[])?;
        let params = self.params(node, "trusted_peer".into(), &["ipaddr"])?;
        let ip: XmlIp = self.required(&params, "ipaddr", None)?;
        self.config.trusted_peers.push(ip.0);
        Ok(())
    }

    /// `<cluster>`: redis, internal (`ip:port`), nodes (comma-separated `ip:port`), secret,
    /// key-prefix.
    pub(super) fn cluster(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "cluster", &[])?;
        let params = self.params(
            node,
            "cluster".into(),
            &["redis", "internal", "nodes", "secret", "key-prefix"],
        )?;
        let redis: String = self.required(&params, "redis", Some(Field::ClusterRedis))?;
        let internal: XmlAddr = self.required(&params, "internal", Some(Field::ClusterInternal))?;
        let secret: String = self.required(&params, "secret", Some(Field::ClusterSecret))?;
        let mut cluster = crate::ClusterSettings::new(&redis, internal.0, &secret);
        if let Some(nodes) = self.value::<XmlAddrs>(&params, "nodes", Some(Field::ClusterNodes))? {
            cluster.nodes = nodes.0;
        }
        if let Some(p) = self.value(&params, "key-prefix", Some(Field::ClusterKeyPrefix))? {
            cluster.key_prefix = p;
        }
        self.config.cluster = Some(cluster);
        Ok(())
    }

    /// `<smtp>` with `host`, `port`, `security`, `username`, `password`, `password-file`,
    /// `from`, `ca-file`, `attempts`, `retry-delay` params; the rules are [`crate::smtp`]'s.
    pub(super) fn smtp(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "smtp", &[])?;
        const NAMES: [(&str, &str); 10] = [
            ("host", "host"),
            ("port", "port"),
            ("security", "security"),
            ("username", "username"),
            ("password", "password"),
            ("password-file", "password_file"),
            ("from", "from"),
            ("ca-file", "ca_file"),
            ("attempts", "attempts"),
            ("retry-delay", "retry_delay"),
        ];
        let params = self.params(node, "smtp".into(), &NAMES.map(|(xml, _)| xml))?;
        for required in ["host", "from"] {
            if params.get(required).is_none() {
                return Err(self.error(
                    params.line,
                    params.key(required),
                    "missing (the SMTP server needs host and from)",
                ));
            }
        }
        let given = NAMES
            .iter()
            .filter_map(|(xml, name)| {
                params.get(xml).map(|p| {
                    (
                        *name,
                        crate::smtp::Given {
                            text: p.value.to_owned(),
                            line: p.line,
                            key: params.key(xml),
                        },
                    )
                })
            })
            .collect();
        self.config.smtp = Some(crate::smtp::build(params.line, given, self.path)?);
        Ok(())
    }
}
