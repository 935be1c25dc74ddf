using System.Globalization;
using System.Text;
using Pipeline.Analyze;
using Pipeline.Storage.DuckDb;

namespace Pipeline.Cli;

/// <summary>
/// The SQL prompt of <c>mmtrace query DATASET</c> without <c>--sql</c>/<c>--name</c>: statements end with <c>;</c>
/// and may span lines; dot-commands (<c>.tables</c>, <c>.schema</c>, <c>.mode</c>, <c>.quit</c>, …) at the start
/// of a statement. On a terminal it prompts and appends each statement to a history file; with stdin not a
/// terminal it reads a script silently, reports each failing statement with its line and goes on, and the exit
/// code says whether any failed. Line editing with up-arrow recall is left to <c>rlwrap</c>: no maintained .NET
/// line editor is among the packages this project may use (RadLine is a preview).
/// </summary>
internal sealed class QueryShell
{
    /// <summary>Entries kept in the history file; older ones are dropped when the file is rewritten.</summary>
    internal const int HistoryLimit = 1000;

    private const string Prompt = "mmtrace> ";
    private const string ContinuationPrompt = "    ...> ";

    private readonly QueryRunner _runner;
    private readonly TextReader _input;
    private readonly TextWriter _output;
    private readonly TextWriter _error;
    private readonly bool _interactive;
    private readonly string? _historyPath;
    private ResultFormat _format;
    private bool _raw;
    private int _failed;

    public QueryShell(QueryRunner runner, TextReader input, TextWriter output, TextWriter error, bool interactive, string? historyPath, ResultFormat format, bool raw)
    {
        _runner = runner;
        _input = input;
        _output = output;
        _error = error;
        _interactive = interactive;
        _historyPath = historyPath;
        _format = format;
        _raw = raw;
    }

    /// <summary>
    /// Where the history goes: <c>$MMTRACE_HISTORY</c> (empty: none), else <c>~/.mmtrace_history</c>, else none.
    /// </summary>
    public static string? DefaultHistoryPath()
    {
        var set = Environment.GetEnvironmentVariable("MMTRACE_HISTORY");
        if (set is not null)
        {
            return set.Length == 0 ? null : set;
        }
        string home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        return string.IsNullOrEmpty(home) ? null : Path.Combine(home, ".mmtrace_history");
    }

    /// <summary>Statements that failed so far.</summary>
    public int Failed => _failed;

    /// <summary>
    /// <c>mmtrace query DATASET...</c> with no SQL: opens the views and runs the prompt over stdin. Ctrl-C stops
    /// the running statement (DuckDB is interrupted, as for --sql) and leaves the prompt, at once also when it
    /// waits for a line. <c>open</c> opens the views as <c>--sql</c> would have them (datasets, read-only, any scope).
    /// </summary>
    public static int Start(Func<QueryRunner> open, ResultFormat format, bool raw, CancellationToken cancellationToken)
    {
        using var runner = open();
        using var interrupter = new Timer(_ =>
        {
            try
            {
                runner.Interrupt();
            }
            catch (ObjectDisposedException)
            {
                // The runner closed between the tick and the call: nothing to stop.
            }
        });
        using var onCancel = cancellationToken.Register(() => interrupter.Change(0, 200));
        bool interactive = !Console.IsInputRedirected;
        var shell = new QueryShell(runner, Console.In, Console.Out, Console.Error, interactive,
            interactive ? DefaultHistoryPath() : null, format, raw);
        return shell.Run(sql => runner.Query(sql), cancellationToken);
    }

    /// <summary>
    /// Runs until <c>.quit</c> or the end of the input. <paramref name="run"/> executes one statement (the
    /// caller wraps it with Ctrl-C handling). Returns the exit code: success, or bad input when a statement of a
    /// script failed (at the prompt a failure is reported and forgotten).
    /// </summary>
    public int Run(Func<string, DuckDbReader> run, CancellationToken cancellationToken)
    {
        if (_interactive)
        {
            _output.WriteLine($"mmtrace SQL over {_runner.Datasets.Count} trace{(_runner.Datasets.Count == 1 ? "" : "s")} ({string.Join(", ", _runner.Datasets.Take(5).Select(d => d.Id))}{(_runner.Datasets.Count > 5 ? ", …" : "")}).");
            _output.WriteLine("End statements with ';'. '.help' lists the dot-commands; '.quit' or Ctrl-D leaves.");
        }
        var statement = new StringBuilder();
        var scanner = new StatementScanner();
        int lineNumber = 0;
        int statementLine = 1;
        while (true)
        {
            if (_interactive)
            {
                _output.Write(statement.Length == 0 ? Prompt : ContinuationPrompt);
                _output.Flush();
            }
            string? line = ReadLine(cancellationToken);
            if (line is null || cancellationToken.IsCancellationRequested)
            {
                break;
            }
            lineNumber++;
            if (statement.Length == 0)
            {
                statementLine = lineNumber;
                if (line.TrimStart().StartsWith('.'))
                {
                    if (!DotCommand(line.Trim()))
                    {
                        return Exit();
                    }
                    continue;
                }
                if (line.Trim().Length == 0)
                {
                    continue;
                }
            }
            // One line may end a statement and start the next ("SELECT 1; SELECT 2;").
            int start = 0;
            for (int i = 0; i < line.Length; i++)
            {
                if (scanner.Feed(line[i]))
                {
                    statement.Append(line, start, i - start + 1);
                    Execute(statement.ToString(), statementLine, run);
                    statement.Clear();
                    scanner = new StatementScanner();
                    start = i + 1;
                    statementLine = lineNumber;
                }
            }
            string rest = line[start..];
            if (statement.Length > 0 || rest.Trim().Length > 0)
            {
                statement.Append(rest).Append('\n');
                scanner.Feed('\n');
                if (scanner.OnlyComment && scanner.InCode)
                {
                    // A comment line between statements: nothing to continue.
                    statement.Clear();
                    scanner = new StatementScanner();
                }
            }
        }
        if (statement.ToString().Trim().Length > 0 && !scanner.OnlyComment)
        {
            // A script whose last statement lacks its ';' still means it.
            Execute(statement.ToString(), statementLine, run);
        }
        if (_interactive)
        {
            _output.WriteLine();
        }
        return Exit();
    }

    /// <summary>
    /// The next line, or null at the end of the input or on Ctrl-C. At the prompt the read waits on another
    /// thread, so Ctrl-C (which cancels the token, see CommandRunner) leaves at once instead of after Enter.
    /// </summary>
    private string? ReadLine(CancellationToken cancellationToken)
    {
        if (!_interactive)
        {
            return _input.ReadLine();
        }
        var read = Task.Run(() => _input.ReadLine(), CancellationToken.None);
        try
        {
            read.Wait(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        return read.Result;
    }

    private int Exit() => _failed > 0 && !_interactive ? ExitCodes.BadInput : ExitCodes.Success;

    private void Execute(string sql, int line, Func<string, DuckDbReader> run)
    {
        var text = sql.Trim();
        if (text.Trim(';', ' ', '\t', '\n', '\r').Length == 0)
        {
            return;
        }
        if (_interactive)
        {
            AppendHistory(text);
        }
        try
        {
            using var reader = run(text);
            if (reader.FieldCount > 0)
            {
                ResultFormatter.Write(reader, _format, _output, _raw);
            }
        }
        catch (Exception e) when (e is DuckDbException or InvalidDataException or ArgumentException)
        {
            _failed++;
            var where = _interactive ? "" : string.Create(CultureInfo.InvariantCulture, $"line {line}: ");
            _error.WriteLine($"Error: {where}{OneLine(e.Message)}");
        }
        _output.Flush();
    }

    /// <summary>Runs a dot-command; false for <c>.quit</c>.</summary>
    private bool DotCommand(string line)
    {
        var words = line.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        switch (words[0])
        {
            case ".quit" or ".exit" or ".q":
                return false;
            case ".help":
                _output.WriteLine(".tables              the views over the datasets");
                _output.WriteLine(".schema [VIEW]       columns and types of every view, or of one");
                _output.WriteLine(".mode table|csv|json how results print (as --format)");
                _output.WriteLine(".raw on|off          table output: decimal addresses and byte counts (as --raw)");
                _output.WriteLine(".traces              the traces the views span, with their directories");
                _output.WriteLine(".queries             the named queries ('mmtrace queries'); run one with .run NAME");
                _output.WriteLine(".run NAME            run a named query with its default parameters");
                _output.WriteLine(".quit                leave (also .exit, Ctrl-D)");
                break;
            case ".tables":
                _output.WriteLine(string.Join("  ", _runner.Views));
                break;
            case ".traces":
                foreach (var d in _runner.Datasets)
                {
                    _output.WriteLine($"{d.Id}  {d.Directory}");
                }
                break;
            case ".schema":
                foreach (var view in words.Length > 1 ? words[1..] : _runner.Views)
                {
                    if (!_runner.Views.Contains(view))
                    {
                        Fail(_runner.MissingViewMessage(view));
                        continue;
                    }
                    _output.WriteLine(view + ":");
                    using var reader = _runner.Connection.Query($"DESCRIBE {DuckDbIdentifier(view)}");
                    while (reader.Read())
                    {
                        _output.WriteLine($"  {reader.GetString(0),-28} {reader.GetString(1)}");
                    }
                }
                break;
            case ".mode" when words.Length == 2 && words[1] is "table" or "csv" or "json":
                _format = words[1] switch { "csv" => ResultFormat.Csv, "json" => ResultFormat.Json, _ => ResultFormat.Table };
                break;
            case ".raw" when words.Length == 2 && words[1] is "on" or "off":
                _raw = words[1] == "on";
                break;
            case ".queries":
                foreach (var query in QueryCatalog.All)
                {
                    _output.WriteLine($"{query.Name,-24} {query.Description}");
                }
                break;
            case ".run" when words.Length == 2:
                try
                {
                    using var reader = _runner.Query(QueryCatalog.Get(words[1]), new Dictionary<string, string>());
                    ResultFormatter.Write(reader, _format, _output, _raw);
                }
                catch (Exception e) when (e is DuckDbException or InvalidDataException or ArgumentException or KeyNotFoundException)
                {
                    Fail(OneLine(e.Message));
                }
                break;
            default:
                Fail($"unknown or incomplete dot-command '{line}'; .help lists them");
                break;
        }
        _output.Flush();
        return true;
    }

    private void Fail(string message)
    {
        _failed++;
        _error.WriteLine("Error: " + message);
    }

    private static string DuckDbIdentifier(string name) => "\"" + name.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"";

    private static string OneLine(string message) => string.Join(" | ",
        message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(l => l.Trim('^', ' ').Length > 0));

    /// <summary>
    /// Appends a statement (on one line) to the history file; at twice the limit the file is rewritten with the
    /// newest <see cref="HistoryLimit"/> entries. History is a convenience: a file that cannot be written is
    /// reported once and then left alone.
    /// </summary>
    private void AppendHistory(string statement)
    {
        if (_historyPath is null || _historyFailed)
        {
            return;
        }
        try
        {
            var entry = string.Join(' ', statement.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries));
            File.AppendAllText(_historyPath, entry + "\n");
            if (new FileInfo(_historyPath).Length > HistoryLimit * 256L)
            {
                var lines = File.ReadAllLines(_historyPath);
                if (lines.Length > 2 * HistoryLimit)
                {
                    AtomicFile.WriteText(_historyPath, writer =>
                    {
                        foreach (var kept in lines[^HistoryLimit..])
                        {
                            writer.WriteLine(kept);
                        }
                    });
                }
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _historyFailed = true;
            _error.WriteLine($"mmtrace: warning: history not saved to {_historyPath}: {e.Message}");
        }
    }

    private bool _historyFailed;

    /// <summary>
    /// Finds the <c>;</c> that ends a statement: not inside a '…' string, a "…" identifier, a $$…$$ string, a
    /// -- comment or a /* */ comment.
    /// </summary>
    internal sealed class StatementScanner
    {
        private enum State { Code, Single, Double, Dollar, LineComment, BlockComment }

        private State _state = State.Code;
        private char _previous;
        private bool _sawCode;

        /// <summary>True while everything fed so far is whitespace or comments.</summary>
        public bool OnlyComment => !_sawCode;

        /// <summary>True when not inside a string, identifier or comment.</summary>
        public bool InCode => _state == State.Code;

        /// <summary>Feeds one character; true when it is the <c>;</c> that ends the statement.</summary>
        public bool Feed(char c)
        {
            char previous = _previous;
            _previous = c;
            switch (_state)
            {
                case State.Single when c == '\'':
                case State.Double when c == '"':
                case State.LineComment when c == '\n':
                    _state = State.Code;
                    return false;
                case State.Dollar when c == '$' && previous == '$':
                    _state = State.Code;
                    _previous = '\0';
                    return false;
                case State.BlockComment when c == '/' && previous == '*':
                    _state = State.Code;
                    _previous = '\0';
                    return false;
                case State.Code:
                    break;
                default:
                    return false;
            }
            switch (c)
            {
                case '\'':
                    _state = State.Single;
                    _sawCode = true;
                    return false;
                case '"':
                    _state = State.Double;
                    _sawCode = true;
                    return false;
                case '$' when previous == '$':
                    _state = State.Dollar;
                    _previous = '\0';
                    return false;
                case '-' when previous == '-':
                    _state = State.LineComment;
                    return false;
                case '*' when previous == '/':
                    _state = State.BlockComment;
                    _previous = '\0';
                    return false;
                case ';':
                    return true;
                default:
                    // The first '-' or '/' of a comment opener is not code yet; a lone one is, but a statement of
                    // only '-' is no statement anyway.
                    if (!char.IsWhiteSpace(c) && c is not '-' and not '/')
                    {
                        _sawCode = true;
                    }
                    return false;
            }
        }
    }
}
