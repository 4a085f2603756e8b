//! The end-to-end test binary links the server and so DuckDB: when that is DuckDB's shared
//! library (see server/build.rs), the test finds it where it was built against.
fn main() {
    println!("cargo:rerun-if-env-changed=DUCKDB_LIB_DIR");
    if let Some(dir) = std::env::var_os("DUCKDB_LIB_DIR") {
        println!(
            "cargo:rustc-link-arg-tests=-Wl,-rpath,{}",
            std::path::Path::new(&dir).display()
        );
    }
}
