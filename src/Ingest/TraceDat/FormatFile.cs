using System.Globalization;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// One parsed <c>events/&lt;system&gt;/&lt;name&gt;/format</c> file: id, common and event fields with their
/// offsets, sizes and signedness, and the <c>print fmt</c> (used to render symbolic fields as the kernel prints them).
/// </summary>
public sealed class FormatFile
{
    /// <summary>Bound on field offsets and sizes: a record lives inside one sub-buffer.</summary>
    internal const int MaxRecordBytes = 1 << 24;

    private readonly Dictionary<string, FormatField> _byName;
    private PrintFormat? _printFormat;

    private FormatFile(string system, string name, int id, IReadOnlyList<FormatField> commonFields, IReadOnlyList<FormatField> fields, string printFmtText)
    {
        System = system;
        Name = name;
        Id = id;
        CommonFields = commonFields;
        Fields = fields;
        PrintFmtText = printFmtText;
        FullName = string.Concat(system, ":", name);
        _byName = new Dictionary<string, FormatField>(StringComparer.Ordinal);
        foreach (var f in commonFields)
        {
            _byName.TryAdd(f.Name, f);
        }
        foreach (var f in fields)
        {
            _byName.TryAdd(f.Name, f);
        }
    }

    /// <summary>Event system (the directory the format file lives in, e.g. <c>kmem</c>).</summary>
    public string System { get; }

    /// <summary>Event name (<c>name:</c> line).</summary>
    public string Name { get; }

    /// <summary><c>system:name</c>.</summary>
    public string FullName { get; }

    /// <summary>Event id (<c>ID:</c> line); equals <c>common_type</c> of its records on the same boot.</summary>
    public int Id { get; }

    /// <summary>The common fields, as the file declares them (common_type, common_flags, ...).</summary>
    public IReadOnlyList<FormatField> CommonFields { get; }

    /// <summary>The event-specific fields in file order.</summary>
    public IReadOnlyList<FormatField> Fields { get; }

    /// <summary>The text after <c>print fmt: </c>, or empty.</summary>
    public string PrintFmtText { get; }

    /// <summary>The parsed print fmt (format string, arguments, symbolic tables).</summary>
    public PrintFormat PrintFormat => _printFormat ??= PrintFormat.Parse(PrintFmtText, this);

    /// <summary>Finds a common or event field by name.</summary>
    public FormatField? FindField(string name) => _byName.GetValueOrDefault(name);

    /// <inheritdoc />
    public override string ToString() => $"{FullName} (id {Id}, {Fields.Count} fields)";

    /// <summary>Parses the text of a format file.</summary>
    /// <param name="text">File content.</param>
    /// <param name="system">System name (not in the file itself: it is the directory name).</param>
    /// <exception cref="FormatException">The text is not a format file; the message names the line.</exception>
    public static FormatFile Parse(string text, string system)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(system);
        string? name = null;
        int? id = null;
        string printFmt = "";
        var common = new List<FormatField>();
        var fields = new List<FormatField>();
        bool inFormat = false;
        bool pastCommon = false;
        int lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r');
            if (line.StartsWith("name:", StringComparison.Ordinal))
            {
                name = line["name:".Length..].Trim();
            }
            else if (line.StartsWith("ID:", StringComparison.Ordinal))
            {
                if (!int.TryParse(line.AsSpan(3).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int parsed))
                {
                    throw new FormatException($"format file line {lineNumber}: expected 'ID: <decimal>', found '{line}'.");
                }
                id = parsed;
            }
            else if (line.StartsWith("format:", StringComparison.Ordinal))
            {
                inFormat = true;
            }
            else if (line.StartsWith("print fmt:", StringComparison.Ordinal))
            {
                printFmt = line["print fmt:".Length..].Trim();
                inFormat = false;
            }
            else if (inFormat && line.AsSpan().Trim().Length == 0)
            {
                if (common.Count > 0 || fields.Count > 0)
                {
                    pastCommon = true;
                }
            }
            else if (inFormat && line.AsSpan().TrimStart().StartsWith("field:", StringComparison.Ordinal))
            {
                var field = ParseFieldLine(line, lineNumber, isCommon: !pastCommon);
                (field.IsCommon ? common : fields).Add(field);
            }
        }
        if (name is null || id is null)
        {
            throw new FormatException($"format file of system '{system}': expected 'name:' and 'ID:' lines, found {(name is null ? "no name" : "no ID")}.");
        }
        return new FormatFile(system, name, id.Value, common, fields, printFmt);
    }

    /// <summary>Parses one <c>field:...;	offset:N;	size:N;	signed:N;</c> line (also used for header_page).</summary>
    internal static FormatField ParseFieldLine(string line, int lineNumber, bool isCommon)
    {
        var span = line.AsSpan().Trim();
        int semi = span.IndexOf(';');
        if (!span.StartsWith("field:", StringComparison.Ordinal) || semi < 0)
        {
            throw new FormatException($"format file line {lineNumber}: expected 'field:<declaration>;', found '{line.Trim()}'.");
        }
        var decl = span["field:".Length..semi].Trim();
        var rest = span[(semi + 1)..];
        int offset = ReadAttribute(rest, "offset:", lineNumber, line, required: true);
        int size = ReadAttribute(rest, "size:", lineNumber, line, required: true);
        int signedValue = ReadAttribute(rest, "signed:", lineNumber, line, required: false);
        if (offset > MaxRecordBytes || size > MaxRecordBytes)
        {
            throw new FormatException($"format file line {lineNumber}: offset {offset} / size {size} cannot lie inside an event record (limit {MaxRecordBytes}).");
        }

        var layout = FieldLayout.Scalar;
        if (decl.StartsWith("__data_loc ", StringComparison.Ordinal))
        {
            layout = FieldLayout.DataLoc;
        }
        else if (decl.StartsWith("__rel_loc ", StringComparison.Ordinal))
        {
            layout = FieldLayout.RelLoc;
        }
        int arrayLength = 0;
        var body = decl;
        if (body.EndsWith(']'))
        {
            int open = body.LastIndexOf('[');
            if (open < 0)
            {
                throw new FormatException($"format file line {lineNumber}: unbalanced ']' in '{decl}'.");
            }
            var inner = body[(open + 1)..^1].Trim();
            body = body[..open].TrimEnd();
            if (layout == FieldLayout.Scalar)
            {
                if (inner.Length == 0 || size == 0)
                {
                    layout = FieldLayout.TailArray;
                }
                else
                {
                    layout = FieldLayout.FixedArray;
                    if (!int.TryParse(inner, NumberStyles.None, CultureInfo.InvariantCulture, out arrayLength) || arrayLength <= 0)
                    {
                        // Old kernels wrote symbolic lengths; the byte size is authoritative.
                        arrayLength = 0;
                    }
                }
            }
        }
        if (layout == FieldLayout.Scalar && size == 0)
        {
            // Old kernels declared flexible arrays without brackets (bprint: "u32 buf; size:0").
            layout = FieldLayout.TailArray;
        }
        int nameStart = body.Length;
        while (nameStart > 0 && (char.IsAsciiLetterOrDigit(body[nameStart - 1]) || body[nameStart - 1] == '_'))
        {
            nameStart--;
        }
        if (nameStart == body.Length)
        {
            throw new FormatException($"format file line {lineNumber}: no field name in '{decl}'.");
        }
        string name = body[nameStart..].ToString();
        string type = body[..nameStart].Trim().ToString();
        int elementSize = layout switch
        {
            FieldLayout.Scalar => size,
            FieldLayout.FixedArray when arrayLength > 0 => Math.Max(1, size / arrayLength),
            _ => ElementSizeOf(type),
        };
        if (layout == FieldLayout.FixedArray && arrayLength == 0)
        {
            arrayLength = Math.Max(1, size / elementSize);
        }
        return new FormatField(name, type, offset, size, signedValue == 1, layout, arrayLength, elementSize,
            isCommon || name.StartsWith("common_", StringComparison.Ordinal));
    }

    private static int ReadAttribute(ReadOnlySpan<char> rest, string key, int lineNumber, string line, bool required)
    {
        int at = rest.IndexOf(key, StringComparison.Ordinal);
        if (at < 0)
        {
            if (required)
            {
                throw new FormatException($"format file line {lineNumber}: expected '{key}<n>;', found '{line.Trim()}'.");
            }
            return 0;
        }
        var value = rest[(at + key.Length)..];
        int end = value.IndexOf(';');
        if (end >= 0)
        {
            value = value[..end];
        }
        if (!int.TryParse(value.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int result))
        {
            throw new FormatException($"format file line {lineNumber}: expected a number after '{key}', found '{value.ToString()}'.");
        }
        return result;
    }

    /// <summary>Element size of a dynamic or flexible array from its C element type (64-bit kernel longs).</summary>
    internal static int ElementSizeOf(string type)
    {
        var t = type.Replace("__data_loc", "", StringComparison.Ordinal).Replace("__rel_loc", "", StringComparison.Ordinal)
            .Replace("[]", "", StringComparison.Ordinal).Replace("const", "", StringComparison.Ordinal).Replace("unsigned", "", StringComparison.Ordinal)
            .Replace("signed", "", StringComparison.Ordinal).Trim();
        if (t.Contains('*', StringComparison.Ordinal))
        {
            return 8;
        }
        return t switch
        {
            "char" or "u8" or "s8" or "bool" or "__u8" or "__s8" => 1,
            "short" or "u16" or "s16" or "__u16" or "__s16" => 2,
            "int" or "u32" or "s32" or "__u32" or "__s32" or "pid_t" or "gfp_t" or "dev_t" => 4,
            "long" or "long long" or "u64" or "s64" or "__u64" or "__s64" or "size_t" or "cpumask_t" => 8,
            _ => 1,
        };
    }
}
