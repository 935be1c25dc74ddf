namespace Pipeline.Ingest.Text;

/// <summary>
/// The prefix a log collector puts before the kernel's own text on each console line: syslog and journalctl
/// (<c>Dec  7 05:00:01 host kernel: </c>, with the month in any language, an ISO time, or <c>grep -n</c>'s line number
/// in front; or a bare <c>kernel: </c>), <c>dmesg -T</c>'s human time (<c>[Tue Jan 24 19:21:10 2023] </c>), an ISO-8601
/// time (<c>dmesg --time-format iso</c>, CI logs: <c>2023-01-24T19:21:10,123456+00:00 </c>) and a CI runner's clock
/// before a printk stamp (<c>16:56:35 [   82.646346] </c>). What follows is the kernel's line, with or without its
/// printk stamp.
/// </summary>
internal static class ConsoleLogPrefix
{
    // A syslog prefix ("Mon dd hh:mm:ss host kernel: ") is short; "kernel: " further in is the message's own text.
    private const int MaxSyslogPrefix = 120;

    // "[Tue Jan 24 19:21:10 2023]" and its locale variants fit well within this.
    private const int MaxHumanTime = 48;

    /// <summary>The kind of prefix <see cref="Length"/> found.</summary>
    public enum Kind
    {
        /// <summary>No collector prefix.</summary>
        None,

        /// <summary>syslog/journalctl: everything up to and including <c>kernel: </c>.</summary>
        Syslog,

        /// <summary><c>dmesg -T</c>: a bracketed wall-clock time instead of the printk stamp.</summary>
        HumanTime,

        /// <summary>An ISO-8601 time, or a clock time followed by a printk stamp.</summary>
        WallClock,
    }

    /// <summary>How many bytes at the start of <paramref name="line"/> are a collector's prefix (0 for none).</summary>
    public static int Length(ReadOnlySpan<byte> line, out Kind kind)
    {
        kind = Kind.None;
        if (line.IsEmpty)
        {
            return 0;
        }
        int kernel = line[..Math.Min(line.Length, MaxSyslogPrefix)].IndexOf("kernel: "u8);
        if (kernel == 0 || (kernel > 0 && line[kernel - 1] == (byte)' ' && line[0] != (byte)'[' && line[0] != (byte)'<' && ClockTime(line[..kernel]) >= 0))
        {
            kind = Kind.Syslog;
            return kernel + 8;
        }
        if (line[0] == (byte)'[')
        {
            int close = line[..Math.Min(line.Length, MaxHumanTime)].IndexOf((byte)']');
            if (close > 0 && ClockTime(line[1..close]) >= 0 && line[1..close].IndexOfAnyInRange((byte)'A', (byte)'z') >= 0)
            {
                kind = Kind.HumanTime;
                return close + 1 < line.Length && line[close + 1] == (byte)' ' ? close + 2 : close + 1;
            }
            return 0;
        }
        int space = line.IndexOf((byte)' ');
        ReadOnlySpan<byte> token = space < 0 ? line : line[..space];
        if (space < 0 || token.IndexOfAnyExcept("0123456789:.,-+TZ"u8) >= 0)
        {
            return 0;
        }
        int clock = ClockTime(token);
        bool iso = token.Length >= 19 && token[4] == (byte)'-' && token[7] == (byte)'-' && token[10] == (byte)'T' && clock == 11;
        ReadOnlySpan<byte> rest = line[(space + 1)..].TrimStart((byte)' ');
        if (iso || (clock == 0 && rest.Length > 1 && rest[0] == (byte)'['))
        {
            kind = Kind.WallClock;
            return line.Length - rest.Length;
        }
        return 0;
    }

    // Where "hh:mm:ss" (one or two hour digits) starts in text, or -1.
    private static int ClockTime(ReadOnlySpan<byte> text)
    {
        for (int i = 1; i + 5 < text.Length; i++)
        {
            if (text[i] == (byte)':' && IsDigit(text[i - 1]) && IsDigit(text[i + 1]) && IsDigit(text[i + 2]) && text[i + 3] == (byte)':'
                && IsDigit(text[i + 4]) && IsDigit(text[i + 5]))
            {
                return i >= 2 && IsDigit(text[i - 2]) ? i - 2 : i - 1;
            }
        }
        return -1;
    }

    private static bool IsDigit(byte b) => (uint)(b - '0') <= 9;
}
