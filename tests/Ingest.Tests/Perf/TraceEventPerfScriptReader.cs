using System.Text;
using Microsoft.Diagnostics.Tracing.StackSources;
using Pipeline.Ingest.Catalog;
using Pipeline.Storage;

namespace Pipeline.Ingest.Perf;

/// <summary>
/// <c>perf script</c> text read through TraceEvent 4.0.0's <see cref="LinuxPerfScriptEventParser"/>: the
/// oracle that <see cref="PerfScriptReader"/> is checked against. Not the production path, because on
/// these inputs TraceEvent:
/// <list type="bullet">
/// <item>returns no events for <c>-F</c> selections without comm and tid (<c>-F time,event,trace</c>) and for
/// files without the <c>[cpu]</c> column (it finds the end of the comm by "digits then '/' or ' ['");</item>
/// <item>splits the event name at its first ':' (EventName "kmem", EventProperty "mm_page_alloc: page=...");</item>
/// <item>keeps time as double milliseconds, so ns digits can be lost (82820.952659 s comes back as
/// 82820952.65900001 ms);</item>
/// <item>reports the printed tid as both ProcessID and ThreadID when only one number is printed, so it cannot
/// say whether a tgid exists;</item>
/// <item>leaves the inline <c>ip sym</c> column glued to the payload;</item>
/// <item>rewrites frames (offset "+0x.." removed, dso reduced to its file name, brackets stripped);</item>
/// <item>gives no line numbers and no error for a line it cannot read.</item>
/// </list>
/// This reader undoes the first four where it can (joins the name, rounds to ns, sets tgid only when it differs
/// from the tid) and leaves the rest as TraceEvent reports it.
/// </summary>
internal sealed class TraceEventPerfScriptReader : ITraceReader
{
    public string Format => "perf";

    /// <summary>Keep the trace text whole in <c>args.payload</c> (see <see cref="PerfScriptReader.RawPayloads"/>).</summary>
    internal bool RawPayloads { get; init; }

    public void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        diagnostics.Format = "perf";
        var parser = new LinuxPerfScriptEventParser();
        var row = new EventRow();
        var payloads = new PayloadParser();
        foreach (var linuxEvent in parser.ParseSkippingPreamble(input))
        {
            cancellationToken.ThrowIfCancellationRequested();
            row.Comm = linuxEvent.Command;
            row.Pid = linuxEvent.ThreadID;
            row.Tgid = linuxEvent.ProcessID != linuxEvent.ThreadID ? linuxEvent.ProcessID : null;
            row.Cpu = linuxEvent.CpuNumber;
            row.TsNs = (long)Math.Round(linuxEvent.TimeMSec * 1_000_000.0, MidpointRounding.AwayFromZero);

            var (eventName, payload) = JoinEventName(linuxEvent.EventName, linuxEvent.EventProperty ?? "");
            row.Event = eventName;
            if (linuxEvent.TimeProperty >= 0)
            {
                row.AddArg("period", linuxEvent.TimeProperty.ToString(System.Globalization.CultureInfo.InvariantCulture));
            }
            if (RawPayloads)
            {
                if (payload.Length > 0)
                {
                    row.AddArg(PayloadParser.WholePayloadKey, payload);
                }
            }
            else
            {
                payloads.Parse(row, Encoding.UTF8.GetBytes(payload));
            }

            foreach (var frame in linuxEvent.CallerStacks)
            {
                if (frame is StackFrame stackFrame)
                {
                    row.Stack ??= [];
                    row.Stack.Add($"{stackFrame.Address} {stackFrame.Symbol} ({stackFrame.Module})");
                }
            }
            sink.Write(row);
            row.Clear();
        }
    }

    private static (string Event, string Payload) JoinEventName(string name, string property)
    {
        // "kmem" + "mm_page_alloc: page=..." → "kmem:mm_page_alloc", "page=...".
        int colon = property.IndexOf(": ", StringComparison.Ordinal);
        if (colon < 0 && property.EndsWith(':'))
        {
            colon = property.Length - 1;
        }
        if (colon > 0 && !property.AsSpan(0, colon).Contains(' '))
        {
            var rest = colon + 2 <= property.Length ? property[(colon + 2)..] : "";
            return ($"{name}:{property[..colon]}", rest.Trim());
        }
        return (":" + name, property.Trim());
    }
}
