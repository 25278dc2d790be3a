//! Bakes libtorch's directory into the binary's rpath, so `mtmt-pipe` finds
//! libtorch at run time without the user exporting LD_LIBRARY_PATH.

fn main() {
    // torch-sys declares `links = "tch"` and exports the directory it linked against.
    if let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    }
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
}
