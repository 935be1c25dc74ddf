using System.Text;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Everything needed to decode ring-buffer pages of one kernel: the header_page layout, the byte order and
/// the event format files by id. Built from a trace.dat's metadata or from a tracefs-like directory.
/// </summary>
public sealed class TraceEventFormats
{
    /// <summary>Largest format file accepted (the biggest kernel formats are a few KiB).</summary>
    internal const int MaxFormatFileBytes = 1 << 20;

    private readonly Dictionary<int, FormatFile> _byId = [];

    /// <summary>Creates an empty set for a page layout.</summary>
    public TraceEventFormats(HeaderPage headerPage, bool bigEndian = false)
    {
        ArgumentNullException.ThrowIfNull(headerPage);
        HeaderPage = headerPage;
        BigEndian = bigEndian;
    }

    /// <summary>Sub-buffer layout.</summary>
    public HeaderPage HeaderPage { get; }

    /// <summary>Byte order of the traced machine.</summary>
    public bool BigEndian { get; }

    /// <summary>All known events.</summary>
    public IReadOnlyCollection<FormatFile> Events => _byId.Values;

    /// <summary>Highest event id known (for dense lookup tables).</summary>
    public int MaxId { get; private set; } = -1;

    /// <summary>The format of event <paramref name="id"/>, or null.</summary>
    public FormatFile? FindById(int id) => _byId.GetValueOrDefault(id);

    /// <summary>Adds (or replaces) an event format.</summary>
    public void Add(FormatFile format)
    {
        ArgumentNullException.ThrowIfNull(format);
        if (format.Id is < 0 or > ushort.MaxValue)
        {
            throw new FormatException($"format of {format.FullName}: event id {format.Id} does not fit common_type (u16).");
        }
        _byId[format.Id] = format;
        MaxId = Math.Max(MaxId, format.Id);
    }

    /// <summary>
    /// Loads <c>header_page</c> and every event format under <paramref name="directory"/>. Accepted layouts:
    /// a tracefs root or instance (<c>events/&lt;system&gt;/&lt;event&gt;/format</c>), an <c>events</c>
    /// directory (<c>&lt;system&gt;/&lt;event&gt;/format</c>), or flat copies
    /// (<c>&lt;system&gt;/&lt;event&gt;.format</c>). Byte order is the host's (the files come from a live kernel).
    /// </summary>
    /// <exception cref="FormatException">header_page or a format file cannot be parsed (the message names the file).</exception>
    /// <exception cref="FileNotFoundException">No header_page in the directory.</exception>
    public static TraceEventFormats FromDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        string root = Directory.Exists(Path.Combine(directory, "events")) && File.Exists(Path.Combine(directory, "events", "header_page"))
            ? Path.Combine(directory, "events")
            : directory;
        string headerPath = Path.Combine(root, "header_page");
        if (!File.Exists(headerPath))
        {
            throw new FileNotFoundException($"No header_page in {directory} (expected {headerPath}).", headerPath);
        }
        var buffer = new byte[MaxFormatFileBytes + 1];
        HeaderPage header;
        try
        {
            header = HeaderPage.Parse(ReadBounded(headerPath, buffer));
            string eventPath = Path.Combine(root, "header_event");
            if (File.Exists(eventPath) && !HeaderEvent.Parse(ReadBounded(eventPath, buffer)).IsStandard)
            {
                throw new FormatException("header_event describes an event header layout this reader cannot decode.");
            }
        }
        catch (FormatException e)
        {
            throw new FormatException($"{headerPath}: {e.Message}", e);
        }
        var formats = new TraceEventFormats(header, !BitConverter.IsLittleEndian);
        foreach (var systemDir in Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            string system = Path.GetFileName(systemDir);
            var files = new List<string>();
            foreach (var eventDir in Directory.EnumerateDirectories(systemDir))
            {
                string path = Path.Combine(eventDir, "format");
                if (File.Exists(path))
                {
                    files.Add(path);
                }
            }
            files.AddRange(Directory.EnumerateFiles(systemDir, "*.format"));
            foreach (var path in files.Order(StringComparer.Ordinal))
            {
                try
                {
                    formats.Add(FormatFile.Parse(ReadBounded(path, buffer), system));
                }
                catch (FormatException e)
                {
                    throw new FormatException($"{path}: {e.Message}", e);
                }
            }
        }
        return formats;
    }

    private static string ReadBounded(string path, byte[] buffer)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        // tracefs files report size 0: read up to the cap instead of trusting Length.
        int total = 0;
        int n;
        while (total < buffer.Length && (n = stream.Read(buffer, total, buffer.Length - total)) > 0)
        {
            total += n;
        }
        if (total > MaxFormatFileBytes)
        {
            throw new FormatException($"file is larger than {MaxFormatFileBytes} bytes.");
        }
        return Encoding.UTF8.GetString(buffer, 0, total);
    }
}
