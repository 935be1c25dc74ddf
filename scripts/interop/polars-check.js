// Reads an mmtrace dataset root with Polars (its own Parquet reader and Hive partition discovery, no DuckDB) and
// prints the two tables scripts/interop-check.sh compares with `mmtrace query`: per (trace, event) the row count,
// first and last timestamp and distinct pids; per trace the rows of a join of every replay run's findings (each seq
// of a finding's witness) with the events.
const fs = require('fs');
const path = require('path');
const pl = require('nodejs-polars');
const root = process.argv[2];
const out = process.argv[3];

(async () => {
  const events = pl.scanParquet(`${root}/trace=*/events.parquet`, { hivePartitioning: true });
  const counts = await events
    .groupBy(['trace', 'event'])
    .agg(
      pl.len().alias('n'),
      pl.col('ts_ns').min().cast(pl.Utf8).alias('ts_min'),
      pl.col('ts_ns').max().cast(pl.Utf8).alias('ts_max'),
      pl.col('pid').nUnique().alias('pids'))
    .sort(['trace', 'event'])
    .collect();
  counts.writeCSV(`${out}/counts.csv`);

  // A root without replay runs has no findings files (a glob that expands to nothing is an error to Polars).
  const anyFindings = fs.readdirSync(root).filter(d => d.startsWith('trace=')).some(d =>
    fs.readdirSync(path.join(root, d)).some(r => r.startsWith('replay=') && fs.existsSync(path.join(root, d, r, 'findings.parquet'))));
  if (!anyFindings) {
    fs.writeFileSync(`${out}/join.csv`, 'trace,n\n');
    return;
  }
  const findings = pl.scanParquet(`${root}/trace=*/replay=*/findings.parquet`, { hivePartitioning: true });
  const joined = await findings
    .select('trace', pl.col('seqs').alias('seq'))
    .explode('seq')
    .join(events.select('trace', 'seq'), { on: ['trace', 'seq'] })
    .groupBy('trace')
    .agg(pl.len().alias('n'))
    .sort('trace')
    .collect();
  joined.writeCSV(`${out}/join.csv`);
})().catch(e => { console.error(e); process.exit(1); });
