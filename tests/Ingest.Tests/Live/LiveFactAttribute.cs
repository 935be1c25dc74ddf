using Pipeline.Ingest.Live;

namespace Pipeline.Ingest.Tests.Live;

/// <summary>
/// A fact that needs live tracing on this machine. Decided at discovery, so the reason shows in the test
/// output as a skip ("root", "tracefs not mounted", "read-only", "no cc") instead of a silent pass.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class LiveFactAttribute : FactAttribute
{
    private string? _skip;
    private bool _decided;

    /// <summary>Also needs a C compiler (to build the workload).</summary>
    public bool NeedsCompiler { get; set; }

    /// <summary>Also needs trace-cmd (a trace.dat of the same buffer).</summary>
    public bool NeedsTraceCmd { get; set; }

    /// <summary>Also needs perf with tracepoint support (a perf capture of the workload).</summary>
    public bool NeedsPerf { get; set; }

    /// <inheritdoc />
    public override string Skip
    {
        get
        {
            if (!_decided)
            {
                _decided = true;
                if (!TraceFsInstance.IsAvailable(out var reason))
                {
                    _skip = $"Live tracing unavailable: {reason}";
                }
                else if (NeedsCompiler && !Workload.IsCompilerAvailable(out var ccReason))
                {
                    _skip = $"Workload cannot be built: {ccReason}";
                }
                else if (NeedsTraceCmd && !TraceCmd.IsAvailable(out var traceCmdReason))
                {
                    _skip = $"trace-cmd unavailable: {traceCmdReason}";
                }
                else if (NeedsPerf && !OnPath("perf"))
                {
                    _skip = "perf unavailable: perf is not on PATH (Debian: apt-get install linux-perf).";
                }
            }
            return _skip!;
        }
        set => _skip = value;
    }

    private static bool OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Any(dir => File.Exists(Path.Combine(dir, tool)));
}
