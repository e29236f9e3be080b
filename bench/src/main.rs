//! The benchmark driver (being written).

fn main() {
    eprintln!("the benchmark is not built yet; see bench/README.md");
    std::process::exit(2);
}
