//! `bench`: throughput figures a user can reproduce on their own machine, measured
//! on the config's data outside the store (nothing is cached or written).

use std::time::Instant;

use rayon::prelude::*;

use crate::config::ResolvedConfig;
use crate::conll::{read_file, Labels};
use crate::subword::SubwordTokenizer;

/// Ingest + tokenize of the source train split: sentences per second for each step.
pub fn data(cfg: &ResolvedConfig) -> anyhow::Result<()> {
    let c = &cfg.config;
    println!("bench data: {} ({} threads)", c.source.train.display(), rayon::current_num_threads());
    let started = Instant::now();
    let (sentences, stats) = read_file(&c.source.train, c.source.encoding, Labels::Types(&c.labels))?;
    let ingest_s = started.elapsed().as_secs_f64();
    let tokenizer = SubwordTokenizer::load(&c.encoder.tokenizer, c.tokenize.lowercase)?;
    let started = Instant::now();
    let subwords: usize = sentences
        .par_iter()
        .map(|s| tokenizer.encode(&s.tokens, c.tokenize.max_len).map(|e| e.input_ids.len()))
        .collect::<anyhow::Result<Vec<_>>>()?
        .into_iter()
        .sum();
    let tokenize_s = started.elapsed().as_secs_f64();
    let n = stats.sentences as f64;
    println!("ingest: {} sentences, {} tokens in {ingest_s:.3}s: {:.0} sentences/s", stats.sentences, stats.tokens, n / ingest_s);
    println!("tokenize: {subwords} subwords in {tokenize_s:.3}s: {:.0} sentences/s", n / tokenize_s);
    println!("ingest+tokenize: {:.0} sentences/s", n / (ingest_s + tokenize_s));
    Ok(())
}
