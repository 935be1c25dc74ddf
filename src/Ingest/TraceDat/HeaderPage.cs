namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// The sub-buffer layout from <c>events/header_page</c> (and the type numbers of <c>header_event</c>):
/// where the timestamp, commit word and event data live in each ring-buffer page.
/// </summary>
public sealed class HeaderPage
{
    /// <summary>Largest sub-buffer accepted (the kernel's buffer_subbuf_size_kb tops out far below this).</summary>
    public const int MaxPageSize = 1 << 23;

    /// <summary>The layout of a 64-bit kernel with 4 KiB sub-buffers (the reference machine).</summary>
    public static HeaderPage Default64 { get; } = new(8, 8, 8, 16, 4080);

    /// <summary>Creates a layout from explicit values.</summary>
    public HeaderPage(int timestampSize, int commitOffset, int commitSize, int dataOffset, int dataSize)
    {
        if (timestampSize != 8)
        {
            throw new FormatException($"header_page: expected an 8-byte timestamp, found size {timestampSize}.");
        }
        if (commitSize is not (4 or 8) || commitOffset < 8 || commitOffset + commitSize > dataOffset)
        {
            throw new FormatException($"header_page: expected a 4- or 8-byte commit field before the data, found offset {commitOffset} size {commitSize} (data at {dataOffset}).");
        }
        if (dataOffset > 64 || dataSize <= 0 || dataSize > MaxPageSize)
        {
            throw new FormatException($"header_page: implausible data area offset {dataOffset} size {dataSize}.");
        }
        TimestampSize = timestampSize;
        CommitOffset = commitOffset;
        CommitSize = commitSize;
        DataOffset = dataOffset;
        DataSize = dataSize;
    }

    /// <summary>Size of the page timestamp (always 8).</summary>
    public int TimestampSize { get; }

    /// <summary>Offset of the commit word.</summary>
    public int CommitOffset { get; }

    /// <summary>Size of the commit word: the kernel's <c>long</c> (8 on 64-bit kernels, 4 on 32-bit).</summary>
    public int CommitSize { get; }

    /// <summary>Offset of the event data in a page (16 on 64-bit kernels).</summary>
    public int DataOffset { get; }

    /// <summary>Usable data bytes of the default page size.</summary>
    public int DataSize { get; }

    /// <summary>Sub-buffer size implied by header_page (data offset + data size).</summary>
    public int PageSize => DataOffset + DataSize;

    /// <summary>The kernel's long size (from the commit field size, as trace-cmd derives it).</summary>
    public int LongSize => CommitSize;

    /// <summary>Parses the text of <c>events/header_page</c>.</summary>
    /// <exception cref="FormatException">A field is missing or implausible.</exception>
    public static HeaderPage Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        FormatField? timestamp = null, commit = null, data = null;
        int lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            if (!raw.AsSpan().TrimStart().StartsWith("field:", StringComparison.Ordinal))
            {
                continue;
            }
            var field = FormatFile.ParseFieldLine(raw, lineNumber, isCommon: false);
            switch (field.Name)
            {
                case "timestamp":
                    timestamp = field;
                    break;
                case "commit":
                    commit = field;
                    break;
                case "data":
                    data = field;
                    break;
            }
        }
        if (timestamp is null || commit is null || data is null)
        {
            throw new FormatException("header_page: expected fields 'timestamp', 'commit' and 'data', found "
                + $"{(timestamp is null ? "no timestamp " : "")}{(commit is null ? "no commit " : "")}{(data is null ? "no data" : "")}".TrimEnd() + ".");
        }
        return new HeaderPage(timestamp.Size, commit.Offset, commit.Size, data.Offset, data.Size);
    }
}
