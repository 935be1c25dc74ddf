using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using Pipeline.Storage;

namespace Pipeline.Replay.Real;

/// <summary>One line of <c>/proc/PID/maps</c>.</summary>
/// <param name="Start">Start address.</param>
/// <param name="End">End address (exclusive).</param>
/// <param name="Perms">The four permission characters, e.g. <c>rw-p</c>.</param>
/// <param name="Offset">File offset in bytes (vm_pgoff &lt;&lt; PAGE_SHIFT; 0 for anonymous memory).</param>
/// <param name="Device">major:minor.</param>
/// <param name="Inode">Inode number (0 for anonymous memory).</param>
/// <param name="Path">Path or pseudo-name (<c>[heap]</c>, <c>[stack]</c>, ...); empty when none.</param>
public sealed record MapsLine(ulong Start, ulong End, string Perms, ulong Offset, string Device, ulong Inode, string Path);

/// <summary>
/// A <c>/proc/PID/maps</c> snapshot taken right before tracing (<c>cat /proc/PID/maps &gt; FILE</c>), used to seed
/// the VMA set of that process so that predictions about memory mapped before the trace can be decided.
/// </summary>
public sealed class MapsSnapshot
{
    private MapsSnapshot(IReadOnlyList<MapsLine> lines, int? pid)
    {
        Lines = lines;
        Pid = pid;
    }

    /// <summary>The parsed lines in file order.</summary>
    public IReadOnlyList<MapsLine> Lines { get; }

    /// <summary>The process (tgid) the snapshot belongs to; null means "the first process the trace shows mapping memory".</summary>
    public int? Pid { get; }

    /// <summary>Parses the standard format <c>start-end perms offset dev inode [path]</c>, one VMA per line.</summary>
    /// <exception cref="TraceFormatException">A line does not have that format; the message names the line.</exception>
    public static MapsSnapshot Parse(TextReader reader, int? pid = null, string sourceName = "maps")
    {
        ArgumentNullException.ThrowIfNull(reader);
        var lines = new List<MapsLine>();
        long number = 0;
        ulong previousEnd = 0;
        while (reader.ReadLine() is { } line)
        {
            number++;
            if (line.Length == 0)
            {
                continue;
            }
            var parsed = ParseLine(line, sourceName, number);
            if (parsed.Start < previousEnd)
            {
                Throw(sourceName, number, $"expected ranges in ascending order, found 0x{parsed.Start:x} below the previous end 0x{previousEnd:x}");
            }
            previousEnd = parsed.End;
            lines.Add(parsed);
        }
        return new MapsSnapshot(lines, pid);
    }

    /// <summary>An address space holding exactly these VMAs; their page-table population is unknown.</summary>
    public AddressSpace ToAddressSpace()
    {
        var space = AddressSpace.CreateEmpty();
        foreach (var l in Lines)
        {
            bool shared = l.Perms[3] == 's';
            bool file = l.Inode != 0;
            bool special = l.Path is "[vdso]" or "[vvar]" or "[vvar_vclock]" or "[vsyscall]" || l.Path.StartsWith("[uprobes]", StringComparison.Ordinal);
            var access = (l.Perms[0] == 'r' ? VmaAccess.Read : 0) | (l.Perms[1] == 'w' ? VmaAccess.Write : 0) | (l.Perms[2] == 'x' ? VmaAccess.Exec : 0);
            space.Insert(new Vma(l.Start, l.End)
            {
                Access = access,
                Shared = shared,
                File = file ? (l.Path.Length > 0 ? l.Path : $"inode:{l.Device}:{l.Inode}") : null,
                // maps prints vm_pgoff only for file mappings; the anon_vma, VM_LOCKED and THP advice are not shown.
                PgoffPages = file ? l.Offset >> AddressSpace.PageShift : null,
                AnonVma = shared ? 0 : Vma.UnknownAnonVma,
                Special = special,
                AttributesKnown = false,
                Name = l.Path.Length > 0 ? l.Path : null,
            }, merge: false);
            space.MarkPopulationUnknown(l.Start, l.End);
        }
        return space;
    }

    private static MapsLine ParseLine(string line, string sourceName, long number)
    {
        var span = line.AsSpan();
        int dash = span.IndexOf('-');
        int sp1 = span.IndexOf(' ');
        if (dash <= 0 || sp1 < 0 || dash > sp1)
        {
            Throw(sourceName, number, $"expected 'start-end perms offset dev inode [path]', found '{line}'");
        }
        ulong start = Hex(span[..dash], "start address", line, sourceName, number);
        ulong end = Hex(span[(dash + 1)..sp1], "end address", line, sourceName, number);
        if (end <= start || (start & (AddressSpace.PageSize - 1)) != 0 || (end & (AddressSpace.PageSize - 1)) != 0)
        {
            Throw(sourceName, number, $"expected a non-empty page-aligned range, found '{span[..sp1]}'");
        }
        var rest = span[(sp1 + 1)..];
        var perms = NextField(ref rest);
        if (perms.Length != 4 || perms[0] is not ('r' or '-') || perms[1] is not ('w' or '-') || perms[2] is not ('x' or '-') || perms[3] is not ('p' or 's'))
        {
            Throw(sourceName, number, $"expected permissions like 'rw-p', found '{perms}'");
        }
        ulong offset = Hex(NextField(ref rest), "offset", line, sourceName, number);
        var dev = NextField(ref rest);
        if (dev.IndexOf(':') <= 0)
        {
            Throw(sourceName, number, $"expected a device 'major:minor', found '{dev}'");
        }
        var inodeText = NextField(ref rest);
        if (!ulong.TryParse(inodeText, NumberStyles.None, CultureInfo.InvariantCulture, out ulong inode))
        {
            Throw(sourceName, number, $"expected a decimal inode, found '{inodeText}'");
        }
        string path = rest.Trim().ToString();
        return new MapsLine(start, end, perms.ToString(), offset, dev.ToString(), inode, path);
    }

    private static ReadOnlySpan<char> NextField(ref ReadOnlySpan<char> rest)
    {
        rest = rest.TrimStart(' ');
        int sp = rest.IndexOf(' ');
        var field = sp < 0 ? rest : rest[..sp];
        rest = sp < 0 ? [] : rest[sp..];
        return field;
    }

    private static ulong Hex(ReadOnlySpan<char> text, string what, string line, string sourceName, long number)
    {
        if (text.Length > 0 && text.Length <= 16 && ulong.TryParse(text, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out ulong value))
        {
            return value;
        }
        Throw(sourceName, number, $"expected a hexadecimal {what}, found '{text}' in '{line}'");
        return 0;
    }

    [DoesNotReturn]
    private static void Throw(string sourceName, long number, string message) =>
        throw new TraceFormatException(sourceName, number, "line", message);
}
