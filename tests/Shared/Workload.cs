using System.Globalization;

namespace Pipeline.Ingest.Live;

/// <summary>What <c>mmwork</c> reported on its summary line.</summary>
/// <param name="Pid">Process id of the workload.</param>
/// <param name="Counts">Calls made, by name (mmap, mremap, mprotect, madvise, munmap) plus pages touched.</param>
public sealed record WorkloadSummary(int Pid, IReadOnlyDictionary<string, long> Counts)
{
    /// <summary>Parses "mmwork pid=N key=value ..." from the workload's output.</summary>
    /// <exception cref="FormatException">No summary line in <paramref name="output"/>.</exception>
    public static WorkloadSummary Parse(string output)
    {
        ArgumentNullException.ThrowIfNull(output);
        var line = output.Split('\n').LastOrDefault(l => l.StartsWith("mmwork pid=", StringComparison.Ordinal))
            ?? throw new FormatException($"Expected a line 'mmwork pid=N ...' in the workload output, found: '{output.Trim()}'.");
        var counts = new SortedDictionary<string, long>(StringComparer.Ordinal);
        int pid = 0;
        foreach (var pair in line.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1))
        {
            int eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0 || !long.TryParse(pair.AsSpan(eq + 1), NumberStyles.None, CultureInfo.InvariantCulture, out long value))
            {
                throw new FormatException($"Expected key=number in the workload summary, found '{pair}' in '{line}'.");
            }
            if (pair[..eq] == "pid")
            {
                pid = checked((int)value);
            }
            else
            {
                counts[pair[..eq]] = value;
            }
        }
        return new WorkloadSummary(pid, counts);
    }
}

/// <summary>Builds and runs the C workload (<c>tests/workloads/mmwork.c</c>) with the machine's C compiler.</summary>
public static class Workload
{
    /// <summary>Whether a C compiler (<c>cc</c>) is on PATH.</summary>
    public static bool IsCompilerAvailable(out string reason)
    {
        var cc = ToolProcess.FindOnPath("cc");
        reason = cc is null ? "no C compiler: 'cc' is not on PATH (install gcc or clang)." : $"C compiler at {cc}.";
        return cc is not null;
    }

    /// <summary>The path of <c>tests/workloads/<paramref name="fileName"/></c>, found above the test's directory.</summary>
    /// <exception cref="FileNotFoundException">Not there (a clone without its tests/ directory).</exception>
    public static string Source(string fileName)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var path = Path.Combine(dir.FullName, "tests", "workloads", fileName);
            if (File.Exists(path))
            {
                return path;
            }
        }
        throw new FileNotFoundException($"tests/workloads/{fileName} not found above {AppContext.BaseDirectory}.");
    }

    /// <summary>Compiles <paramref name="sourcePath"/> into a new temporary directory and returns the executable's path.</summary>
    /// <exception cref="InvalidOperationException">No compiler, or the compile failed (message holds the compiler's output).</exception>
    public static string Build(string sourcePath)
    {
        ArgumentNullException.ThrowIfNull(sourcePath);
        if (!File.Exists(sourcePath))
        {
            throw new FileNotFoundException($"Workload source {sourcePath} not found.", sourcePath);
        }
        var cc = ToolProcess.FindOnPath("cc") ?? throw new InvalidOperationException("No C compiler: 'cc' is not on PATH.");
        var directory = Directory.CreateTempSubdirectory("mmtrace-workload-").FullName;
        var output = Path.Combine(directory, Path.GetFileNameWithoutExtension(sourcePath));
        var result = ToolProcess.Run(cc, ["-O1", "-Wall", "-o", output, sourcePath], ToolProcess.Limit);
        if (result.ExitCode != 0 || !File.Exists(output))
        {
            throw new InvalidOperationException($"cc {sourcePath} failed (exit {result.ExitCode}): {result.StandardError.Trim()}");
        }
        return output;
    }

    /// <summary>Runs the built workload and parses its summary line.</summary>
    /// <exception cref="InvalidOperationException">It exited with an error.</exception>
    public static WorkloadSummary Run(string executable, params string[] arguments)
    {
        var result = ToolProcess.Run(executable, arguments, ToolProcess.Limit);
        if (result.ExitCode != 0)
        {
            throw new InvalidOperationException($"{executable} {string.Join(' ', arguments)} exited with {result.ExitCode}: {result.StandardError.Trim()}");
        }
        return WorkloadSummary.Parse(result.StandardOutput);
    }
}
