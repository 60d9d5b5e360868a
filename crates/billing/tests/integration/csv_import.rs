use billing::{parse_tariff_csv, Increments, Money};

use crate::m;

#[test]
fn a_voipswitch_export_with_variants() {
    let text = "\
prefix;description;voice_rate;from_hour;to_hour;minimal_time;resolution;surcharge_amount;iso
44;United Kingdom;0.10;0;2400;30;6;0.05;gb
447;United Kingdom Mobile;0,30;0;2400;1;1;;GB
44;United Kingdom off-peak;0.02;2200;600;30;6;;
1;USA;0.01;;;60;60;;
";
    let rows = parse_tariff_csv(text).unwrap();
    assert_eq!(rows.len(), 3);
    let uk = rows.iter().find(|r| r.prefix == "44").unwrap();
    assert_eq!(uk.price_per_min, m("0.10"));
    assert_eq!(uk.connection_fee, m("0.05"));
    assert_eq!(uk.increments, "30/6".parse::<Increments>().unwrap());
    assert_eq!(uk.iso.as_deref(), Some("GB"));
    assert_eq!(uk.bands.len(), 1);
    assert_eq!(uk.bands[0].from_minute, 22 * 60);
    assert_eq!(uk.bands[0].to_minute, 6 * 60);
    assert_eq!(uk.bands[0].connection_fee, None);
    let mob = rows.iter().find(|r| r.prefix == "447").unwrap();
    assert_eq!(mob.price_per_min, m("0.30"));
    assert_eq!(mob.increments, Increments::PER_SECOND);
    let us = rows.iter().find(|r| r.prefix == "1").unwrap();
    assert_eq!(us.iso, None);
    assert_eq!(us.connection_fee, Money::ZERO);
}

#[test]
fn comma_separated_with_increments_column() {
    let rows = parse_tariff_csv(
        "Prefix,Description,Voice Rate,Increments,Min Duration\n48,Poland,0.05,1/1,10\n",
    )
    .unwrap();
    assert_eq!(rows[0].min_duration, 10);
    assert_eq!(rows[0].increments, Increments::PER_SECOND);
}

#[test]
fn errors_name_the_line() {
    let cases = [
        ("description;voice_rate\nx;1\n", 1, "no `prefix` column"),
        ("prefix;voice_rate\n44;0.1\n45;abc\n", 3, "voice_rate"),
        ("prefix;voice_rate\n44;0.1\n44;0.2\n", 3, "appears twice"),
        ("prefix;voice_rate\n44;-0.1\n", 2, "negative"),
        ("prefix;voice_rate;resolution\n44;0.1;x\n", 2, "resolution"),
        (
            "prefix;voice_rate;from_hour;to_hour\n44;0.1;2500;600\n",
            2,
            "HHMM",
        ),
        (
            "prefix;voice_rate;from_hour;to_hour\n\n44;0.1;2200;600\n",
            3,
            "no whole-day row",
        ),
        (
            "prefix;voice_rate;rate_multiplier\n44;0.1;2\n",
            2,
            "not supported",
        ),
        ("prefix;voice_rate;iso\n44;0.1;GBR\n", 2, "ISO"),
        ("prefix;voice_rate\n;0.1\n", 2, "bad prefix"),
        ("prefix;voice_rate\n44;\n", 2, "empty"),
        ("prefix;voice_rate\n44;0.1234567\n", 2, "6 decimals"),
    ];
    for (text, line, what) in cases {
        let e = parse_tariff_csv(text).unwrap_err();
        assert_eq!(e.line, line, "{text:?}: {e}");
        assert!(e.to_string().contains(what), "{text:?}: {e}");
        assert!(e.to_string().starts_with(&format!("line {line}:")), "{e}");
    }
}

#[test]
fn quoted_fields_and_crlf() {
    let rows = parse_tariff_csv(
        "prefix,description,voice_rate\r\n\"33\",\"France, \"\"fixed\"\"\",0.02\r\n",
    )
    .unwrap();
    assert_eq!(rows[0].description, "France, \"fixed\"");
    let e = parse_tariff_csv("prefix,description,voice_rate\n33,\"open,0.02\n").unwrap_err();
    assert_eq!(e.line, 2);
}
