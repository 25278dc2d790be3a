//! The report's markdown: per sweep, the results table with the papers' figures, the paired
//! comparisons, the stage figures, the health warnings and the run's cost.

use super::*;

/// The encoder the cells read, as `folder/file (blake3 prefix)`, from their plans (carried
/// cells have no artifacts here, and the plan names the same file a manifest would).
pub(super) fn encoder_caption(cells: &[CellResult]) -> String {
    cells.iter().find_map(|c| c.encoder.as_ref()).map_or_else(
        || "(no cell reads an encoder file)".into(),
        |f| {
            let parent = f.path.parent().and_then(Path::file_name).map(|p| p.to_string_lossy().into_owned());
            let name = f.path.file_name().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
            format!("{}/{name} (blake3 {})", parent.unwrap_or_default(), &f.digest.blake3[..12])
        },
    )
}

/// The baselines' own stages' figures (`analysis::stage_figures`) by target and method,
/// over the seeds whose stage exists; empty when no cell has such a stage.
pub(super) fn stage_figures_section(sweep: &Sweep, cells: &[CellResult]) -> anyhow::Result<String> {
    let mut md = String::new();
    for target in &sweep.spec.target {
        for method in &sweep.spec.method {
            // Each figure with its artifacts, once each (a seed-free lexicon serves every seed)
            // with the seeds it serves, in the order the stages record them.
            let mut figures: Vec<Vec<(StageFigure, Vec<u64>)>> = Vec::new();
            for cell in cells.iter().filter(|c| c.target == target.name && c.method == method.name) {
                for figure in analysis::stage_figures(cell) {
                    let same = |f: &StageFigure| f.stage == figure.stage && f.what == figure.what;
                    let Some(artifacts) = figures.iter_mut().find(|artifacts| same(&artifacts[0].0)) else {
                        figures.push(vec![(figure, vec![cell.seed])]);
                        continue;
                    };
                    match artifacts.iter_mut().find(|(f, _)| f.key == figure.key) {
                        Some((_, seeds)) => seeds.push(cell.seed),
                        None => artifacts.push((figure, vec![cell.seed])),
                    }
                }
            }
            for artifacts in figures {
                let figure = &artifacts[0].0;
                let values: Vec<f64> = artifacts.iter().map(|(f, _)| f.value).collect();
                let per_artifact: Vec<String> = artifacts
                    .iter()
                    .map(|(f, seeds)| {
                        let seeds: Vec<String> = seeds.iter().map(u64::to_string).collect();
                        format!("{}: {}", seeds.join(", "), f.unit.show(f.value))
                    })
                    .collect();
                writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} |",
                    target.name,
                    method.name,
                    figure.stage.as_str(),
                    figure.what,
                    figure.unit.show(mean_std(&values).0),
                    per_artifact.join("; ")
                )?;
            }
        }
    }
    if md.is_empty() {
        return Ok(md);
    }
    Ok(format!(
        "### The baselines' own stages (from their artifacts' manifests)\n\nWhat AdvPicker's, UniTrans's and \
         multi-source TSL's stages record: the adversarial and translation teachers' entity F1 on source dev, the \
         sentences AdvPicker keeps, the lexicon and the translated share of the source words, the share of target \
         words on which UniTrans's three teachers vote alike (its student's cross-entropy reaches those), and the \
         language model's accuracy on the sources' dev sentences with each source's mean weight. Mean over the \
         artifacts, each listed with the seeds it serves (a seed-free lexicon serves all); none reads a target \
         label.\n\n| target | method | stage | figure | mean | seeds: value |\n\
         |---|---|---|---|---|---|\n{md}\n"
    ))
}

/// The comparisons that several of the reported sweeps make on the same target (the same
/// methods under two recipes, say one epoch and three), side by side; empty when none is.
pub(super) fn across_sweeps(comparisons: &[Comparison], suites: &[String]) -> String {
    let mut groups: BTreeMap<(&str, &str, &str), BTreeMap<&str, &Comparison>> = BTreeMap::new();
    for c in comparisons {
        groups.entry((&c.target, &c.a, &c.b)).or_default().insert(&c.suite, c);
    }
    groups.retain(|_, by_suite| by_suite.len() > 1);
    if groups.is_empty() {
        return String::new();
    }
    let mut md = String::from("## Across sweeps (each sweep's recipe; paired by seed within a sweep)\n\n");
    md.push_str(&format!("| target | a - b | {} |\n", suites.join(" | ")));
    md.push_str(&format!("|---|---|{}\n", "---|".repeat(suites.len())));
    for ((target, a, b), by_suite) in groups {
        let cells: Vec<String> = suites
            .iter()
            .map(|suite| match by_suite.get(suite.as_str()) {
                Some(c) => {
                    let (n, (m, s)) = (c.diffs.len(), mean_std(&c.diffs));
                    // One seed has no spread to show.
                    let (spread, seeds) =
                        if n == 1 { (String::new(), "seed") } else { (format!(" ± {s:.2}"), "seeds") };
                    format!("{m:+.2}{spread} ({n} {seeds}; {})", c.verdict())
                }
                None => "-".into(),
            })
            .collect();
        md.push_str(&format!("| {target} | {a} - {b} | {} |\n", cells.join(" | ")));
    }
    md.push('\n');
    md
}

pub(super) fn write_sweep_section(
    md: &mut String,
    sweep: &Sweep,
    cells: &[CellResult],
    rows: &[Aggregate],
    comparisons: &[Comparison],
    encoder: &str,
    plot: &str,
) -> anyhow::Result<()> {
    write_intro(md, sweep, cells)?;
    write_results(md, sweep, cells, rows, encoder, plot)?;
    write_comparisons(md, comparisons)?;
    write_teachers(md, cells)?;
    write_confidence_bins(md, cells)?;
    write_pair_mix(md, rows)?;
    md.push_str(&stage_figures_section(sweep, cells)?);
    write_agreement(md, rows)?;
    write_health(md, cells)?;
    let pending: Vec<String> = cells.iter().filter(|c| c.scores.is_none()).map(CellResult::label).collect();
    if !pending.is_empty() {
        writeln!(md, "Pending cells (not run yet; `sweep run` resumes them): {}.\n", pending.join(", "))?;
    }
    Ok(())
}

/// What the sweep ran and how complete its cells are (in progress, carried, disagreeing).
fn write_intro(md: &mut String, sweep: &Sweep, cells: &[CellResult]) -> std::fmt::Result {
    let spec = &sweep.spec;
    writeln!(md, "## {}: {}\n", spec.name, spec.title)?;
    writeln!(
        md,
        "Sweep file `{}`; seeds {:?}. Run with `mtmt-pipe sweep run {}`.",
        sweep.path.display(),
        spec.seeds,
        sweep.path.display()
    )?;
    writeln!(md, "Recipe (every cell): `{}`.\n", spec.set.join("` `"))?;
    let methods: Vec<String> = spec.method.iter().map(|m| format!("`{}` = `{}`", m.name, m.set.join(" "))).collect();
    writeln!(md, "Methods: {}.\n", methods.join("; "))?;
    let finished = cells.iter().filter(|c| c.scores.is_some()).count();
    if finished < cells.len() {
        writeln!(
            md,
            "**In progress**: {finished} of {} cells finished; each row averages the seeds it names, \
             and a comparison is tested only on the seeds both of its methods finished.\n",
            cells.len()
        )?;
    }
    let mut carried: BTreeMap<u64, usize> = BTreeMap::new();
    for cell in cells.iter().filter(|c| c.carried) {
        *carried.entry(cell.seed).or_default() += 1;
    }
    if !carried.is_empty() {
        let by_seed: Vec<String> = carried.iter().map(|(seed, n)| format!("seed {seed}: {n}")).collect();
        writeln!(
            md,
            "**Carried** ({}): cells whose artifacts this store does not hold, read from an earlier \
             report's `runs.parquet` (`sweep report --carry`) where its row has the evaluate key the cell \
             has now (same code, config, data and inputs). Their F1, agreement and pair figures are that \
             report's; they are absent from the teacher, confidence and stage sections and from the \
             compute total below (runs.parquet `source`).\n",
            by_seed.join(", ")
        )?;
    }
    let disagreements: Vec<String> = cells
        .iter()
        .filter_map(|c| {
            let d = c.carried_disagrees.as_ref()?;
            let store = c.scores.as_ref()?;
            Some(format!(
                "{}: store {:.2} (threads {}), carried {:.2} (threads {})",
                c.label(),
                store.f1,
                threads_label(&c.threads),
                d.f1,
                threads_label(&d.threads)
            ))
        })
        .collect();
    if !disagreements.is_empty() {
        writeln!(
            md,
            "**Store and carried rows disagree** ({}): one evaluate key, two test F1. The key does not \
             cover the libtorch thread count a model trained with, which changes its floats; the store's \
             figures stand here, and cells that share the cell's teachers may have been measured on either.\n",
            disagreements.join("; ")
        )?;
    }
    Ok(())
}

/// The results table, its plot and the compute it took.
fn write_results(
    md: &mut String,
    sweep: &Sweep,
    cells: &[CellResult],
    rows: &[Aggregate],
    encoder: &str,
    plot: &str,
) -> std::fmt::Result {
    let spec = &sweep.spec;
    if rows.is_empty() {
        writeln!(md, "No cell has finished yet.\n")?;
    } else {
        let types: BTreeSet<&String> = rows.iter().flat_map(|r| r.per_type.keys()).collect();
        writeln!(
            md,
            "Test F1 on {encoder}; model selection: {MODEL_SELECTION} (`{TARGET_DEV_MARK}` in a method's name: target dev F1, \
             uses target labels). Paper: {}, mBERT encoder \
             (not comparable in level: a different, smaller encoder here, trained at this sweep's recipe above).\n",
            if spec.paper_source.is_empty() { "-" } else { &spec.paper_source }
        )?;
        write!(md, "| target | method | seeds | F1 | P | R |")?;
        for t in &types {
            write!(md, " F1 {t} |")?;
        }
        writeln!(md, " dev F1 | cell time | paper F1 (mBERT) |")?;
        writeln!(md, "|{}", "---|".repeat(9 + types.len()))?;
        for r in rows {
            write!(
                md,
                "| {} | {} | {} | {} | {:.2} | {:.2} |",
                r.target,
                r.method,
                r.seeds.len(),
                mean_spread(&r.f1, 2),
                r.precision,
                r.recall
            )?;
            for t in &types {
                write!(md, " {} |", r.per_type.get(*t).map_or("-".into(), |v| format!("{v:.2}")))?;
            }
            writeln!(
                md,
                " {} | {} | {} |",
                r.dev_f1.map_or("-".into(), |v| format!("{v:.2}")),
                duration(r.wall_s),
                r.paper.map_or("-".into(), |v| format!("{v:.2}"))
            )?;
        }
        writeln!(md, "\n![{} test F1]({plot})\n", spec.name)?;
        writeln!(
            md,
            "Cell time: every stage of one cell as if run alone, shared teachers included (mean over seeds). \
             Compute actually spent on the artifacts this store holds: {}.\n",
            duration(unique_wall_s(cells))
        )?;
        md.push_str(&threads_caption(cells));
    }
    Ok(())
}

/// Paired differences between methods, seed by seed.
fn write_comparisons(md: &mut String, comparisons: &[Comparison]) -> std::fmt::Result {
    if !comparisons.is_empty() {
        writeln!(md, "### Paired comparisons (same seed, same teachers; paired t-test at 5%)\n")?;
        writeln!(md, "| target | a - b | seeds | mean | std | verdict |\n|---|---|---|---|---|---|")?;
        for c in comparisons {
            let (m, s) = mean_std(&c.diffs);
            let s = if c.diffs.len() > 1 { format!("{s:.2}") } else { "-".into() };
            writeln!(md, "| {} | {} - {} | {} | {m:+.2} | {s} | {} |", c.target, c.a, c.b, c.diffs.len(), c.verdict())?;
        }
        writeln!(md)?;
    }
    Ok(())
}

/// The teachers' source-side figures, with the cells that use each.
fn write_teachers(md: &mut String, cells: &[CellResult]) -> std::fmt::Result {
    let checks = analysis::teacher_checks(cells);
    if !checks.is_empty() {
        writeln!(md, "### Teachers (source side, from their artifacts' manifests)\n")?;
        writeln!(md, "| seed | teacher | source dev | value | used by |\n|---|---|---|---|---|")?;
        for TeacherCheck { seed, teacher, what, value, used_by } in checks {
            writeln!(md, "| {seed} | {teacher} | {what} | {value:.2} | {} |", used_by.join(", "))?;
        }
        writeln!(md)?;
    }
    Ok(())
}

/// The recognizer teacher's word-level scores by confidence.
fn write_confidence_bins(md: &mut String, cells: &[CellResult]) -> anyhow::Result<()> {
    let bins = analysis::confidence_bins(cells)?;
    if !bins.is_empty() {
        writeln!(
            md,
            "### Recognizer teacher by confidence (the paper's Fig. 6a)\n\nTarget test words of the `direct` \
             cells (all seeds pooled), binned by the teacher's top probability; word-level P/R/F1 over entity \
             tags (a word is correct when its predicted BIO tag equals the gold one). Computed with polars \
             from `evaluate/predictions.parquet`.\n"
        )?;
        writeln!(md, "| target | confidence | words | share | P | R | F1 |\n|---|---|---|---|---|---|---|")?;
        for ConfidenceBin { target, bin, words, share, precision, recall, f1 } in bins {
            writeln!(md, "| {target} | {bin} | {words} | {share:.1}% | {precision:.2} | {recall:.2} | {f1:.2} |")?;
        }
        writeln!(md)?;
    }
    Ok(())
}

/// What the MTMT students' pair losses see.
fn write_pair_mix(md: &mut String, rows: &[Aggregate]) -> std::fmt::Result {
    let mixes: Vec<(&Aggregate, PairMix)> =
        rows.iter().filter_map(|r| Some((r, PairMix::mean(&r.pair_mix)?))).collect();
    if !mixes.is_empty() {
        writeln!(
            md,
            "### What the pair losses see (label-free)\n\nMTMT's recognizer loss reaches the words drawn \
             into pairs (all words too with `distill_loss.all_words`). Per student: pairs per seed, the share \
             of target train words drawn at least once, and the share of entities by the recognizer teacher's \
             predicted labels among pair words and among all target train words (means over seeds; from \
             `weights/pseudo_labels.parquet` and `score_tokens/token_probs.parquet`, no gold read).\n"
        )?;
        writeln!(md, "| target | method | seeds | pairs | words drawn | entities in pairs | entities in text |")?;
        writeln!(md, "|---|---|---|---|---|---|---|")?;
        for (r, m) in mixes {
            writeln!(
                md,
                "| {} | {} | {} | {:.0} | {:.1}% | {:.1}% | {:.1}% |",
                r.target,
                r.method,
                r.pair_mix.len(),
                m.pairs,
                m.coverage,
                m.entity_share_pairs,
                m.entity_share_words
            )?;
        }
        writeln!(md)?;
    }
    Ok(())
}

/// Students against their recognizer teacher, label-free.
fn write_agreement(md: &mut String, rows: &[Aggregate]) -> std::fmt::Result {
    let measured: Vec<&Aggregate> = rows.iter().filter(|r| !r.agreement.is_empty()).collect();
    if !measured.is_empty() {
        writeln!(
            md,
            "### Students against their recognizer teacher (label-free)\n\nEntity-level F1 of each \
             student's predicted entities on target test text against the recognizer teacher's (the \
             `direct` cell of the same seed and encoding); no gold labels are read, so this check is \
             open to a language without any. 100 = the student copies its teacher. Entities per 100 \
             of the teacher's: above 100, the student marks spans its teacher left out, which is \
             where its precision against gold falls first.\n"
        )?;
        writeln!(
            md,
            "| target | method | seeds | agreement F1 | per seed | entities per 100 of the teacher's |\n|---|---|---|---|---|---|"
        )?;
        for r in measured {
            let f1 = mean_spread(&r.agreements(|a| Some(a.f1)), 2);
            let entities = mean_spread(&r.agreements(|a| a.entities), 1);
            let per_seed: Vec<String> = r.agreement.iter().map(|(seed, a)| format!("{seed}: {:.2}", a.f1)).collect();
            writeln!(
                md,
                "| {} | {} | {} | {f1} | {} | {entities} |",
                r.target,
                r.method,
                r.agreement.len(),
                per_seed.join(", ")
            )?;
        }
        writeln!(md)?;
    }
    Ok(())
}

/// The health warnings the cells' stages recorded (`health`; no target label used), each
/// artifact once, with the cells that share it.
pub(super) fn write_health(md: &mut String, cells: &[CellResult]) -> std::fmt::Result {
    let mut found: BTreeMap<(StageName, &Path, String), Vec<String>> = BTreeMap::new();
    for cell in cells {
        for (stage, (dir, manifest)) in &cell.stages {
            for warning in crate::summary::warnings(&manifest.summary) {
                found.entry((*stage, dir.as_path(), warning)).or_default().push(cell.label());
            }
        }
    }
    if found.is_empty() {
        return Ok(());
    }
    writeln!(md, "### Health warnings (label-free checks of the runs)\n")?;
    writeln!(md, "| stage | warning | cells |\n|---|---|---|")?;
    for ((stage, _, warning), labels) in found {
        writeln!(md, "| {stage} | {warning} | {} |", labels.join(", "))?;
    }
    writeln!(md)
}

/// Wall time of the distinct artifacts behind `cells`: what the sweep really cost.
pub(super) fn unique_wall_s(cells: &[CellResult]) -> f64 {
    let unique: BTreeMap<(&str, &str), f64> = cells
        .iter()
        .flat_map(|c| c.stages.values())
        .map(|(_, m)| ((m.stage.as_str(), m.key.as_str()), m.wall_time_s))
        .collect();
    unique.values().sum()
}

/// How the report writes a cell's thread counts (`CellResult::threads`): `unrecorded` for
/// stages built before manifests recorded them.
pub(super) fn threads_label(threads: &Option<String>) -> String {
    threads.clone().unwrap_or_else(|| "unrecorded".into())
}

/// How many finished cells ran at each libtorch thread count, where they differ (cells of
/// `sweep run --jobs` get a share of the cores): kernels round differently under another
/// count, so a rerun matches a cell to the last digit only under its own (runs.parquet
/// `threads`). Empty where all cells are alike.
pub(super) fn threads_caption(cells: &[CellResult]) -> String {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for cell in cells.iter().filter(|c| c.scores.is_some()) {
        *counts.entry(threads_label(&cell.threads)).or_default() += 1;
    }
    if counts.len() < 2 {
        return String::new();
    }
    let parts: Vec<String> = counts.iter().map(|(t, n)| format!("{t}: {n} cell(s)")).collect();
    format!(
        "libtorch threads per cell ({}; `unrecorded`: built before manifests recorded it). Kernels round \
         differently under another thread count, so a rerun matches a cell to the last digit only under \
         its own (runs.parquet `threads`).\n\n",
        parts.join(", ")
    )
}
