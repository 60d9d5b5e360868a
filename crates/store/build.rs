//! Rebuild when a migration file changes: `sqlx::migrate!` embeds `sql/` at compile time.
fn main() {
    println!("cargo:rerun-if-changed=../../sql/sqlite");
    println!("cargo:rerun-if-changed=../../sql/mysql");
}
