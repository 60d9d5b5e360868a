//! Where a MESSAGE goes: the sender's tech-prefix rules, then the dialing plan.

use dialplan::{Action as PlanAction, DialPlan, Entry, TechPrefix};
use messaging::{route, Destination};

#[test]
fn routing_follows_the_tech_prefix_and_the_plan() {
    let tech: TechPrefix = "DP:int-> OR onnet".parse().unwrap();
    let plan = DialPlan::new(vec![
        Entry::new("onnet", 0, PlanAction::UserLookup),
        Entry::new("44", 0, "gateway:uk prepend=00".parse().unwrap()),
        Entry::new("900", 0, "reject:403".parse().unwrap()),
        Entry::new("950", 0, "voicemail:sip:vm@10.0.0.1".parse().unwrap()),
    ]);
    assert_eq!(route(&tech, &plan, "bob"), Destination::Login("bob".into()));
    assert_eq!(
        route(&tech, &plan, "int4420"),
        Destination::Offnet("004420".into())
    );
    assert_eq!(route(&tech, &plan, "int900"), Destination::Reject(403));
    assert_eq!(route(&tech, &plan, "int950"), Destination::Unroutable);
    assert_eq!(route(&tech, &plan, "int1"), Destination::Unroutable);
    let catch_all = DialPlan::new(vec![Entry::new("", 0, PlanAction::UserLookup)]);
    assert_eq!(
        route(&TechPrefix::default(), &catch_all, "carol"),
        Destination::Login("carol".into())
    );
}
