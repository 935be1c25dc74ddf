using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Pipeline.Storage;
using Pipeline.Storage.Parquet;

namespace Pipeline.Ingest.TraceDat;

/// <summary>
/// Turns one event payload into an <see cref="EventRow"/>: header columns from the common fields, typed columns
/// by format-file field name, symbolic fields rendered through the print fmt, everything else into args.
/// Per-event plans are built once per event id.
/// </summary>
internal sealed class EventDecoder
{
    private const int RenderCacheLimit = 4096;
    private static readonly string[] s_smallNumbers = Enumerable.Range(0, 1024).Select(i => i.ToString(CultureInfo.InvariantCulture)).ToArray();

    private readonly TraceEventFormats _formats;
    private readonly bool _bigEndian;
    private readonly CommTable _comms;
    private readonly IrqFlagsRenderer _irqFlags;
    private readonly EventPlan?[] _plans;
    private readonly bool[] _planBuilt;
    private readonly IReadOnlyDictionary<ulong, string>? _printkFormats;

    public EventDecoder(TraceEventFormats formats, CommTable comms, string? kernelRelease, IReadOnlyDictionary<ulong, string>? printkFormats = null)
    {
        _printkFormats = printkFormats;
        _formats = formats;
        _bigEndian = formats.BigEndian;
        _comms = comms;
        _irqFlags = new IrqFlagsRenderer(kernelRelease);
        _plans = new EventPlan?[formats.MaxId + 1];
        _planBuilt = new bool[formats.MaxId + 1];
    }

    /// <summary>Text prepended as the first arg (<c>instance</c>) for events of a named buffer, or null.</summary>
    public string? InstanceName { get; set; }

    /// <summary>
    /// Events (<c>system:name</c>) read only for the comms they name (<see cref="CommSource"/>): recorded by
    /// <c>mmtrace record</c> beyond what the user asked for, so they give no row. Set before the first event.
    /// </summary>
    public IReadOnlySet<string>? CommOnlyEvents { get; init; }

    /// <summary>
    /// Fills <paramref name="row"/> from <paramref name="payload"/>. Returns null on success, or what was wrong;
    /// <paramref name="emit"/> says whether the row is still usable (a field past the payload end is dropped and
    /// reported, an unknown event id is not).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public string? Decode(ReadOnlySpan<byte> payload, EventRow row, out bool emit)
    {
        string? problem = Prepare(payload, out var plan);
        emit = plan is { CommOnly: false };
        if (!emit)
        {
            return problem;
        }
        row.Event = plan!.Name;
        int pid = ReadPid(plan, payload);
        row.Pid = pid;
        row.Comm = _comms.Lookup(pid);
        ApplyAfterOwnRow(plan, payload, pid);
        row.IrqFlags = RenderIrqFlags(plan, payload);
        return Fill(plan, payload, new RowFields(row));
    }

    /// <summary>
    /// The plan of <paramref name="payload"/>'s event, or null and what is wrong with the payload (unknown event id,
    /// shorter than its common fields): the record is then skipped. Nothing is written either way; an event that
    /// names comms updates the comm table here, before its own comm is looked up. A plan with
    /// <see cref="EventPlan.CommOnly"/> gives no row.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public string? Prepare(ReadOnlySpan<byte> payload, out EventPlan? plan)
    {
        plan = null;
        if (payload.Length < 2)
        {
            return $"event payload of {payload.Length} bytes has no common_type";
        }
        int id = _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(payload) : BinaryPrimitives.ReadUInt16LittleEndian(payload);
        var found = GetPlan(id);
        if (found is null)
        {
            return $"no format file for event id {id} (common_type); the event is skipped";
        }
        if (payload.Length < found.CommonEnd)
        {
            return $"{found.Name}: payload of {payload.Length} bytes is shorter than the common fields ({found.CommonEnd} bytes)";
        }
        plan = found;
        if (found.Comm is { } comm)
        {
            int pid = ReadPid(found, payload);
            _comms.Apply(comm, payload, pid, _bigEndian, afterOwnRow: false);
            if (found.CommOnly && comm.AfterOwnRow)
            {
                _comms.Apply(comm, payload, pid, _bigEndian, afterOwnRow: true);
            }
        }
        return null;
    }

    /// <summary>
    /// Writes the event <see cref="Prepare"/> planned straight into <paramref name="columns"/>' open row and ends it
    /// with the header columns: the row <see cref="Decode"/> would fill, without an <see cref="EventRow"/> in
    /// between. Returns null, or the field that lay outside the payload (the row is written without it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public string? DecodeInto(EventPlan plan, ReadOnlySpan<byte> payload, EventColumnWriter columns, long tsNs, int cpu, long srcPos)
    {
        int pid = ReadPid(plan, payload);
        string irqFlags = RenderIrqFlags(plan, payload);
        string? problem;
        try
        {
            problem = Fill(plan, payload, new ColumnFields(columns));
        }
        catch
        {
            // What the row set so far must not stay in the columns without its row.
            columns.DiscardRow();
            throw;
        }
        columns.EndRow(tsNs, cpu, srcPos, pid, _comms.Lookup(pid), plan.Name, irqFlags);
        ApplyAfterOwnRow(plan, payload, pid);
        return problem;
    }

    /// <summary>The comm update of an event that fired before its change (task_rename), once its own row has its comm.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void ApplyAfterOwnRow(EventPlan plan, ReadOnlySpan<byte> payload, int pid)
    {
        if (plan.Comm is { AfterOwnRow: true } comm)
        {
            _comms.Apply(comm, payload, pid, _bigEndian, afterOwnRow: true);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private int ReadPid(EventPlan plan, ReadOnlySpan<byte> payload) =>
        plan.PidOffset >= 0 ? (int)PrintExpr.ReadScalar(payload, plan.PidOffset, plan.PidSize, true, _bigEndian) : 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private string RenderIrqFlags(EventPlan plan, ReadOnlySpan<byte> payload)
    {
        byte flags = plan.FlagsOffset >= 0 ? payload[plan.FlagsOffset] : (byte)0;
        byte pc = plan.PreemptOffset >= 0 ? payload[plan.PreemptOffset] : (byte)0;
        return _irqFlags.Render(flags, pc);
    }

    /// <summary>The instance arg, the payload's fields and the print fmt's constants, in that order; null or the first field outside the payload.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private string? Fill<T>(EventPlan plan, ReadOnlySpan<byte> payload, T target)
        where T : struct, IFieldTarget
    {
        if (InstanceName is not null)
        {
            target.AddArg("instance", InstanceName);
        }
        string? problem = null;
        foreach (var field in plan.Fields)
        {
            if (!field.Apply(payload, target, _bigEndian) && problem is null)
            {
                problem = $"{plan.Name}: field '{field.Field.Name}' (offset {field.Field.Offset}, size {field.Field.Size}) lies outside the {payload.Length}-byte payload";
            }
        }
        foreach (var constant in plan.Constants)
        {
            if (constant.Ordinal >= 0)
            {
                target.SetInt64(constant.Ordinal, constant.Number);
            }
            else
            {
                target.AddArg(constant.Name, constant.Value);
            }
        }
        return problem;
    }

    /// <summary>
    /// The <see cref="ArgNumberFormat"/> that prints what <c>FieldPlan.Render</c> makes of a direct conversion, or
    /// null when it has a width or precision (those stay strings, through <see cref="PrintFormat.FormatInteger"/>).
    /// </summary>
    internal static ArgNumberFormat? DirectNumberFormat(PrintConversion conversion, string prefix)
    {
        if (conversion.Width != 0 || conversion.Precision >= 0 || conversion.WidthFromArgument || conversion.PrecisionFromArgument
            || !ArgNumberFormat.IsPlainAscii(prefix))
        {
            return null;
        }
        int bits = conversion.Length switch
        {
            "hh" => 8,
            "h" => 16,
            "" => 32,
            _ => 64,
        };
        // Render prints 0..1023 of a bare %d/%i/%u from its table of small numbers, as they are.
        bool small = prefix.Length == 0;
        return conversion.Conversion switch
        {
            'd' or 'i' => new ArgNumberFormat(ArgNumberStyle.Signed, bits, prefix, smallAsIs: small),
            'u' => new ArgNumberFormat(ArgNumberStyle.Unsigned, bits, prefix, smallAsIs: small),
            'x' => new ArgNumberFormat(ArgNumberStyle.Hex, bits, prefix, conversion.Alternate),
            'X' => new ArgNumberFormat(ArgNumberStyle.HexUpper, bits, prefix, conversion.Alternate),
            'p' => new ArgNumberFormat(ArgNumberStyle.Hex, 64, prefix + "0x"),
            _ => null,
        };
    }

    /// <summary>What <c>FieldPlan.Plain</c> prints: pointers in 0x hex, other fields in decimal as read.</summary>
    internal static ArgNumberFormat PlainNumberFormat(FormatField field) =>
        field.IsPointer ? new ArgNumberFormat(ArgNumberStyle.Hex, 64, "0x")
        : new ArgNumberFormat(field.IsSigned ? ArgNumberStyle.Signed : ArgNumberStyle.Unsigned, 64);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private EventPlan? GetPlan(int id)
    {
        if ((uint)id >= (uint)_plans.Length)
        {
            return null;
        }
        if (!_planBuilt[id])
        {
            var format = _formats.FindById(id);
            _plans[id] = format is null ? null : new EventPlan(format, _printkFormats) { CommOnly = CommOnlyEvents?.Contains(format.FullName) == true };
            _planBuilt[id] = true;
        }
        return _plans[id];
    }

    /// <summary>A print fmt constant: its typed column and number (<see cref="Ordinal"/> ≥ 0) or its arg text.</summary>
    internal sealed record ConstantField(string Name, string Value, int Ordinal, long Number);

    /// <summary>How one event id's payload is decoded (built once per id).</summary>
    internal sealed class EventPlan
    {
        public EventPlan(FormatFile format, IReadOnlyDictionary<ulong, string>? printkFormats)
        {
            Name = string.Intern(format.FullName);
            var flags = format.FindField("common_flags");
            var preempt = format.FindField("common_preempt_count");
            var pid = format.FindField("common_pid");
            FlagsOffset = flags is { Size: 1 } ? flags.Offset : -1;
            PreemptOffset = preempt is { Size: 1 } ? preempt.Offset : -1;
            if (pid is { Size: 1 or 2 or 4 or 8, Layout: FieldLayout.Scalar })
            {
                PidOffset = pid.Offset;
                PidSize = pid.Size;
            }
            else
            {
                PidOffset = -1;
            }
            CommonEnd = format.CommonFields.Count == 0 ? 2 : format.CommonFields.Max(f => f.Offset + f.Size);
            Comm = CommSource.For(format);
            var plans = new List<FieldPlan>();
            var bprintFormat = printkFormats is not null && format.FullName == "ftrace:bprint" ? format.FindField("fmt") : null;
            foreach (var field in format.Fields)
            {
                plans.Add(bprintFormat is { Layout: FieldLayout.Scalar, Size: 4 or 8 } && field.Name is "fmt" or "buf"
                    ? FieldPlan.CreateBprint(field, bprintFormat, printkFormats!)
                    : FieldPlan.Create(format, field));
            }
            Fields = plans.ToArray();
            Constants = format.PrintFormat.ConstantFields()
                .Where(c => format.FindField(c.Name) is null)
                .Select(c => EventSchema.TryGetField(c.Name, out var column) && column.Kind is ColumnKind.Int64 or ColumnKind.Int32
                    && long.TryParse(c.Value, NumberStyles.Integer, CultureInfo.InvariantCulture, out long number)
                    ? new ConstantField(c.Name, c.Value, column.Ordinal, number)
                    : new ConstantField(c.Name, c.Value, -1, 0))
                .ToArray();
        }

        /// <summary>
        /// <c>name=value</c> pairs written literally in the print fmt (mm_page_free_batched's "order=0"): the
        /// text readers see them as fields, so the binary readers report them too; a number with an integer column
        /// of its name goes there (parsed once, here), anything else to args.
        /// </summary>
        public ConstantField[] Constants { get; }

        public string Name { get; }

        public int FlagsOffset { get; }

        public int PreemptOffset { get; }

        public int PidOffset { get; }

        public int PidSize { get; }

        public int CommonEnd { get; }

        /// <summary>The comms this event names, or null.</summary>
        public CommSource? Comm { get; }

        /// <summary>Read for its comms only: no row (<see cref="CommOnlyEvents"/>).</summary>
        public bool CommOnly { get; init; }

        public FieldPlan[] Fields { get; }
    }

    private enum FieldAction : byte
    {
        Int64Column,
        BoolColumn,
        TextColumnString,
        TextColumnRendered,
        ArgString,
        ArgNumber,
        ArgArray,
        BprintFormat,
        BprintText,
    }

    internal sealed class FieldPlan
    {
        private readonly FieldAction _action;
        private readonly int _ordinal;
        private readonly string _argName;
        private readonly FieldRendering? _rendering;
        private readonly PrintConversion? _direct;
        private readonly string _directPrefix = "";
        private readonly Dictionary<long, string>? _cache;
        // Set when an arg's text is a plain integer conversion: the row keeps the number (EventRow.AddArg with a
        // format) and the events writer prints it on its encoder thread instead of this thread making a string.
        private readonly ArgNumberFormat? _number;
        private FormatField? _bprintFormatField;
        private IReadOnlyDictionary<ulong, string>? _printkFormats;

        private FieldPlan(FormatField field, FieldAction action, int ordinal, FieldRendering? rendering)
        {
            Field = field;
            _action = action;
            _ordinal = ordinal;
            _argName = string.Intern(field.Name);
            _rendering = rendering;
            if (rendering is { IsDirect: true, SimpleConversion: not null })
            {
                _direct = rendering.SimpleConversion;
                _directPrefix = rendering.SimplePrefix;
            }
            else if (rendering is not null && field.Layout == FieldLayout.Scalar)
            {
                _cache = [];
            }
            if (action == FieldAction.ArgNumber)
            {
                _number = _direct is not null ? DirectNumberFormat(_direct, _directPrefix)
                    : _cache is null ? PlainNumberFormat(field) : null;
            }
        }

        public FormatField Field { get; }

        public static FieldPlan Create(FormatFile format, FormatField field)
        {
            bool scalar = field.Layout == FieldLayout.Scalar && field.Size is 1 or 2 or 4 or 8;
            if (EventSchema.TryGetField(field.Name, out var column))
            {
                switch (column.Kind)
                {
                    case ColumnKind.Int64:
                    case ColumnKind.Int32:
                    case ColumnKind.UInt64:
                        // A field the kernel prints only as text (mm_lru_insertion's flags as "M", "U", …) is an
                        // arg, exactly as the text readers see it; the typed column holds numbers only.
                        if (scalar && format.PrintFormat.GetRendering(field.Name, includeHexPrefix: true) is { SimpleConversion: null } textOnly)
                        {
                            return new FieldPlan(field, FieldAction.ArgNumber, -1, textOnly);
                        }
                        if (scalar)
                        {
                            return new FieldPlan(field, FieldAction.Int64Column, column.Ordinal, null);
                        }
                        break;
                    case ColumnKind.Bool:
                        if (scalar)
                        {
                            return new FieldPlan(field, FieldAction.BoolColumn, column.Ordinal, null);
                        }
                        break;
                    case ColumnKind.Text:
                        if (field.IsString)
                        {
                            return new FieldPlan(field, FieldAction.TextColumnString, column.Ordinal, null);
                        }
                        if (scalar)
                        {
                            return new FieldPlan(field, FieldAction.TextColumnRendered, column.Ordinal,
                                format.PrintFormat.GetRendering(field.Name, includeHexPrefix: false));
                        }
                        break;
                }
            }
            if (field.IsString)
            {
                return new FieldPlan(field, FieldAction.ArgString, -1, null);
            }
            if (scalar)
            {
                return new FieldPlan(field, FieldAction.ArgNumber, -1, format.PrintFormat.GetRendering(field.Name, includeHexPrefix: true));
            }
            return new FieldPlan(field, FieldAction.ArgArray, -1, null);
        }

        /// <summary>
        /// trace_printk records: <c>fmt</c> is an address in printk_formats, <c>buf</c> the packed arguments; they
        /// become the format string and the formatted text (what the kernel prints after the caller).
        /// </summary>
        public static FieldPlan CreateBprint(FormatField field, FormatField formatField, IReadOnlyDictionary<ulong, string> printkFormats) =>
            new(field, field.Name == "fmt" ? FieldAction.BprintFormat : FieldAction.BprintText, -1, null)
            {
                _bprintFormatField = formatField,
                _printkFormats = printkFormats,
            };

        /// <summary>Stores the field; false when it lies outside the payload.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public bool Apply<T>(ReadOnlySpan<byte> payload, T row, bool bigEndian)
            where T : struct, IFieldTarget
        {
            var field = Field;
            switch (_action)
            {
                case FieldAction.Int64Column:
                    if (field.Offset + field.Size > payload.Length)
                    {
                        return false;
                    }
                    row.SetInt64(_ordinal, PrintExpr.ReadScalar(payload, field.Offset, field.Size, field.IsSigned, bigEndian));
                    return true;
                case FieldAction.BoolColumn:
                    if (field.Offset + field.Size > payload.Length)
                    {
                        return false;
                    }
                    row.SetBool(_ordinal, PrintExpr.ReadScalar(payload, field.Offset, field.Size, false, bigEndian) != 0);
                    return true;
                case FieldAction.TextColumnString:
                case FieldAction.ArgString:
                {
                    var slice = RecordFields.GetArrayBytes(field, payload, bigEndian);
                    if (slice.IsError)
                    {
                        return false;
                    }
                    string text = RecordFields.DecodeString(slice.Span(payload));
                    if (_action == FieldAction.ArgString)
                    {
                        row.AddArg(_argName, text);
                    }
                    else
                    {
                        row.SetText(_ordinal, text);
                    }
                    return true;
                }
                case FieldAction.TextColumnRendered:
                case FieldAction.ArgNumber:
                {
                    if (field.Offset + field.Size > payload.Length)
                    {
                        return false;
                    }
                    long value = PrintExpr.ReadScalar(payload, field.Offset, field.Size, field.IsSigned, bigEndian);
                    if (_number is not null)
                    {
                        row.AddArg(_argName, value, _number);
                        return true;
                    }
                    string text = Render(payload, value, bigEndian);
                    if (_action == FieldAction.ArgNumber)
                    {
                        row.AddArg(_argName, text);
                    }
                    else
                    {
                        row.SetText(_ordinal, text);
                    }
                    return true;
                }
                case FieldAction.BprintFormat:
                case FieldAction.BprintText:
                    return ApplyBprint(payload, row, bigEndian);
                default:
                {
                    var slice = RecordFields.GetArrayBytes(field, payload, bigEndian);
                    if (slice.IsError)
                    {
                        return false;
                    }
                    row.AddArg(_argName, FormatArray(field, slice.Span(payload), bigEndian));
                    return true;
                }
            }
        }

        private bool ApplyBprint<T>(ReadOnlySpan<byte> payload, T row, bool bigEndian)
            where T : struct, IFieldTarget
        {
            var formatField = _bprintFormatField!;
            if (formatField.Offset + formatField.Size > payload.Length)
            {
                return false;
            }
            ulong address = (ulong)PrintExpr.ReadScalar(payload, formatField.Offset, formatField.Size, false, bigEndian);
            bool known = _printkFormats!.TryGetValue(address, out string? format);
            if (_action == FieldAction.BprintFormat)
            {
                row.AddArg(_argName, known ? format! : Plain((long)address));
                return true;
            }
            var slice = RecordFields.GetArrayBytes(Field, payload, bigEndian);
            if (slice.IsError)
            {
                return false;
            }
            row.AddArg(_argName, known ? BinaryPrintf.Format(format!, slice.Span(payload), bigEndian) : FormatArray(Field, slice.Span(payload), bigEndian));
            return true;
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private string Render(ReadOnlySpan<byte> payload, long value, bool bigEndian)
        {
            if (_direct is not null)
            {
                if (_directPrefix.Length == 0 && _direct.Conversion is 'd' or 'i' or 'u' && _direct.Width == 0 && (ulong)value < (ulong)s_smallNumbers.Length)
                {
                    return s_smallNumbers[value];
                }
                return _directPrefix + PrintFormat.FormatInteger(_direct, value);
            }
            if (_cache is not null)
            {
                if (_cache.TryGetValue(value, out var cached))
                {
                    return cached;
                }
                string? rendered = _rendering!.Render(payload, bigEndian);
                if (rendered is not null)
                {
                    if (_cache.Count < RenderCacheLimit)
                    {
                        _cache[value] = rendered;
                    }
                    return rendered;
                }
            }
            return Plain(value);
        }

        private string Plain(long value)
        {
            if (Field.IsPointer)
            {
                return "0x" + ((ulong)value).ToString("x", CultureInfo.InvariantCulture);
            }
            if ((ulong)value < (ulong)s_smallNumbers.Length)
            {
                return s_smallNumbers[value];
            }
            if (!Field.IsSigned)
            {
                // Unsigned fields narrower than 64 bits were zero-extended when read.
                return ((ulong)value).ToString(CultureInfo.InvariantCulture);
            }
            return value.ToString(CultureInfo.InvariantCulture);
        }

        private static string FormatArray(FormatField field, ReadOnlySpan<byte> bytes, bool bigEndian)
        {
            if (field.Type.Contains("cpumask", StringComparison.Ordinal) || field.Type.Contains("bitmask", StringComparison.Ordinal))
            {
                return RecordFields.FormatBitmap(bytes, bigEndian);
            }
            int element = field.ElementSize is 1 or 2 or 4 or 8 ? field.ElementSize : 1;
            var sb = new StringBuilder("[");
            for (int at = 0; at + element <= bytes.Length && sb.Length < 8192; at += element)
            {
                if (at > 0)
                {
                    sb.Append(',');
                }
                long v = PrintExpr.ReadScalar(bytes, at, element, field.IsSigned, bigEndian);
                sb.Append("0x").Append((element == 8 ? (ulong)v : (ulong)v & ((1UL << (element * 8)) - 1)).ToString("x", CultureInfo.InvariantCulture));
            }
            return sb.Append(']').ToString();
        }
    }
}

/// <summary>Where a decoded event's payload fields go: an <see cref="EventRow"/> or a writer's columns.</summary>
/// <remarks>Implemented by structs, so each decoder path is compiled for its target without an interface call per field.</remarks>
internal interface IFieldTarget
{
    void SetInt64(int ordinal, long value);

    void SetBool(int ordinal, bool value);

    void SetText(int ordinal, string value);

    void AddArg(string name, string value);

    void AddArg(string name, long value, ArgNumberFormat format);
}

/// <summary>Fields into an <see cref="EventRow"/>.</summary>
internal readonly struct RowFields(EventRow row) : IFieldTarget
{
    public void SetInt64(int ordinal, long value) => row.SetInt64(ordinal, value);

    public void SetBool(int ordinal, bool value) => row.SetBool(ordinal, value);

    public void SetText(int ordinal, string value) => row.SetText(ordinal, value);

    public void AddArg(string name, string value) => row.AddArg(name, value);

    public void AddArg(string name, long value, ArgNumberFormat format) => row.AddArg(name, value, format);
}

/// <summary>Fields straight into the open row of an <see cref="EventColumnWriter"/>.</summary>
internal readonly struct ColumnFields(EventColumnWriter columns) : IFieldTarget
{
    public void SetInt64(int ordinal, long value) => columns.SetInt64(ordinal, value);

    public void SetBool(int ordinal, bool value) => columns.SetBool(ordinal, value);

    public void SetText(int ordinal, string value) => columns.SetText(ordinal, value);

    public void AddArg(string name, string value) => columns.AddArg(name, value);

    public void AddArg(string name, long value, ArgNumberFormat format) => columns.AddArg(name, value, format);
}
