fn main() {
    std::process::exit(git_bitsota::main());
}
