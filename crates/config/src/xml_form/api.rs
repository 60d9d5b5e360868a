//! The XML `<api>` element (ours; voipswitch has none): the call-control API.

use roxmltree::Node;

use crate::api::{ApiKey, ApiSettings};
use crate::origin::Origin;
use crate::validate::Field;
use crate::ConfigError;

use super::values::Seconds;
use super::Reader;

impl<'d, 'input> Reader<'d, 'input> {
    pub(super) fn api(&mut self, node: Node<'d, 'input>) -> Result<(), ConfigError> {
        self.refuse_attributes(node, "api", &[])?;
        let params = self.params(
            node,
            "api".into(),
            &[
                "ipaddr",
                "port",
                "public-url",
                "jwt-key",
                "jwt-previous-key",
                "token-lifetime",
            ],
        )?;
        let listen = self.socket_addr(&params)?;
        let line = params.get("ipaddr").map_or(params.line, |p| p.line);
        self.positions
            .set(Field::ApiListen, line, params.key("ipaddr"));
        let origin = Origin::File {
            line: params.get("port").map_or(params.line, |p| p.line),
            key: params.key("port"),
        };
        let key: String = self.required(&params, "jwt-key", Some(Field::ApiJwtKey))?;
        let mut api = ApiSettings::new(listen, ApiKey::new(key));
        api.origin = origin;
        api.public_url = self.value(&params, "public-url", Some(Field::ApiPublicUrl))?;
        api.jwt_previous_key = self
            .value::<String>(&params, "jwt-previous-key", Some(Field::ApiJwtPreviousKey))?
            .map(ApiKey::new);
        if let Some(Seconds(t)) =
            self.value(&params, "token-lifetime", Some(Field::ApiTokenLifetime))?
        {
            api.token_lifetime = t;
        }
        self.config.api = Some(api);
        Ok(())
    }
}
