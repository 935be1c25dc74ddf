using Pipeline.Ingest.Catalog;
using Pipeline.Storage;

namespace Pipeline.Ingest.Text;

/// <summary>
/// Reads kernel console output: dmesg, serial console captures and syzkaller reports, and RFC 822 mails that
/// quote them (quoted-printable bodies, <c>&gt; </c> quoting). Ftrace lines (the latency layout of
/// <c>ftrace_dump_on_oops</c>, or plain <c>trace</c> lines pasted into a mail) become events as in
/// <see cref="FtraceTextReader"/>; crash headers become <c>console:*</c> events (see <see cref="ConsoleEvents"/>)
/// with their <c>Call Trace:</c> as the stack. Prose lines are skipped; lines that look like damaged trace
/// output (inside a dump, or with a stray <c>=&gt;</c> frame) are counted as malformed.
/// </summary>
public sealed class ConsoleLogReader : ITraceReader
{
    /// <inheritdoc />
    public string Format => "console";

    /// <inheritdoc />
    public void Read(Stream input, string fileName, IEventSink sink, IngestDiagnostics diagnostics, CancellationToken cancellationToken = default)
    {
        diagnostics.Format ??= Format;
        var state = new ConsoleParser(new FtraceTextCore(fileName, sink, diagnostics), diagnostics, fileName);
        var lines = new Utf8LineReader(input);
        var mail = new MailBodyDecoder();
        bool first = true;
        while (lines.TryReadLine(out ReadOnlySpan<byte> raw))
        {
            if ((lines.LineNumber & 0xFFF) == 0)
            {
                cancellationToken.ThrowIfCancellationRequested();
            }
            if (lines.LastLineTruncated)
            {
                state.Truncated(raw, lines.LineNumber);
                continue;
            }
            if (first && raw.IndexOfAnyExcept((byte)' ') >= 0)
            {
                first = false;
                BinaryInput.Refuse(raw, lines.LineNumber, fileName, "console text (a console log, dmesg output or a mail)");
                mail.Enabled = MailBodyDecoder.LooksLikeMailHeader(raw);
            }
            if (!mail.Enabled)
            {
                // A report pasted with mail quoting into a bug tracker or a text file: kernel output never starts with '>'.
                state.Line(MailBodyDecoder.StripQuotes(raw, out int quoted), lines.LineNumber, quoted);
                continue;
            }
            switch (mail.Push(raw, lines.LineNumber, out ReadOnlySpan<byte> logical, out long logicalLine))
            {
                case MailLine.Body:
                    state.Line(MailBodyDecoder.StripQuotes(logical, out int depth), logicalLine, depth);
                    break;
                case MailLine.Skipped:
                    diagnostics.SkippedLines++;
                    break;
                default:
                    break;
            }
        }
        if (mail.Enabled && mail.TryFinish(out ReadOnlySpan<byte> rest, out long restLine))
        {
            state.Line(MailBodyDecoder.StripQuotes(rest, out int depth), restLine, depth);
        }
        if (state.Finish() > 0)
        {
            // Console text comes from the kernel's own printing, which hashes %p.
            diagnostics.PointersHashed = true;
        }
    }
}

/// <summary>The event names the console reader gives crash headers.</summary>
public static class ConsoleEvents
{
    /// <summary><c>WARNING: …</c> (WARN_ON splats, lockdep reports).</summary>
    public const string Warning = "console:warning";

    /// <summary><c>BUG: …</c> (except bad page state), <c>kernel BUG at file:line!</c>, <c>watchdog: BUG: soft lockup</c>.</summary>
    public const string Bug = "console:bug";

    /// <summary><c>BUG: Bad page state in process …</c>.</summary>
    public const string BadPageState = "console:bad_page_state";

    /// <summary><c>general protection fault …</c>, also after <c>Oops: </c>.</summary>
    public const string GeneralProtectionFault = "console:general_protection_fault";

    /// <summary>Any other <c>Oops: …</c> line.</summary>
    public const string Oops = "console:oops";

    /// <summary>Argument holding the header text as printed.</summary>
    public const string HeaderArg = "header";

    /// <summary>Argument naming the clock of the row's <c>ts_ns</c> when it is not the trace clock.</summary>
    public const string ClockArg = "clock";

    /// <summary>Value of <see cref="ClockArg"/> for printk time (the console's clock).</summary>
    public const string PrintkClock = "printk";
}
