using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pipeline.Cli.Tests;

/// <summary>
/// The self-contained single file (issue 16): published for linux-x64 with the repository's publish profile,
/// copied out of the repository, and run where no .NET is reachable (PATH without the SDK, DOTNET_ROOT unset).
/// </summary>
public sealed class SingleFileTests
{
    [SkippableFact]
    public void Publish_LinuxX64SingleFile_RunsVersionDemoAndQueryWithoutDotnet()
    {
        Skip.IfNot(RuntimeInformation.OSArchitecture == Architecture.X64 && OperatingSystem.IsLinux(), "the linux-x64 binary runs on x86_64 Linux only");
        string? repository = Ancestor("Pipeline.sln");
        Skip.If(repository is null, "no Pipeline.sln above the test binaries: not run from a clone");
        using var work = new TempDir();
        string publishDir = Path.Combine(work.Path, "publish");
        var publish = Run("dotnet", new Dictionary<string, string?>(), "publish", Path.Combine(repository!, "src", "Cli", "Cli.csproj"), "-r", "linux-x64",
            "-p:PublishProfile=linux-x64", $"-p:PublishDir={publishDir}/", "-nologo", "-v", "q", "-clp:ErrorsOnly");
        // Without the runtime pack or Crossgen2 from NuGet (an offline machine) there is nothing to test.
        Skip.If(publish.ExitCode != 0 && (publish.Stdout.Contains("NU1101", StringComparison.Ordinal) || publish.Stdout.Contains("NU1301", StringComparison.Ordinal)),
            $"dotnet publish cannot restore the linux-x64 runtime pack here: {publish.Stdout.Trim()}");
        Assert.True(publish.ExitCode == 0, $"dotnet publish failed: {publish}");

        // Outside the repository, and with no .NET on PATH or in DOTNET_ROOT.
        string machine = Path.Combine(work.Path, "lab-box");
        Directory.CreateDirectory(machine);
        string binary = Path.Combine(machine, "mmtrace");
        File.Copy(Path.Combine(publishDir, "mmtrace"), binary);
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(binary, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        string dotnetDir = Path.GetDirectoryName(Environment.ProcessPath!)!;
        string path = string.Join(':', (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
            .Where(d => d.Length > 0 && !File.Exists(Path.Combine(d, "dotnet")) && !d.StartsWith(dotnetDir, StringComparison.Ordinal)));
        var env = new Dictionary<string, string?> { ["PATH"] = path, ["DOTNET_ROOT"] = null, ["DOTNET_BUNDLE_EXTRACT_BASE_DIR"] = Path.Combine(work.Path, "extract") };

        var version = Run(binary, env, "--version");
        Assert.True(version.ExitCode == 0, version.ToString());
        Assert.Matches(@"^\d+\.\d+\.\d+\+[0-9a-f]{7,}", version.Stdout.Trim());

        string demo = Path.Combine(machine, "demo");
        var run = Run(binary, env, "demo", "-o", demo);
        Assert.True(run.ExitCode == 0, run.ToString());

        var query = Run(binary, env, "query", demo, "--sql", "SELECT count(*) > 0 AS found FROM findings", "--format", "csv");
        Assert.True(query.ExitCode == 0, query.ToString());
        Assert.Equal(["found", "true"], query.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }

    internal static string? Ancestor(string file)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, file)))
            {
                return dir.FullName;
            }
        }
        return null;
    }

    internal static Mmtrace.Result Run(string program, IReadOnlyDictionary<string, string?> env, params string[] args)
    {
        var start = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }
        foreach (var (name, value) in env)
        {
            if (value is null)
            {
                start.Environment.Remove(name);
            }
            else
            {
                start.Environment[name] = value;
            }
        }
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // Bounded work; the limit only turns a hang into a failure on a busy machine.
        if (!process.WaitForExit(TimeSpan.FromMinutes(30)))
        {
            Mmtrace.Stop(process);
            throw new TimeoutException($"{program} {string.Join(' ', args)} did not finish in 30 minutes.");
        }
        return new Mmtrace.Result(process.ExitCode, stdout.Result, stderr.Result);
    }
}
