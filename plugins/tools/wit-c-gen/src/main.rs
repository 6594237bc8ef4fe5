//! `wit-c-gen WIT_DIR WORLD OUT_DIR`: writes the C bindings of one world, exactly what
//! `wit-bindgen c --world WORLD --out-dir OUT_DIR WIT_DIR` writes (`WORLD.h`, `WORLD.c` and
//! `WORLD_component_type.o`), using the same `wit-bindgen-c` library at the version the
//! Rust guests use. No registry ships a prebuilt `wit-bindgen` CLI and building it takes
//! ~15 CPU-minutes; this builds in about one.

use anyhow::{Context, Result, bail};
use std::path::PathBuf;
use wit_bindgen_core::Files;
use wit_bindgen_core::wit_parser::Resolve;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [wit, world, out] = args.as_slice() else {
        bail!("usage: wit-c-gen WIT_DIR WORLD OUT_DIR");
    };
    let mut resolve = Resolve::default();
    let (pkg, _) = resolve
        .push_path(wit)
        .with_context(|| format!("reading WIT from {wit}"))?;
    let world = resolve.select_world(&[pkg], Some(world))?;
    let mut files = Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)?;
    let out = PathBuf::from(out);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    for (name, bytes) in files.iter() {
        let path = out.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))?;
        println!("{}", path.display());
    }
    Ok(())
}
