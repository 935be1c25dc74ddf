using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using Pipeline.Storage;

namespace Pipeline.Ingest.Ctf;

/// <summary>A <c>clock { }</c> block: converts cycles to ns since the clock's origin.</summary>
internal sealed record CtfClock(string Name, ulong Frequency, long OffsetSeconds, long OffsetCycles)
{
    /// <summary>Nanoseconds for a clock value, offsets included (as babeltrace2 prints absolute times).</summary>
    public long ToNs(ulong cycles)
    {
        long offset = OffsetCycles < 0 ? -CyclesToNs((ulong)(-OffsetCycles)) : CyclesToNs((ulong)OffsetCycles);
        return unchecked(CyclesToNs(cycles) + offset + (OffsetSeconds * 1_000_000_000L));
    }

    private long CyclesToNs(ulong cycles) => Frequency == 1_000_000_000UL
        ? unchecked((long)cycles)
        : unchecked((long)(ulong)((UInt128)cycles * 1_000_000_000UL / Frequency));
}

/// <summary>An <c>event { }</c> block.</summary>
internal sealed class CtfEventClass(long id, string name, long streamId, CtfStruct? context, CtfStruct? fields)
{
    public long Id { get; } = id;

    public string Name { get; } = name;

    public long StreamId { get; } = streamId;

    public CtfStruct? Context { get; } = context;

    public CtfStruct? Fields { get; } = fields;

    /// <summary>Reader state attached once per class (canonical name, field plans).</summary>
    public object? Plan { get; set; }
}

/// <summary>A <c>stream { }</c> block and its events.</summary>
internal sealed class CtfStreamClass(long id)
{
    public long Id { get; } = id;

    public CtfStruct? PacketContext { get; set; }

    public CtfStruct? EventHeader { get; set; }

    public CtfStruct? EventContext { get; set; }

    public Dictionary<long, CtfEventClass> Events { get; } = [];
}

/// <summary>Everything a CTF 1.8 trace's metadata declares.</summary>
internal sealed class CtfMetadata
{
    public const uint PacketMagic = 0x75D11D57;

    public const uint StreamMagic = 0xC1FC1FC1;

    private const int MetadataHeaderSize = 37;

    /// <summary>Largest metadata file accepted (LTTng kernel metadata is well under 1 MiB).</summary>
    public const int MaxMetadataBytes = 64 << 20;

    public CtfByteOrder ByteOrder { get; set; } = CtfByteOrder.Little;

    public CtfStruct? PacketHeader { get; set; }

    public Dictionary<string, CtfClock> Clocks { get; } = new(StringComparer.Ordinal);

    public Dictionary<string, string> Env { get; } = new(StringComparer.Ordinal);

    public Dictionary<long, CtfStreamClass> Streams { get; } = [];

    /// <summary>Number of value slots the decoder needs (one per declared field).</summary>
    public int SlotCount { get; set; }

    /// <summary>
    /// The clock event timestamps count in: the one the event headers' (or packet contexts') timestamps map
    /// to, else the only declared clock, else a 1 GHz clock without offset.
    /// </summary>
    public CtfClock DefaultClock()
    {
        foreach (var stream in Streams.Values.OrderBy(s => s.Id))
        {
            if ((FindClock(stream.EventHeader) ?? FindClock(stream.PacketContext)) is { } name && Clocks.TryGetValue(name, out var clock))
            {
                return clock;
            }
        }
        return Clocks.Count > 0 ? Clocks.Values.First() : new CtfClock("", 1_000_000_000UL, 0, 0);
    }

    private static string? FindClock(CtfType? type) => type switch
    {
        CtfInteger integer => integer.ClockName,
        CtfEnum enumeration => enumeration.Container.ClockName,
        CtfStruct structure => structure.Fields.Select(f => FindClock(f.Type)).FirstOrDefault(c => c is not null),
        CtfVariant variant => variant.Options.Select(f => FindClock(f.Type)).FirstOrDefault(c => c is not null),
        _ => null,
    };

    /// <summary>Reads the metadata file (packetized or plain TSDL) and parses it.</summary>
    /// <exception cref="TraceFormatException">The file is not CTF metadata or declares something unsupported.</exception>
    public static CtfMetadata Load(Stream input, string fileName)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[1 << 16];
        for (int read; (read = input.Read(chunk)) > 0;)
        {
            if (buffer.Length + read > MaxMetadataBytes)
            {
                throw new TraceFormatException(fileName, buffer.Length, "byte",
                    string.Create(CultureInfo.InvariantCulture, $"CTF metadata: expected at most {MaxMetadataBytes} bytes, found more."));
            }
            buffer.Write(chunk, 0, read);
        }
        var text = ExtractText(buffer.GetBuffer().AsSpan(0, (int)buffer.Length), fileName);
        return TsdlParser.Parse(text, fileName);
    }

    /// <summary>The TSDL text of a metadata file: the concatenated packet payloads, or the file itself.</summary>
    internal static string ExtractText(ReadOnlySpan<byte> data, string fileName)
    {
        if (data.Length >= 4 && (BinaryPrimitives.ReadUInt32LittleEndian(data) == PacketMagic || BinaryPrimitives.ReadUInt32BigEndian(data) == PacketMagic))
        {
            bool little = BinaryPrimitives.ReadUInt32LittleEndian(data) == PacketMagic;
            var text = new StringBuilder(data.Length);
            int offset = 0;
            while (offset < data.Length)
            {
                var rest = data[offset..];
                if (rest.Length < MetadataHeaderSize)
                {
                    throw new TraceFormatException(fileName, offset, "byte",
                        string.Create(CultureInfo.InvariantCulture, $"metadata packet header: expected {MetadataHeaderSize} bytes, found {rest.Length} before the end of the file."));
                }
                uint magic = little ? BinaryPrimitives.ReadUInt32LittleEndian(rest) : BinaryPrimitives.ReadUInt32BigEndian(rest);
                uint contentBits = little ? BinaryPrimitives.ReadUInt32LittleEndian(rest[24..]) : BinaryPrimitives.ReadUInt32BigEndian(rest[24..]);
                uint packetBits = little ? BinaryPrimitives.ReadUInt32LittleEndian(rest[28..]) : BinaryPrimitives.ReadUInt32BigEndian(rest[28..]);
                if (magic != PacketMagic)
                {
                    throw new TraceFormatException(fileName, offset, "byte",
                        string.Create(CultureInfo.InvariantCulture, $"metadata packet: expected magic 0x{PacketMagic:X8}, found 0x{magic:X8}."));
                }
                if (rest[32] != 0 || rest[33] != 0)
                {
                    throw new TraceFormatException(fileName, offset, "byte", "metadata packet: compressed or encrypted metadata is not supported.");
                }
                long packetBytes = packetBits / 8;
                long contentBytes = contentBits / 8;
                if (packetBits % 8 != 0 || packetBytes < MetadataHeaderSize || packetBytes > rest.Length || contentBytes < MetadataHeaderSize || contentBytes > packetBytes)
                {
                    throw new TraceFormatException(fileName, offset, "byte",
                        string.Create(CultureInfo.InvariantCulture, $"metadata packet: expected content_size <= packet_size <= {rest.Length * 8L} bits (the bytes left), found content_size {contentBits}, packet_size {packetBits}."));
                }
                text.Append(Encoding.UTF8.GetString(rest[MetadataHeaderSize..(int)contentBytes]));
                offset += (int)packetBytes;
            }
            return text.ToString();
        }
        var plain = Encoding.UTF8.GetString(data);
        if (!plain.TrimStart().StartsWith("/* CTF 1.", StringComparison.Ordinal))
        {
            throw new TraceFormatException(fileName, 0, "byte",
                $"CTF metadata: expected a metadata packet (magic 0x{PacketMagic:X8}) or text starting '/* CTF 1.8 */', found '{Escape(plain.AsSpan(0, Math.Min(16, plain.Length)))}'.");
        }
        return plain;
    }

    private static string Escape(ReadOnlySpan<char> s)
    {
        var sb = new StringBuilder();
        foreach (char c in s)
        {
            sb.Append(char.IsControl(c) ? '.' : c);
        }
        return sb.ToString();
    }
}
