using System.CommandLine;
using Pipeline.Analyze;
using Pipeline.Storage;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Cli;

/// <summary><c>mmtrace query DATASET... (--sql SQL | --name NAME [--param k=v]...) [--format …]</c> and <c>mmtrace queries</c>.</summary>
internal static class QueryCommand
{
    public static Command Create(Option<bool> verbose)
    {
        var datasets = new Argument<string[]>("DATASET")
        {
            Description = "Trace dataset directories, or roots of trace=<id>/ partitions.",
            Arity = ArgumentArity.OneOrMore,
        };
        var sql = new Option<string?>("--sql") { Description = "SQL over the views events, ops, findings, … (each with a 'trace' column)." };
        var name = new Option<string?>("--name") { Description = "Run queries/NAME.sql (see 'mmtrace queries')." };
        var parameters = new Option<string[]>("--param")
        {
            Description = "k=v: a parameter of the named query (repeatable).",
            AllowMultipleArgumentsPerToken = false,
        };
        var format = new Option<string>("--format")
        {
            Description = "Output format.",
            DefaultValueFactory = _ => "table",
        };
        format.AcceptOnlyFromAmong("table", "csv", "json");
        var readOnly = new Option<bool>("--read-only")
        {
            Description = "Safe mode for SQL someone else wrote: DuckDB may read the datasets' Parquet files and nothing else (no other files, COPY, ATTACH, INSTALL/LOAD, network, settings).",
        };

        var raw = new Option<bool>("--raw") { Description = "Table output: print addresses, pfns and byte counts as stored (decimal) instead of hex and KiB/MiB; CSV and JSON are always exact." };

        var scope = ScopeOptions.Create("events (and the ops, findings, mremaps … that refer to them)");

        var command = new Command("query", "Run DuckDB SQL over trace datasets (the replay tables hold every replay run, keyed by profile, fixes and arch); with neither --sql nor --name, a SQL prompt (statements end with ';', .help for dot-commands; reads a script when stdin is not a terminal; history in ~/.mmtrace_history, line editing through rlwrap).")
        {
            datasets, sql, name, parameters, format, readOnly, raw, scope.Pid, scope.From, scope.To,
        };
        command.SetAction(parse => CommandRunner.Run(parse, verbose, cancellationToken =>
        {
            var sqlText = parse.GetValue(sql);
            var queryName = parse.GetValue(name);
            if (sqlText is not null && queryName is not null)
            {
                throw new UsageException("Give one of --sql \"SQL\" or --name NAME, not both (neither opens the SQL prompt).");
            }
            var paramValues = ParseParameters(parse.GetValue(parameters) ?? []);
            if (queryName is null && paramValues.Count > 0)
            {
                throw new UsageException("--param goes with --name (a named query declares its parameters).");
            }
            var resultFormat = parse.GetValue(format) switch
            {
                "csv" => ResultFormat.Csv,
                "json" => ResultFormat.Json,
                _ => ResultFormat.Table,
            };
            var traceScope = scope.Parse(parse);
            if (sqlText is null && queryName is null)
            {
                return QueryShell.Start(() => QueryRunner.Open(parse.GetValue(datasets)!, parse.GetValue(readOnly), traceScope), resultFormat, parse.GetValue(raw), cancellationToken);
            }
            using var runner = QueryRunner.Open(parse.GetValue(datasets)!, parse.GetValue(readOnly), traceScope);
            string text = queryName is not null ? QueryCatalog.Get(queryName).Sql : sqlText!;
            var unfiltered = runner.UnfilteredViews.Where(v => System.Text.RegularExpressions.Regex.IsMatch(text, $@"\b{v}\b", System.Text.RegularExpressions.RegexOptions.IgnoreCase)).ToList();
            if (unfiltered.Count > 0)
            {
                // Said, not silent: the query reads views that hold the whole trace although a scope was given.
                Console.Error.WriteLine($"note: {string.Join(", ", unfiltered)} not filtered by {traceScope} (no event time, process or seq in them); the whole-trace views are in schema {QueryRunner.UnscopedSchema}.");
            }
            // DuckDB does not watch the token: Ctrl-C interrupts the query, and again every 200 ms until it has
            // stopped, because an interrupt that lands just before DuckDB starts the query is cleared by the start.
            using var interrupter = new Timer(_ =>
            {
                try
                {
                    runner.Interrupt();
                }
                catch (ObjectDisposedException)
                {
                    // The query ended and the runner closed between the tick and the call: nothing to stop.
                }
            });
            using var onCancel = cancellationToken.Register(() => interrupter.Change(0, 200));
            FaultPoint.Reached("query");
            try
            {
                cancellationToken.ThrowIfCancellationRequested();
                using var reader = queryName is not null
                    ? runner.Query(QueryCatalog.Get(queryName), paramValues)
                    : runner.Query(sqlText!);
                ResultFormatter.Write(reader, resultFormat, Console.Out, parse.GetValue(raw));
            }
            catch (DuckDbException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            finally
            {
                interrupter.Change(Timeout.Infinite, Timeout.Infinite);
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    public static Command CreateList()
    {
        var format = new Option<string>("--format") { Description = "Output format.", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var command = new Command("queries", "List the named queries (queries/*.sql) with their descriptions and parameters.")
        {
            format,
        };
        command.SetAction(parse =>
        {
            if (parse.GetValue(format) == "json")
            {
                WriteListJson();
                return ExitCodes.Success;
            }
            foreach (var query in QueryCatalog.All)
            {
                Console.Out.WriteLine($"{query.Name,-24} {query.Description}");
                foreach (var parameter in query.Parameters)
                {
                    Console.Out.WriteLine($"{"",-24}   --param {parameter.Name}={parameter.Default}  {parameter.Description}");
                }
            }
            return ExitCodes.Success;
        });
        return command;
    }

    private static void WriteListJson()
    {
        using var stream = Console.OpenStandardOutput();
        using var json = new System.Text.Json.Utf8JsonWriter(stream, new System.Text.Json.JsonWriterOptions
        {
            Indented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        });
        json.WriteStartArray();
        foreach (var query in QueryCatalog.All)
        {
            json.WriteStartObject();
            json.WriteString("name", query.Name);
            json.WriteString("description", query.Description);
            json.WriteStartArray("parameters");
            foreach (var parameter in query.Parameters)
            {
                json.WriteStartObject();
                json.WriteString("name", parameter.Name);
                json.WriteString("default", parameter.Default);
                json.WriteString("description", parameter.Description);
                json.WriteEndObject();
            }
            json.WriteEndArray();
            json.WriteEndObject();
        }
        json.WriteEndArray();
        json.Flush();
        stream.WriteByte((byte)'\n');
    }

    private static Dictionary<string, string> ParseParameters(string[] values)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var value in values)
        {
            int equals = value.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new UsageException($"--param expects k=v, found '{value}'.");
            }
            result[value[..equals]] = value[(equals + 1)..];
        }
        return result;
    }
}
