//! `billing`: rating and prepaid credit control, sans-IO.
//!
//! A core crate beside `b2bua`, above `dialplan` (whose prefix trie indexes the tariff rows):
//! no socket, no clock, no SQL. The binary loads tariffs and billed accounts from the store,
//! gives them to a [`Credit`], and calls it from the dispatcher at the three moments of a
//! rated call: [`Credit::authorize`] when it is routed (refused: 402/403), [`Credit::answered`]
//! and [`Credit::ended`] (which returns the [`Charge`] the driver writes with the CDR in one
//! transaction). [`Credit::poll_timeout`] / [`Credit::handle_timeout`] say when calls must be
//! cut because the balance is spent.
//!
//! * `money.rs`: [`Money`], integer micro-units, parsed and printed exactly;
//! * `tariff.rs`: [`Tariff`], [`TariffRow`], [`Increments`], [`TimeBand`];
//! * `rating.rs`: [`Quote`] (the price a call is charged at), [`billed_seconds`], [`Rounding`];
//! * `account.rs`: [`Account`], [`AccountKind`], [`Bundle`] (plans);
//! * `credit.rs`: [`Credit`], the reservation split and the deadlines;
//! * `csv.rs`: the voipswitch tariff export ([`parse_tariff_csv`]).

mod account;
mod credit;
mod csv;
mod money;
mod rating;
mod tariff;

pub use account::{Account, AccountKind, Bundle};
pub use credit::{Authorization, Charge, Credit, Refusal, Reservation};
pub use csv::{parse_tariff_csv, CsvError};
pub use money::{Money, MoneyError, MICROS};
pub use rating::{billed_seconds, Quote, Rounding, RoundingMode};
pub use tariff::{Increments, IncrementsError, Tariff, TariffRow, TimeBand};
