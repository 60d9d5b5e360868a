//! The voipswitch XML form (`voipswitch_config.xml`), converted into the model.
//!
//! Every section is an element holding `<param name="..." value="..."/>` children, as in
//! voipswitch: `<listener type="sip|registrar|stun">`, `<web_service>`, `<push_service>` (with
//! our push params on top of the hook's), plus our
//! own `<sms_service>` (same params), `<node>`, `<registrar>`, `<database>`, `<log>`, `<calls>`, `<media>`, `<admin>` and
//! `<trusted_peer>` for what voipswitch keeps elsewhere. Unknown elements, attributes, listener types and params are
//! refused; keys in errors read `listener[type=sip].port` or `registrar.min-expiration`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use roxmltree::{Document, Node};

use crate::model::{
    sqlite_url_in, Config, ContactRouting, HttpHook, ListenerRole, LogFormat, SipListener,
    StunSettings, TlsSettings, Transport,
};
use crate::origin::{Advertise, Origin};
use crate::validate::{self, Field, Hook, Positions};
use crate::ConfigError;

mod api;
mod sections;
mod values;
mod voicemail;
use values::{Algorithms, List, Seconds, XmlIp, XmlValue};

const ROOTS: &[&str] = &["voipswitch", "config"];
const SECTIONS: &[&str] = &[
    "listener",
    "web_service",
    "push_service",
    "sms_service",
    "node",
    "registrar",
    "database",
    "log",
    "calls",
    "security",
    "media",
    "admin",
    "api",
    "trusted_peer",
    "dns",
    "trunk",
    "voicemail",
    "smtp",
    "cluster",
];
const TLS_PARAMS: &[&str] = &[
    "tls-certificate",
    "tls-private-key",
    "tls-generate-self-signed",
];
const LISTENER_TYPES: &[&str] = &["sip", "registrar", "stun"];
const HOOK_PARAMS: &[&str] = &["ipaddr", "port", "username", "password", "service", "https"];
/// `<push_service>` takes these on top of [`HOOK_PARAMS`] (ours, read into `Config::push`).
const PUSH_PARAMS: &[&str] = &[
    "push-timeout",
    "push-delay",
    "providers",
    "system-content-types",
    "system-body-prefix",
    "max-in-flight",
];

/// Parses the XML form; see [`crate::parse_xml`].
pub(crate) fn parse(text: &str, path: &Path) -> Result<Config, ConfigError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    // The defaults refuse DTDs (no entity expansion).
    let doc = Document::parse(text)
        .map_err(|e| ConfigError::invalid(path, e.pos().row as usize, "xml", e.to_string()))?;
    let root = doc.root_element();
    let mut reader = Reader {
        doc: &doc,
        path,
        positions: Positions::new(line(&doc, root)),
        config: Config {
            source: path.to_path_buf(),
            ..Config::default()
        },
    };
    reader.root(root)?;
    let Reader {
        config, positions, ..
    } = reader;
    validate::finish(config, &positions)
}

fn line(doc: &Document<'_>, node: Node<'_, '_>) -> usize {
    doc.text_pos_at(node.range().start).row as usize
}

struct Reader<'d, 'input> {
    doc: &'d Document<'input>,
    path: &'d Path,
    positions: Positions,
    config: Config,
}

/// One `<param>`.
struct Param<'a> {
    name: &'a str,
    value: &'a str,
    line: usize,
}

/// The params of one section element, checked against the names it allows.
struct Params<'a> {
    /// The section as named in errors: `listener[type=sip]`, `registrar`, ...
    section: String,
    line: usize,
    list: Vec<Param<'a>>,
}

impl Params<'_> {
    fn get(&self, name: &str) -> Option<&Param<'_>> {
        self.list.iter().find(|p| p.name == name)
    }

    fn key(&self, name: &str) -> String {
        format!("{}.{name}", self.section)
    }
}

impl<'d, 'input> Reader<'d, 'input> {
    fn error(
        &self,
        line: usize,
        key: impl Into<String>,
        message: impl Into<String>,
    ) -> ConfigError {
        ConfigError::invalid(self.path, line, key, message)
    }

    fn line(&self, node: Node<'_, '_>) -> usize {
        line(self.doc, node)
    }

    fn root(&mut self, root: Node<'d, 'input>) -> Result<(), ConfigError> {
        let name = root.tag_name().name();
        if !ROOTS.contains(&name) {
            return Err(self.error(
                self.line(root),
                name,
                format!(
                    "unknown root element (expected one of {})",
                    ROOTS.join(", ")
                ),
            ));
        }
        self.refuse_attributes(root, name, &[])?;
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for child in root.children() {
            if child.is_text() {
                self.refuse_text(child, name)?;
                continue;
            }
            if !child.is_element() {
                continue; // comments, processing instructions
            }
            let section = child.tag_name().name();
            let line = self.line(child);
            if SECTIONS.contains(&section)
                && !matches!(section, "listener" | "trusted_peer" | "trunk")
            {
                if let Some(first) = seen.insert(section, line) {
                    return Err(self.error(
                        line,
                        section,
                        format!("given twice (first at line {first})"),
                    ));
                }
            }
            match section {
                "listener" => self.listener(child)?,
                "web_service" => self.config.web_service = Some(self.hook(child, Hook::Web)?),
                "push_service" => self.config.push_service = Some(self.hook(child, Hook::Push)?),
                "sms_service" => self.config.sms_service = Some(self.hook(child, Hook::Sms)?),
                "node" => self.node(child)?,
                "registrar" => self.registrar(child)?,
                "database" => self.database(child)?,
                "log" => self.log(child)?,
                "calls" => self.calls(child)?,
                "security" => self.security(child)?,
                "media" => self.media(child)?,
                "admin" => self.admin(child)?,
                "api" => self.api(child)?,
                "trusted_peer" => self.trusted_peer(child)?,
                "dns" => self.dns(child)?,
                "trunk" => self.trunk(child)?,
                "voicemail" => self.voicemail(child)?,
                "smtp" => self.smtp(child)?,
                "cluster" => self.cluster(child)?,
                _ => {
                    return Err(self.error(
                        line,
                        section,
                        format!("unknown element (expected one of {})", SECTIONS.join(", ")),
                    ))
                }
            }
        }
        Ok(())
    }

    fn refuse_attributes(
        &self,
        node: Node<'_, '_>,
        key: &str,
        allowed: &[&str],
    ) -> Result<(), ConfigError> {
        match node.attributes().find(|a| !allowed.contains(&a.name())) {
            Some(a) => Err(self.error(
                self.line(node),
                key,
                format!("unknown attribute {:?}", a.name()),
            )),
            None => Ok(()),
        }
    }

    fn refuse_text(&self, node: Node<'_, '_>, key: &str) -> Result<(), ConfigError> {
        match node.text().map(str::trim) {
            Some(text) if !text.is_empty() => {
                Err(self.error(self.line(node), key, format!("unexpected text {text:?}")))
            }
            _ => Ok(()),
        }
    }

    /// Reads the `<param>` children of `node`, refusing anything else.
    fn params(
        &self,
        node: Node<'d, 'input>,
        section: String,
        allowed: &[&str],
    ) -> Result<Params<'d>, ConfigError> {
        let mut params = Params {
            line: self.line(node),
            section,
            list: Vec::new(),
        };
        for child in node.children() {
            if child.is_text() {
                self.refuse_text(child, &params.section)?;
                continue;
            }
            if !child.is_element() {
                continue;
            }
            let line = self.line(child);
            let tag = child.tag_name().name();
            if tag != "param" {
                return Err(self.error(
                    line,
                    format!("{}.{tag}", params.section),
                    "unknown element (expected <param name=\"...\" value=\"...\"/>)",
                ));
            }
            let Some(name) = child.attribute("name") else {
                return Err(self.error(
                    line,
                    format!("{} param", params.section),
                    "missing name attribute",
                ));
            };
            let key = format!("{} param {name:?}", params.section);
            self.refuse_attributes(child, &key, &["name", "value"])?;
            if let Some(inner) = child
                .children()
                .find(|c| c.is_element() || c.text().is_some_and(|t| !t.trim().is_empty()))
            {
                return Err(self.error(self.line(inner), key, "a param holds no content"));
            }
            if !allowed.contains(&name) {
                return Err(self.error(
                    line,
                    key,
                    format!("unknown parameter (expected one of {})", allowed.join(", ")),
                ));
            }
            let Some(value) = child.attribute("value") else {
                return Err(self.error(line, key, "missing value attribute"));
            };
            if let Some(first) = params.get(name) {
                let first = first.line;
                return Err(self.error(line, key, format!("given twice (first at line {first})")));
            }
            params.list.push(Param { name, value, line });
        }
        Ok(params)
    }

    /// The value of param `name` if given, recording its position for `field`.
    fn value<T: XmlValue>(
        &mut self,
        params: &Params<'_>,
        name: &str,
        field: Option<Field>,
    ) -> Result<Option<T>, ConfigError> {
        let Some(p) = params.get(name) else {
            return Ok(None);
        };
        let value = T::from_xml(p.value).map_err(|m| self.error(p.line, params.key(name), m))?;
        if let Some(field) = field {
            self.positions.set(field, p.line, params.key(name));
        }
        Ok(Some(value))
    }

    fn required<T: XmlValue>(
        &mut self,
        params: &Params<'_>,
        name: &str,
        field: Option<Field>,
    ) -> Result<T, ConfigError> {
        match self.value(params, name, field)? {
            Some(v) => Ok(v),
            None => Err(self.error(
                params.line,
                params.key(name),
                "required parameter is missing",
            )),
        }
    }

    fn socket_addr(&mut self, params: &Params<'_>) -> Result<SocketAddr, ConfigError> {
        let ip: XmlIp = self.required(params, "ipaddr", None)?;
        let port: u16 = self.required(params, "port", None)?;
        Ok(SocketAddr::new(ip.0, port))
    }

    fn listener(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        let line = self.line(node);
        let Some(kind) = node.attribute("type") else {
            return Err(self.error(
                line,
                "listener",
                format!(
                    "missing type attribute (expected one of {})",
                    LISTENER_TYPES.join(", ")
                ),
            ));
        };
        let section = format!("listener[type={kind}]");
        self.refuse_attributes(node, &section, &["type"])?;
        let sip_params = [
            "ipaddr",
            "port",
            "transport",
            "advertise",
            "allowed-origins",
        ];
        let allowed: Vec<&str> = match kind {
            "sip" => [&sip_params[..], TLS_PARAMS].concat(),
            "registrar" => [
                &sip_params[..],
                &["register-expiration", "subscribe-expiration"],
                TLS_PARAMS,
            ]
            .concat(),
            "stun" => vec!["ipaddr", "port"],
            _ => {
                return Err(self.error(
                    line,
                    section,
                    format!(
                        "unknown listener type (expected one of {})",
                        LISTENER_TYPES.join(", ")
                    ),
                ))
            }
        };
        let params = self.params(node, section, &allowed)?;
        let addr = self.socket_addr(&params)?;
        let origin = Origin::File {
            line: params.get("port").map_or(line, |p| p.line),
            key: params.key("port"),
        };
        if kind == "stun" {
            if let Some(stun) = &self.config.stun {
                return Err(self.error(
                    line,
                    params.section,
                    format!("a second STUN listener ({} is one)", stun.addr),
                ));
            }
            self.config.stun = Some(StunSettings { addr, origin });
            return Ok(());
        }

        let i = self.config.listeners.len();
        self.positions
            .set(Field::ListenerAddr(i), line, params.section.clone());
        let transport = self.value(&params, "transport", Some(Field::ListenerTransport(i)))?;
        let role = if kind == "sip" {
            ListenerRole::Sip
        } else {
            ListenerRole::Registrar
        };
        let advertise = self.value::<Advertise>(&params, "advertise", None)?;
        let allowed_origins = self
            .value::<List>(&params, "allowed-origins", Some(Field::ListenerOrigins(i)))?
            .map(|l| l.0)
            .unwrap_or_default();
        self.config.listeners.push(SipListener {
            addr,
            transport: transport.unwrap_or(Transport::Udp),
            role,
            advertise,
            allowed_origins,
            origin,
        });
        self.listener_tls(&params)?;

        for (name, field) in [
            ("register-expiration", Field::MaxExpires),
            ("subscribe-expiration", Field::SubscribeExpiration),
        ] {
            let earlier = self.positions.get(field).map(|p| p.line);
            let Some(value) = self.value::<u32>(&params, name, Some(field))? else {
                continue;
            };
            let r = &mut self.config.registrar;
            let slot = if field == Field::MaxExpires {
                &mut r.max_expires
            } else {
                &mut r.subscribe_expiration
            };
            let current = std::mem::replace(slot, value);
            if let Some(first) = earlier.filter(|_| current != value) {
                return Err(self.error(
                    params.get(name).map_or(line, |p| p.line),
                    params.key(name),
                    format!("{value} differs from the {current} at line {first}"),
                ));
            }
        }
        Ok(())
    }

    /// "It is sufficient to define the certificate only for the main SIP listener, the
    /// Registrar will use the same settings": one TLS setting for all listeners.
    fn listener_tls(&mut self, params: &Params<'_>) -> Result<(), ConfigError> {
        let earlier = self.positions.get(Field::TlsCertificate).map(|p| p.line);
        let Some(certificate) =
            self.value::<String>(params, "tls-certificate", Some(Field::TlsCertificate))?
        else {
            if let Some(p) = params.list.iter().find(|p| TLS_PARAMS.contains(&p.name)) {
                return Err(self.error(
                    p.line,
                    params.key(p.name),
                    "needs tls-certificate in the same listener",
                ));
            }
            return Ok(());
        };
        let certificate = PathBuf::from(certificate);
        let private_key = self
            .value::<String>(params, "tls-private-key", Some(Field::TlsPrivateKey))?
            .map_or_else(|| certificate.clone(), PathBuf::from);
        let generate_self_signed = self
            .value(params, "tls-generate-self-signed", None)?
            .unwrap_or(false);
        let tls = TlsSettings {
            certificate,
            private_key,
            generate_self_signed,
        };
        if let (Some(first), Some(existing)) = (earlier, &self.config.tls) {
            if *existing != tls {
                let line = params
                    .get("tls-certificate")
                    .map_or(params.line, |p| p.line);
                return Err(self.error(
                    line,
                    params.key("tls-certificate"),
                    format!("TLS settings differ from those at line {first}: all TLS listeners share one certificate"),
                ));
            }
        }
        self.config.tls = Some(tls);
        Ok(())
    }

    fn hook(&mut self, node: Node<'d, 'input>, which: Hook) -> Result<HttpHook, ConfigError> {
        let (section, default_service) = which.section();
        self.refuse_attributes(node, section, &[])?;
        let allowed = match which {
            Hook::Push => [HOOK_PARAMS, PUSH_PARAMS].concat(),
            Hook::Web | Hook::Sms => HOOK_PARAMS.to_vec(),
        };
        let params = self.params(node, section.to_owned(), &allowed)?;
        let hook = HttpHook {
            ipaddr: self.required(&params, "ipaddr", None)?,
            port: self.required(&params, "port", Some(Field::HookPort(which)))?,
            username: self.value(&params, "username", None)?.unwrap_or_default(),
            password: self.value(&params, "password", None)?.unwrap_or_default(),
            service: self
                .value(&params, "service", Some(Field::HookService(which)))?
                .unwrap_or_else(|| default_service.to_owned()),
            https: self.value(&params, "https", None)?.unwrap_or(false),
        };
        if which == Hook::Push {
            self.push(&params)?;
        }
        Ok(hook)
    }

    /// The push settings among the `<push_service>` params.
    fn push(&mut self, params: &Params<'_>) -> Result<(), ConfigError> {
        if let Some(Seconds(t)) = self.value(params, "push-timeout", Some(Field::PushTimeout))? {
            self.config.push.timeout = t;
        }
        if let Some(Seconds(t)) = self.value(params, "push-delay", Some(Field::PushDelay))? {
            self.config.push.delay = t;
        }
        if let Some(List(names)) = self.value(params, "providers", Some(Field::PushProviders))? {
            self.config.push.providers = names;
        }
        if let Some(List(types)) = self.value(
            params,
            "system-content-types",
            Some(Field::PushSystemContentTypes),
        )? {
            self.config.push.system_content_types = types;
        }
        if let Some(prefix) = self.value(params, "system-body-prefix", None)? {
            self.config.push.system_body_prefix = prefix;
        }
        if let Some(n) = self.value::<u32>(params, "max-in-flight", Some(Field::PushMaxInFlight))? {
            self.config.push.max_in_flight = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(())
    }

    fn node(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "node", &[])?;
        let params = self.params(
            node,
            "node".into(),
            &[
                "id",
                "shutdown-timeout",
                "shards",
                "udp-steering",
                "shard-merge",
            ],
        )?;
        if let Some(id) = self.value(&params, "id", Some(Field::NodeId))? {
            self.config.node_id = id;
        }
        if let Some(Seconds(t)) =
            self.value(&params, "shutdown-timeout", Some(Field::ShutdownTimeout))?
        {
            self.config.shutdown_timeout = t;
        }
        if let Some(n) = self.value::<u32>(&params, "shards", Some(Field::Shards))? {
            self.config.shards = Some(n as usize);
        }
        if let Some(on) = self.value::<bool>(&params, "udp-steering", Some(Field::UdpSteering))? {
            self.config.udp_steering = on;
        }
        if let Some(m) = self.value::<crate::ShardMerge>(&params, "shard-merge", None)? {
            self.config.shard_merge = Some(m);
        }
        Ok(())
    }

    fn registrar(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "registrar", &[])?;
        let names = [
            "realm",
            "min-expiration",
            "default-expiration",
            "nonce-lifetime",
            "nonce-secret",
            "algorithms",
            "purge-interval",
            "contact-routing",
            "domain",
        ];
        let params = self.params(node, "registrar".into(), &names)?;
        if let Some(realm) = self.value(&params, "realm", Some(Field::Realm))? {
            self.config.registrar.realm = realm;
        }
        for (name, field) in [
            ("min-expiration", Field::MinExpires),
            ("default-expiration", Field::DefaultExpires),
            ("nonce-lifetime", Field::NonceLifetime),
            ("purge-interval", Field::PurgeInterval),
        ] {
            let Some(value) = self.value::<u32>(&params, name, Some(field))? else {
                continue;
            };
            let r = &mut self.config.registrar;
            *match field {
                Field::MinExpires => &mut r.min_expires,
                Field::DefaultExpires => &mut r.default_expires,
                Field::NonceLifetime => &mut r.nonce_lifetime,
                _ => &mut r.purge_interval,
            } = value;
        }
        self.config.registrar.nonce_secret =
            self.value(&params, "nonce-secret", Some(Field::NonceSecret))?;
        if let Some(algorithms) =
            self.value::<Algorithms>(&params, "algorithms", Some(Field::Algorithms))?
        {
            self.config.registrar.algorithms = algorithms.0;
        }
        if let Some(routing) = self.value::<ContactRouting>(&params, "contact-routing", None)? {
            self.config.registrar.contact_routing = routing;
        }
        self.config.registrar.domain = self.value(&params, "domain", Some(Field::Domain))?;
        Ok(())
    }

    fn database(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "database", &[])?;
        let params = self.params(
            node,
            "database".into(),
            &["url", "data-dir", "keep-plain-passwords"],
        )?;
        if let Some(keep) = self.value::<bool>(&params, "keep-plain-passwords", None)? {
            self.config.database.keep_plain_passwords = keep;
        }
        if params.get("url").is_some() {
            if let Some(dir) = params.get("data-dir") {
                return Err(self.error(
                    dir.line,
                    params.key("data-dir"),
                    "set either url or data-dir, not both",
                ));
            }
        }
        if let Some(url) = self.value(&params, "url", Some(Field::DatabaseUrl))? {
            self.config.database.url = url;
        }
        if let Some(dir) = self.value::<String>(&params, "data-dir", Some(Field::DatabaseUrl))? {
            self.config.database.url = sqlite_url_in(&dir);
        }
        Ok(())
    }

    fn log(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "log", &[])?;
        let params = self.params(node, "log".into(), &["level", "format"])?;
        if let Some(level) = self.value(&params, "level", Some(Field::LogLevel))? {
            self.config.log.level = level;
        }
        if let Some(format) = self.value::<LogFormat>(&params, "format", None)? {
            self.config.log.format = format;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DigestAlgorithm;
    use std::net::IpAddr;
    use std::time::Duration;

    fn parse_str(body: &str) -> Result<Config, String> {
        parse(
            &format!("<voipswitch>\n{body}\n</voipswitch>\n"),
            Path::new("v.xml"),
        )
        .map_err(|e| e.to_string())
    }

    const SIP: &str = r#"<listener type="sip"><param name="ipaddr" value="127.0.0.1"/><param name="port" value="5060"/></listener>"#;

    #[test]
    fn values_parse_or_say_what_was_expected() {
        assert_eq!(u16::from_xml(" 81 "), Ok(81));
        assert!(u16::from_xml("70000").unwrap_err().contains("0 to 65535"));
        assert_eq!(
            XmlIp::from_xml("[::1]").unwrap().0,
            "::1".parse::<IpAddr>().unwrap()
        );
        assert!(XmlIp::from_xml("1.2.3").is_err());
        assert_eq!(bool::from_xml("true"), Ok(true));
        assert!(bool::from_xml("yes").is_err());
        let algorithms = Algorithms::from_xml("SHA-256, md5").unwrap().0;
        assert_eq!(algorithms, [DigestAlgorithm::Sha256, DigestAlgorithm::Md5]);
        assert!(Algorithms::from_xml("SHA-256,SHA-1").is_err());
        assert_eq!(List::from_xml(" apns, fcm ,").unwrap().0, ["apns", "fcm"]);
        assert!(List::from_xml(" , ").unwrap().0.is_empty());
        assert_eq!(
            Seconds::from_xml(" 45 ").unwrap().0,
            Duration::from_secs(45)
        );
        for bad in ["-1", "1.5", "30s", ""] {
            assert!(
                Seconds::from_xml(bad)
                    .unwrap_err()
                    .contains("whole number of seconds"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn config_root_is_accepted_too() {
        let text = format!("<config>{SIP}</config>");
        assert!(parse(&text, Path::new("v.xml")).is_ok());
    }

    #[test]
    fn malformed_xml_names_the_line() {
        let e = parse_str(&format!("{SIP}\n<node>")).unwrap_err();
        assert!(e.starts_with("v.xml:4: xml: "), "{e}");
        let e = parse(
            "<!DOCTYPE x [<!ENTITY a \"b\">]><voipswitch/>",
            Path::new("v.xml"),
        );
        assert!(e.is_err());
    }

    #[test]
    fn stray_text_attributes_and_repeats_are_refused() {
        let e = parse_str(&format!("{SIP}\n<web_service>\n<param name=\"ipaddr\" value=\"1.2.3.4\"/> - IP WebApi\n</web_service>")).unwrap_err();
        assert!(
            e.starts_with("v.xml:4: web_service: unexpected text \"- IP WebApi\""),
            "{e}"
        );
        let e = parse_str(&format!(
            "{SIP}\n<node>\n<param name=\"id\" value=\"a\" x=\"1\"/>\n</node>"
        ))
        .unwrap_err();
        assert_eq!(e, "v.xml:4: node param \"id\": unknown attribute \"x\"");
        let e = parse_str(&format!("{SIP}\n<node/>\n<node/>")).unwrap_err();
        assert_eq!(e, "v.xml:4: node: given twice (first at line 3)");
        let e = parse_str(&format!("{SIP}\n<node><param name=\"id\" value=\"a\"/>\n<param name=\"id\" value=\"b\"/></node>")).unwrap_err();
        assert_eq!(
            e,
            "v.xml:4: node param \"id\": given twice (first at line 3)"
        );
    }

    #[test]
    fn tls_params_need_a_certificate_and_agree() {
        let tls = |port: u16, cert: &str| {
            format!(
                "<listener type=\"sip\"><param name=\"ipaddr\" value=\"127.0.0.1\"/><param name=\"port\" value=\"{port}\"/>\
                 <param name=\"transport\" value=\"tls-tcp\"/>{cert}</listener>"
            )
        };
        let a = tls(5061, r#"<param name="tls-certificate" value="a.pem"/>"#);
        let b = tls(5062, r#"<param name="tls-certificate" value="b.pem"/>"#);
        let e = parse_str(&format!("{a}\n{b}")).unwrap_err();
        assert!(
            e.starts_with("v.xml:3: listener[type=sip].tls-certificate: TLS settings differ"),
            "{e}"
        );
        let key_only = tls(5061, r#"<param name="tls-private-key" value="k.pem"/>"#);
        let e = parse_str(&key_only).unwrap_err();
        assert_eq!(e, "v.xml:2: listener[type=sip].tls-private-key: needs tls-certificate in the same listener");
        let same = tls(5062, r#"<param name="tls-certificate" value="a.pem"/>"#);
        assert_eq!(
            parse_str(&format!("{a}\n{same}")).unwrap().listeners.len(),
            2
        );
    }
}
