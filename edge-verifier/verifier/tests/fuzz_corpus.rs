//! Every fuzz target's body (fuzz/src/lib.rs) over its checked-in corpus
//! (fuzz/corpus/<target>/): a smoke test on every `make test`, so an input
//! that once crashed a parser (libFuzzer's finds are added to the corpus)
//! stays fixed. `make fuzz` runs the real thing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../fuzz/src/lib.rs"]
mod bodies;

#[test]
fn every_corpus_input_passes_its_target() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut ran = 0;
    for (name, body) in bodies::TARGETS {
        let dir = root.join(name);
        let entries =
            std::fs::read_dir(&dir).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        let mut inputs = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let data = std::fs::read(&path).unwrap();
            body(&data);
            inputs += 1;
        }
        assert!(inputs > 0, "the corpus of {name} is empty");
        ran += inputs;
    }
    assert!(ran >= bodies::TARGETS.len());
}
