using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;

namespace Pipeline.Ingest.TraceDat;

/// <summary>pid → comm from a <c>saved_cmdlines</c> text (<c>PID COMM</c> per line; COMM may contain spaces).</summary>
internal sealed class CommTable
{
    public const string Unknown = "<...>";
    public const string Idle = "<idle>";

    private readonly Dictionary<int, string> _comms = [];

    public int Count => _comms.Count;

    public static CommTable Parse(ReadOnlySpan<byte> text)
    {
        var table = new CommTable();
        while (!text.IsEmpty)
        {
            int nl = text.IndexOf((byte)'\n');
            var line = nl < 0 ? text : text[..nl];
            text = nl < 0 ? default : text[(nl + 1)..];
            int space = line.IndexOf((byte)' ');
            if (space <= 0)
            {
                continue;
            }
            if (int.TryParse(line[..space], NumberStyles.None, CultureInfo.InvariantCulture, out int pid))
            {
                var comm = line[(space + 1)..];
                if (!comm.IsEmpty && comm[^1] == (byte)'\r')
                {
                    comm = comm[..^1];
                }
                table._comms[pid] = Encoding.UTF8.GetString(comm);
            }
        }
        return table;
    }

    private int _lastPid;
    private string _lastComm = Idle;

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public string Lookup(int pid)
    {
        if (pid == 0)
        {
            return Idle;
        }
        // Consecutive events mostly come from the same task.
        if (pid == _lastPid)
        {
            return _lastComm;
        }
        string comm = _comms.TryGetValue(pid, out var known) ? known : Unknown;
        _lastPid = pid;
        _lastComm = comm;
        return comm;
    }
}

/// <summary>
/// The kernel's 5-character irqs-off / need-resched / hardirq-softirq / preempt / migrate-disable column
/// (trace_print_lat_fmt), so rows from binary sources carry the same text as kernel <c>trace</c> output.
/// </summary>
internal sealed class IrqFlagsRenderer
{
    private const int IrqsOff = 0x01;
    private const int LazyOrNoSupport = 0x02;
    private const int NeedResched = 0x04;
    private const int HardIrq = 0x08;
    private const int SoftIrq = 0x10;
    private const int PreemptResched = 0x20;
    private const int Nmi = 0x40;
    private const int BhOff = 0x80;

    private readonly string?[] _cache = new string?[65536];
    private readonly bool _lazyPreemption;
    private readonly bool _migrateColumn;

    /// <param name="kernelRelease">The traced kernel's release: before 6.13 bit 0x02 meant IRQS_NOSUPPORT ('X'),
    /// before 5.13 there was no migrate-disable column. Unknown → current rules.</param>
    public IrqFlagsRenderer(string? kernelRelease)
    {
        var version = ParseVersion(kernelRelease);
        _lazyPreemption = version is null || version >= new Version(6, 13);
        _migrateColumn = version is null || version >= new Version(5, 13);
    }

    public string Render(byte flags, byte preemptCount)
    {
        int key = (flags << 8) | preemptCount;
        return _cache[key] ??= Build(flags, preemptCount);
    }

    private string Build(int flags, int pc)
    {
        Span<char> c = stackalloc char[5];
        bool irqsOff = (flags & IrqsOff) != 0;
        bool bhOff = (flags & BhOff) != 0;
        c[0] = irqsOff && bhOff ? 'D' : irqsOff ? 'd' : bhOff ? 'b'
            : !_lazyPreemption && (flags & LazyOrNoSupport) != 0 ? 'X' : '.';
        bool n = (flags & NeedResched) != 0;
        bool l = _lazyPreemption && (flags & LazyOrNoSupport) != 0;
        bool p = (flags & PreemptResched) != 0;
        c[1] = (n, l, p) switch
        {
            (true, true, true) => 'B',
            (true, false, true) => 'N',
            (false, true, true) => 'L',
            (true, true, false) => 'b',
            (true, false, false) => 'n',
            (false, false, true) => 'p',
            (false, true, false) => 'l',
            _ => '.',
        };
        bool nmi = (flags & Nmi) != 0;
        bool hard = (flags & HardIrq) != 0;
        bool soft = (flags & SoftIrq) != 0;
        c[2] = nmi && hard ? 'Z' : nmi ? 'z' : hard && soft ? 'H' : hard ? 'h' : soft ? 's' : '.';
        c[3] = Digit(pc & 0xf);
        c[4] = Digit(pc >> 4);
        return new string(_migrateColumn ? c : c[..4]);
    }

    private static char Digit(int value) => value == 0 ? '.' : "0123456789abcdef"[value];

    internal static Version? ParseVersion(string? release)
    {
        if (string.IsNullOrEmpty(release))
        {
            return null;
        }
        int i = 0;
        int major = ReadNumber(release, ref i);
        if (major < 0 || i >= release.Length || release[i] != '.')
        {
            return null;
        }
        i++;
        int minor = ReadNumber(release, ref i);
        return minor < 0 ? null : new Version(major, minor);
    }

    private static int ReadNumber(string s, ref int i)
    {
        int start = i;
        int value = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i]) && i - start < 6)
        {
            value = value * 10 + (s[i++] - '0');
        }
        return i == start ? -1 : value;
    }
}
